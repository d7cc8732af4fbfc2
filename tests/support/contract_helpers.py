"""Helpers for the contract-mode tests (issue 6): the order service the reference cloud's cartridge
orders (Brother S110) are delivered to — a real aiohttp server on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class OrderService:
    """Records every POST; answers 503 to the first `failures`."""

    failures: int = 0
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((request.headers["Idempotency-Key"], await request.json()))
        if self.failures:
            self.failures -= 1
            return web.Response(status=503)
        return web.json_response({"accepted": True}, status=201)


@contextlib.asynccontextmanager
async def order_service(failures: int = 0) -> AsyncIterator[OrderService]:
    service = OrderService(failures)
    app = web.Application()
    app.router.add_post("/orders", service.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    service.url = f"http://127.0.0.1:{runner.addresses[0][1]}/orders"
    try:
        yield service
    finally:
        await runner.cleanup()
