"""The per-gateway change stream, stored in order and read with cursors (`cloud.change_api`
pushes it over a WebSocket and answers polls from it).

Each gateway's changes carry a sequence number taken from its row (`gateways.change_seq`) under
the row lock of the writing transaction, so on every backend they commit in sequence order and a
reader never skips one.  A cursor names a position: `c_` and the sequence number in hex (opaque
to gateways).  Changes older than the retention are pruned; a cursor before the retained part
(or beyond the head) answers 410 / closes the push channel with 4410.

The stream carries what the gateway cannot know by itself: the operator's edits of applications
and services, and commands.  What the gateway did (activation notices, S0611 reports, FIG. 9
activations) only moves the printer's revision; the gateway already has the answer.

New changes wake the push channels and long polls of their gateway in every worker process: the
writing transaction signals the topic `changes` with the gateway id on the `cloud.wake_bus`
(PostgreSQL NOTIFY, delivered at commit; in-process on SQLite), and each worker's `ChangeHub`
wakes its waiters of that gateway (all of them when the bus says anything may have changed).
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import times
from cloud.db import Change, Database, Gateway
from cloud.problems import Problem, malformed
from cloud.wake_bus import WakeBus
from protocols.cloud.times import rfc3339

_CURSOR = re.compile(r"^c_([0-9a-f]{16})$")


def cursor_of(seq: int) -> str:
    return f"c_{seq:016x}"


class CursorExpired(Exception):
    """The position is no longer (or not yet) in the retained stream."""


class ChangeHub:
    """Wakes the waiters of a gateway when its stream grows (or everyone at shutdown)."""

    def __init__(self) -> None:
        self._generation: dict[str, int] = {}
        self._everyone = 0
        """Added to every gateway's generation: moved by `notify_all`."""
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self.closed = False

    def generation(self, gateway_id: str) -> int:
        return self._everyone + self._generation.get(gateway_id, 0)

    def notify(self, gateway_id: str) -> None:
        self._generation[gateway_id] = self._generation.get(gateway_id, 0) + 1
        for waiter in self._waiters.get(gateway_id, ()):
            waiter.set()

    def notify_all(self) -> None:
        """Wake every waiter of every gateway (their streams may have grown unseen)."""
        self._everyone += 1
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.set()

    async def wait(self, gateway_id: str, seen: int) -> None:
        """Until the gateway's generation moves past `seen`, or shutdown."""
        if self.closed or self.generation(gateway_id) != seen:
            return
        waiter = asyncio.Event()
        self._waiters.setdefault(gateway_id, set()).add(waiter)
        try:
            await waiter.wait()
        finally:
            waiters = self._waiters[gateway_id]
            waiters.discard(waiter)
            if not waiters:
                del self._waiters[gateway_id]

    def close(self) -> None:
        self.closed = True
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.set()


class ChangeStream:
    def __init__(self, db: Database, wakes: WakeBus | None = None) -> None:
        """`wakes`: the application's bus; without one, a bus of its own (wake-ups in this
        process only, enough for SQLite)."""
        self.db = db
        self.hub = ChangeHub()
        self.wakes = wakes or WakeBus(db)
        self.wakes.on("changes", self._woken)

    def _woken(self, gateway_id: str | None) -> None:
        if gateway_id is None:
            self.hub.notify_all()
        else:
            self.hub.notify(gateway_id)

    async def emit(self, session: AsyncSession, gateway_id: str, message: dict[str, Any]) -> None:
        """Append `message` (a push message without `cursor`) to the gateway's stream."""
        seq = (await session.execute(
            update(Gateway).where(Gateway.id == gateway_id)
            .values(change_seq=Gateway.change_seq + 1).returning(Gateway.change_seq)
            .execution_options(synchronize_session=False))).scalar_one()
        session.add(Change(gateway_id=gateway_id, seq=seq,
                           occurred_at=times.parse(message["occurred_at"]), message=message))
        await self.wakes.signal(session, "changes", gateway_id)

    async def start(self, gateway_id: str, cursor: str | None) -> int:
        """The sequence number to continue after: the cursor's, or the start of the retained
        stream without one (410 when the cursor is not in the retained stream)."""
        async with self.db.read() as session:
            head, pruned = (await session.execute(
                select(Gateway.change_seq, Gateway.pruned_through)
                .where(Gateway.id == gateway_id))).one()
        if cursor is None:
            return pruned
        match = _CURSOR.match(cursor)
        if match is None:
            raise malformed(f"Not a cursor of this stream: {cursor!r}.", parameter="cursor")
        seq = int(match[1], 16)
        if not pruned <= seq <= head:
            raise Problem("cursor-expired", "The cursor is no longer retained; resynchronise in "
                          "full and continue without a cursor.")
        return seq

    async def after(self, gateway_id: str, seq: int, limit: int) -> list[tuple[int, dict]]:
        """Up to `limit` changes after `seq`, oldest first, as (seq, push message)."""
        async with self.db.read() as session:
            pruned = (await session.execute(
                select(Gateway.pruned_through).where(Gateway.id == gateway_id))).scalar_one()
            if seq < pruned:
                raise CursorExpired
            rows = (await session.execute(
                select(Change.seq, Change.message)
                .where(Change.gateway_id == gateway_id, Change.seq > seq)
                .order_by(Change.seq).limit(limit))).all()
        return [(row.seq, _with_cursor(row.message, row.seq)) for row in rows]

    async def prune(self, cutoff: datetime) -> None:
        """Forget the changes that occurred before `cutoff`: one short transaction per gateway,
        in gateway order, each locking only that gateway's row (so that it cannot deadlock
        with a writer emitting to several gateways)."""
        async with self.db.read() as session:
            tops = (await session.execute(
                select(Change.gateway_id, func.max(Change.seq))
                .where(Change.occurred_at < cutoff).group_by(Change.gateway_id)
                .order_by(Change.gateway_id))).all()
        for gateway_id, top in tops:
            await self.db.transact(lambda session, gateway_id=gateway_id, top=top:
                                   _prune_gateway(session, gateway_id, top))


async def _prune_gateway(session: AsyncSession, gateway_id: str, top: int) -> None:
    await session.execute(
        update(Gateway).where(Gateway.id == gateway_id, Gateway.pruned_through < top)
        .values(pruned_through=top))
    await session.execute(delete(Change).where(
        Change.gateway_id == gateway_id, Change.seq <= top))


def _with_cursor(message: dict[str, Any], seq: int) -> dict[str, Any]:
    return {"type": message["type"], "cursor": cursor_of(seq), **message}


def printer_message(kind: str, printer_id: str, revision: int) -> dict[str, Any]:
    """`application-info-changed` / `control-info-changed` for a printer at `revision`."""
    return {"type": kind, "occurred_at": rfc3339(times.now()), "printer_id": printer_id,
            "revision": revision}
