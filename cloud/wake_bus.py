"""`WakeBus`: wake-ups that reach every worker process of the cloud, sent with a commit.

A writer signals a topic (`changes` with a gateway id, `engine`, `outbox:<table>`…) inside its
write transaction; once, and only if, that transaction commits, the callbacks registered for the
topic run in every worker serving the database.

PostgreSQL: `pg_notify('printgw_wake', 'topic:key')` in the transaction (PostgreSQL delivers it
at commit, drops it on rollback, and folds identical payloads of one transaction into one); each
worker holds one asyncpg connection doing `LISTEN printgw_wake` beside the SQLAlchemy pool, the
sending worker included, so its own signals come back the same way.  When that connection drops
it is opened again with a capped backoff, and then every callback is called with the key None:
notifications sent while nobody listened are lost, so "anything may have changed".
SQLite (one process): the callbacks run locally after the commit (`cloud.db.after_commit`).

A payload is `topic:key`: topics may contain `:`, keys may not; keep both short (PostgreSQL's
limit is 8000 bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import Database, after_commit

CHANNEL = "printgw_wake"
MAX_PAYLOAD = 7999
"""Bytes: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more."""
RECONNECT_DELAYS = (0.0, 0.25, 0.5, 1.0, 2.0, 5.0)
"""Seconds before each attempt to open the LISTEN connection again; the last one repeats."""
CHECK_INTERVAL = 10.0
"""Seconds between checks that the LISTEN connection still answers (a silent network loss is
not seen otherwise)."""
CHECK_TIMEOUT = 5.0

CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

log = logging.getLogger(__name__)

Callback = Callable[[str | None], None]


class WakeBus:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._callbacks: dict[str, list[Callback]] = {}
        self._connection: Any = None  # asyncpg.Connection while listening
        self._task: asyncio.Task[None] | None = None

    def on(self, topic: str, callback: Callback) -> None:
        """callback(key) after a signal of `topic` committed in ANY worker; key None means
        'anything may have changed' (after the listener reconnected: notifications may have
        been lost)."""
        self._callbacks.setdefault(topic, []).append(callback)

    async def signal(self, session: AsyncSession, topic: str, key: str = "") -> None:
        """In the caller's write transaction: delivered to every worker's callbacks once (and
        only if) the transaction commits."""
        payload = f"{topic}:{key}"
        if ":" in key or len(payload.encode()) > MAX_PAYLOAD:
            raise ValueError(f"not a wake-up payload (no ':' in the key, under 8000 bytes): "
                             f"{payload[:80]!r}")
        if self.db.sqlite:
            after_commit(session, lambda: self._dispatch(topic, key))
        else:
            await session.execute(select(func.pg_notify(CHANNEL, payload)))

    async def start(self) -> None:
        """PostgreSQL: open the LISTEN connection (raises when it cannot), then keep it open."""
        if self.db.sqlite or self._task is not None:
            return
        await self._listen()
        self._task = asyncio.create_task(self._keep_listening())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop()

    @property
    def connected(self) -> bool:
        """True on SQLite; on PostgreSQL, whether the LISTEN connection is up."""
        return self.db.sqlite or (self._connection is not None
                                  and not self._connection.is_closed())

    # -- PostgreSQL ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        url = make_url(self.db.engine.url).set(drivername="postgresql")
        connection = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            await connection.add_listener(CHANNEL, self._notified)
        except BaseException:
            await connection.close()
            raise
        self._connection = connection

    async def _keep_listening(self) -> None:
        while True:
            await self._wait_lost()
            log.warning("wake-up listener lost its connection to %s; reconnecting",
                        self.db.engine.url.render_as_string(hide_password=True))
            await self._drop()
            attempt = 0
            while self._connection is None:
                await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
                attempt += 1
                try:
                    await self._listen()
                except CONNECTION_ERRORS as exc:
                    log.warning("wake-up listener: reconnecting failed (%s)",
                                type(exc).__name__)
            log.info("wake-up listener reconnected; waking every waiter")
            for topic in list(self._callbacks):
                self._dispatch(topic, None)

    async def _wait_lost(self) -> None:
        """Until the LISTEN connection is closed or stops answering."""
        lost = asyncio.Event()
        self._connection.add_termination_listener(lambda _connection: lost.set())
        while not lost.is_set() and not self._connection.is_closed():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CHECK_INTERVAL):
                    await lost.wait()
                    return
            try:
                await self._connection.execute("SELECT 1", timeout=CHECK_TIMEOUT)
            except CONNECTION_ERRORS:
                return

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None or connection.is_closed():
            return
        try:
            await connection.close(timeout=CHECK_TIMEOUT)
        except CONNECTION_ERRORS:
            connection.terminate()

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        topic, _, key = payload.rpartition(":")
        self._dispatch(topic, key)

    def _dispatch(self, topic: str, key: str | None) -> None:
        for callback in self._callbacks.get(topic, ()):
            try:
                callback(key)
            except Exception:
                log.exception("wake-up callback of %r failed", topic)
