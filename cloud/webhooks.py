"""The webhook machinery: deliveries stored in the transaction that causes them, POSTed signed and
retried until the receiver takes them (`docs/webhooks.md` is the receivers' side).

A delivery is a row of an outbox table (`CartridgeOrder`, `MemberNotice`: the same delivery
columns), written in the caller's transaction, so it exists exactly once whatever restarts: the
row's ID is its idempotency key.  `WebhookSender` POSTs its `payload` as JSON with
`Idempotency-Key: <ID>` and `Printgw-Signature` (`protocols.cloud.webhook_signature`) until the
receiver answers 2xx, backing off exponentially (1 s, 2 s, 4 s … at most 5 min); every attempt is
a `WebhookAttempt` row.  A delivery whose answer is lost (or a crash before it is recorded) is
sent again with the same key.  Redirects are not followed (a 3xx is a failed attempt); each
attempt is bounded in time (`TIMEOUT`) and at most `READ_LIMIT` bytes of the answer are read.

Without a URL the rows stay `pending` (sent once a URL is configured and the server restarted).
Without a secret deliveries go unsigned: `endpoint()` allows that only to a loopback URL.

A table whose rows carry their own URL (`ProviderDelivery.url`: a provider's endpoint) is sent
with `per_row=True`: each row goes to its URL, signed with the sender's secret; a row whose URL
may not be sent to (unsigned outside loopback) fails its attempt like an unreachable receiver.

Several workers on one database (issue 21): each runs the senders; a row is claimed with
`FOR UPDATE SKIP LOCKED` from before its POST until its attempt is recorded (`cloud.jobs`: the
held lock is the lease), so no two workers send it at once, one that dies mid-POST leaves it to
the others, and a delivered row is never sent again.  Writing a row signals `outbox:<table>` on
the wake-up bus (`wake_after_commit`), waking the senders of every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import metrics, times
from cloud.db import CartridgeOrder, Database
from cloud.jobs import Claim, claim_one
from cloud.notice_tables import MemberNotice, ProviderDelivery, WebhookAttempt
from cloud.wake_bus import WakeBus
from protocols.cloud import webhook_signature
from protocols.hosts import is_loopback_host

MAX_BACKOFF = 300.0
TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
READ_LIMIT = 4096
"""Bytes of a receiver's answer read at most (kept, shortened, in the error of a failure)."""
USER_AGENT = "printgw-cloud-webhooks"
CLAIMED_RECHECK = 11.0
"""Seconds before looking again at due rows other workers hold: an attempt lasts at most
`TIMEOUT`'s 10 s (a worker that died holding one released it at once)."""

Outbox = type[CartridgeOrder] | type[MemberNotice] | type[ProviderDelivery]
Delivery = CartridgeOrder | MemberNotice | ProviderDelivery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    url: str
    secret: bytes | None
    """HMAC key of `Printgw-Signature`; None: unsigned (loopback URLs only)."""

    def __repr__(self) -> str:  # the secret never reaches a log
        return f"Endpoint({self.url!r}, signed={self.secret is not None})"


def endpoint(url: str | None, secret: bytes | None) -> Endpoint | None:
    """The endpoint for a configured URL; ValueError for an unsigned one outside loopback."""
    if url is None:
        return None
    if secret is None and not is_loopback_host(urlsplit(url).hostname):
        raise ValueError(f"refusing to send webhooks to {url} unsigned: give "
                         "--webhook-secret-file FILE (only loopback receivers may go unsigned)")
    return Endpoint(url, secret)


def read_secret(path: Path) -> bytes:
    """The secret in a file (surrounding whitespace stripped); at least 16 bytes."""
    secret = path.read_bytes().strip()
    if len(secret) < 16:
        raise ValueError(f"the webhook secret in {path} is shorter than 16 bytes")
    return secret


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF, 2.0 ** max(0, attempts - 1)))


_BUSES: weakref.WeakKeyDictionary[Any, WakeBus] = weakref.WeakKeyDictionary()
"""The wake-up bus of the senders on each database engine."""


def topic(outbox: Outbox) -> str:
    return f"outbox:{outbox.__tablename__}"


async def wake_after_commit(session: AsyncSession, outbox: Outbox) -> None:
    """Wake the senders of `outbox` in every worker once the session's transaction commits
    (`cloud.wake_bus`): a row written in one worker may be sent by another."""
    bind = session.bind
    wakes = _BUSES.get(getattr(bind, "sync_engine", bind))
    if wakes is not None:
        await wakes.signal(session, topic(outbox))


class WebhookSender:
    """Delivers the pending rows of one outbox table to one endpoint (or, `per_row`, each to the
    URL it carries, signed with `secret`)."""

    def __init__(self, db: Database, outbox: Outbox, endpoint: Endpoint | None, *,
                 per_row: bool = False, secret: bytes | None = None,
                 wakes: WakeBus | None = None) -> None:
        """`wakes`: the application's bus (default: the one of the database's other senders,
        or a new one, in-process only)."""
        self.db, self.outbox, self.endpoint = db, outbox, endpoint
        self.per_row, self._secret = per_row, secret
        self._wake = asyncio.Event()
        engine = db.engine.sync_engine
        self.wakes = _BUSES[engine] = wakes or _BUSES.get(engine) or WakeBus(db)
        self.wakes.on(topic(outbox), lambda _key: self.wake())

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver due rows until cancelled; sleep until the next one is due or `wake()`."""
        if self.endpoint is None and not self.per_row:
            return
        async with aiohttp.ClientSession(timeout=TIMEOUT,
                                         headers={"User-Agent": USER_AGENT}) as http:
            while True:
                self._wake.clear()
                try:
                    await self.deliver_due(http)
                    pause = await self._until_next()
                except Exception:
                    log.exception("%s delivery failed; trying again in a minute",
                                  self.outbox.__tablename__)
                    pause = 60.0
                with contextlib.suppress(TimeoutError):  # not wait_for: see ContractEngine.run
                    async with asyncio.timeout(pause):
                        await self._wake.wait()

    async def deliver_due(self, http: aiohttp.ClientSession) -> None:
        """Deliver the due rows one at a time, each claimed (`cloud.jobs.claim_one`) from
        before its POST until its attempt is recorded: no other worker sends it meanwhile, and
        a worker dying mid-POST leaves it pending for another (same `Idempotency-Key`)."""
        model = self.outbox
        while True:
            async with claim_one(self.db, select(model).where(
                    model.state == "pending", model.next_attempt_at <= times.now())
                    .order_by(model.created_at)) as claim:
                if claim is None:
                    return
                await self._deliver(http, claim)

    async def _until_next(self) -> float:
        model = self.outbox
        async with self.db.read() as session:
            at: datetime | None = (await session.execute(
                select(func.min(model.next_attempt_at))
                .where(model.state == "pending"))).scalar_one_or_none()
        if at is None:
            return MAX_BACKOFF
        if at.tzinfo is None:  # min() bypasses the column type on SQLite
            at = at.replace(tzinfo=times.now().tzinfo)
        wait = (at - times.now()).total_seconds()
        # Due yet not claimed by `deliver_due`: other workers are sending those rows; look again
        # once their attempts are over (or sooner, woken by a new row).
        return CLAIMED_RECHECK if wait <= 0 else wait

    async def _deliver(self, http: aiohttp.ClientSession, claim: Claim[Delivery]) -> None:
        delivery = claim.row
        try:
            target = self._target(delivery)
        except ValueError as exc:  # a per-row URL that may not be sent to
            status, error = None, str(exc)
        else:
            status, error = await post(http, target, delivery.id, delivery.payload)
        metrics.webhook_attempted(self.outbox.__tablename__, delivered=error is None)
        now = times.now()
        async with claim.write() as (session, row):
            session.add(WebhookAttempt(delivery_id=row.id, attempted_at=now, status=status,
                                       error=error))
            row.attempts += 1
            if error is None:
                row.state, row.delivered_at, row.last_error = "delivered", now, None
            else:
                row.last_error = error
                row.next_attempt_at = now + backoff(row.attempts)
                log.warning("%s %s not delivered (%s); attempt %d",
                            self.outbox.__tablename__, row.id, error, row.attempts)


    def _target(self, delivery: Delivery) -> Endpoint | None:
        if not self.per_row:
            return self.endpoint
        return endpoint(getattr(delivery, "url", None), self._secret)


async def post(http: aiohttp.ClientSession, target: Endpoint | None, key: str,
               payload: dict[str, Any]) -> tuple[int | None, str | None]:
    """One attempt: the receiver's status (None: no answer) and the error (None: taken)."""
    assert target is not None
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    if target.secret is not None:
        headers[webhook_signature.HEADER] = webhook_signature.sign(target.secret, body)
    try:
        async with http.post(target.url, data=body, headers=headers,
                             allow_redirects=False) as response:
            answer = await response.content.read(READ_LIMIT)
            if response.status < 300:
                return response.status, None
            text = answer.decode("utf-8", "replace").strip()[:200]
            return response.status, f"HTTP {response.status}" + (f": {text}" if text else "")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
