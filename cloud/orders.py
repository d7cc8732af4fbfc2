"""Orders of contract cartridges (Brother S110) delivered to the configured order webhook.

An order is a row of `cartridge_orders`, written in the same transaction as the process step that
places it (one per process: the `process_id` is unique), so it is placed exactly once whatever
restarts.  `OrderSender` POSTs it as JSON with `Idempotency-Key: <order ID>` until the webhook
answers 2xx, backing off exponentially (1 s, 2 s, 4 s … at most 5 min) and recording every
attempt.  A delivery whose answer is lost (or a crash before it is recorded) is sent again with
the same key: the order service recognises it by that key.  Without a webhook, orders stay
`pending`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy import func, select

from cloud import times
from cloud.db import CartridgeOrder, Database

MAX_BACKOFF = 300.0
TIMEOUT = aiohttp.ClientTimeout(total=10)

log = logging.getLogger(__name__)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF, 2.0 ** max(0, attempts - 1)))


class OrderSender:
    def __init__(self, db: Database, url: str | None) -> None:
        self.db, self.url = db, url
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver due orders until cancelled; sleep until the next one is due or `wake()`."""
        if self.url is None:
            return
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            while True:
                self._wake.clear()
                try:
                    await self.deliver_due(http)
                    pause = await self._until_next()
                except Exception:
                    log.exception("order delivery failed; trying again in a minute")
                    pause = 60.0
                with contextlib.suppress(TimeoutError):  # not wait_for: see ContractEngine.run
                    async with asyncio.timeout(pause):
                        await self._wake.wait()

    async def deliver_due(self, http: aiohttp.ClientSession) -> None:
        async with self.db.read() as session:
            due = (await session.execute(
                select(CartridgeOrder).where(CartridgeOrder.state == "pending",
                                             CartridgeOrder.next_attempt_at <= times.now())
                .order_by(CartridgeOrder.created_at))).scalars().all()
        for order in due:
            await self._deliver(http, order)

    async def _until_next(self) -> float:
        async with self.db.read() as session:
            at: datetime | None = (await session.execute(
                select(func.min(CartridgeOrder.next_attempt_at))
                .where(CartridgeOrder.state == "pending"))).scalar_one_or_none()
        if at is None:
            return MAX_BACKOFF
        if at.tzinfo is None:  # min() bypasses the column type on SQLite
            at = at.replace(tzinfo=times.now().tzinfo)
        return max(0.0, (at - times.now()).total_seconds())

    async def _deliver(self, http: aiohttp.ClientSession, order: CartridgeOrder) -> None:
        assert self.url is not None
        error = None
        try:
            async with http.post(self.url, json=order.payload,
                                 headers={"Idempotency-Key": order.id}) as response:
                if response.status >= 300:
                    error = f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        async with self.db.write() as session:
            row = await session.get(CartridgeOrder, order.id, with_for_update=True)
            assert row is not None  # orders are never deleted
            row.attempts += 1
            if error is None:
                row.state, row.delivered_at, row.last_error = "delivered", times.now(), None
            else:
                row.last_error = error
                row.next_attempt_at = times.now() + backoff(row.attempts)
                log.warning("order %s not delivered (%s); attempt %d", row.id, error,
                            row.attempts)
