"""Helpers for the contract-mode tests (issues 6, 15): a webhook receiver — the order service the
reference cloud's cartridge orders (Brother S110) are delivered to, the member site its member
notices go to, a service provider (issue 16) — as a real aiohttp server on loopback, checking the
signature as a receiver would (`docs/webhooks.md`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from protocols.cloud import webhook_signature


@dataclass(frozen=True)
class Delivery:
    key: str
    """The Idempotency-Key header."""
    body: dict[str, Any]
    signature: str | None
    verified: bool
    """The signature checked out with the receiver's secret (False without one)."""


@dataclass
class WebhookReceiver:
    """Records every POST; answers the statuses of `answers` in turn (`answer_body` with them),
    then 201.  With a `secret`, a delivery whose signature does not verify is answered 401."""

    answers: list[int] = field(default_factory=list)
    secret: bytes | None = None
    answer_body: bytes = b""
    deliveries: list[Delivery] = field(default_factory=list)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(Idempotency-Key, body) of every delivery, in order (cleared by tests at will)."""
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def kinds(self) -> list[str]:
        return [d.body["kind"] for d in self.deliveries]

    def events(self) -> list[str]:
        """The `event` of every provider delivery (`providerDelivery`), in order."""
        return [d.body["event"] for d in self.deliveries]

    async def wait(self, count: int, within: float = 15.0) -> list[Delivery]:
        """The deliveries once there are at least `count` (AssertionError after `within` s)."""
        async with asyncio.timeout(within):
            while len(self.deliveries) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.deliveries

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        signature = request.headers.get(webhook_signature.HEADER)
        verified = self.secret is not None and webhook_signature.verify(self.secret, signature,
                                                                        raw)
        delivery = Delivery(request.headers["Idempotency-Key"], await request.json(), signature,
                            verified)
        self.deliveries.append(delivery)
        self.received.append((delivery.key, delivery.body))
        self.arrived.set()
        if self.secret is not None and not verified:
            return web.Response(status=401, text="bad signature")
        if self.answers:
            return web.Response(status=self.answers.pop(0), body=self.answer_body)
        return web.json_response({"accepted": True}, status=201)


OrderService = WebhookReceiver


@contextlib.asynccontextmanager
async def webhook_receiver(answers: list[int] | None = None, *, secret: bytes | None = None,
                           host: str = "127.0.0.1") -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(list(answers or []), secret)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    receiver.url = f"http://{host}:{runner.addresses[0][1]}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def order_service(failures: int = 0) -> contextlib.AbstractAsyncContextManager[WebhookReceiver]:
    """The order service of issue 6: answers 503 to the first `failures` orders."""
    return webhook_receiver([503] * failures)
