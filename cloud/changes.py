"""The per-gateway change stream: stored in order, pushed over a WebSocket, polled with cursors.

Each gateway's changes carry a sequence number taken from its row (`gateways.change_seq`) under
the row lock of the writing transaction, so on every backend they commit in sequence order and a
reader never skips one.  A cursor names a position: `c_` and the sequence number in hex (opaque
to gateways).  Changes older than the retention are pruned; a cursor before the retained part
(or beyond the head) answers 410 / closes the push channel with 4410.

The stream carries what the gateway cannot know by itself: the operator's edits of applications
and services, and commands.  What the gateway did (activation notices, S0611 reports, FIG. 9
activations) only moves the printer's revision; the gateway already has the answer.

New changes wake the push channels and long polls of their gateway through `ChangeHub`, an
in-process notification fired after the commit.  One server process per database is assumed:
with several, the wake-up would have to go through the database (PostgreSQL LISTEN/NOTIFY).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import datetime
from typing import Any

from aiohttp import WSCloseCode, web
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import times
from cloud.auth import require_gateway
from cloud.db import Change, Database, Gateway, after_commit
from cloud.problems import Problem, malformed
from cloud.schema import query
from cloud.state import CLOUD, cloud

SUBPROTOCOL = "printgw.v1"
CURSOR_EXPIRED_CLOSE = 4410
_CURSOR = re.compile(r"^c_([0-9a-f]{16})$")
SOCKETS = web.AppKey("push_sockets", set[web.WebSocketResponse])

log = logging.getLogger(__name__)


def cursor_of(seq: int) -> str:
    return f"c_{seq:016x}"


class CursorExpired(Exception):
    """The position is no longer (or not yet) in the retained stream."""


class ChangeHub:
    """Wakes the waiters of a gateway when its stream grows (or everyone at shutdown)."""

    def __init__(self) -> None:
        self._generation: dict[str, int] = {}
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self.closed = False

    def generation(self, gateway_id: str) -> int:
        return self._generation.get(gateway_id, 0)

    def notify(self, gateway_id: str) -> None:
        self._generation[gateway_id] = self.generation(gateway_id) + 1
        for waiter in self._waiters.get(gateway_id, ()):
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
    def __init__(self, db: Database) -> None:
        self.db = db
        self.hub = ChangeHub()

    async def emit(self, session: AsyncSession, gateway_id: str, message: dict[str, Any]) -> None:
        """Append `message` (a push message without `cursor`) to the gateway's stream."""
        seq = (await session.execute(
            update(Gateway).where(Gateway.id == gateway_id)
            .values(change_seq=Gateway.change_seq + 1).returning(Gateway.change_seq)
            .execution_options(synchronize_session=False))).scalar_one()
        session.add(Change(gateway_id=gateway_id, seq=seq,
                           occurred_at=times.parse(message["occurred_at"]), message=message))
        after_commit(session, lambda: self.hub.notify(gateway_id))

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
        """Forget the changes that occurred before `cutoff`."""
        async with self.db.write() as session:
            tops = (await session.execute(
                select(Change.gateway_id, func.max(Change.seq))
                .where(Change.occurred_at < cutoff).group_by(Change.gateway_id))).all()
            for gateway_id, top in tops:
                await session.execute(delete(Change).where(
                    Change.gateway_id == gateway_id, Change.seq <= top))
                await session.execute(
                    update(Gateway).where(Gateway.id == gateway_id, Gateway.pruned_through < top)
                    .values(pruned_through=top))


def _with_cursor(message: dict[str, Any], seq: int) -> dict[str, Any]:
    return {"type": message["type"], "cursor": cursor_of(seq), **message}


def printer_message(kind: str, printer_id: str, revision: int) -> dict[str, Any]:
    """`application-info-changed` / `control-info-changed` for a printer at `revision`."""
    return {"type": kind, "occurred_at": times.iso(times.now()), "printer_id": printer_id,
            "revision": revision}


# -- push (openPushChannel) ------------------------------------------------------------------------

async def push_channel(request: web.Request) -> web.StreamResponse:
    gateway = await require_gateway(request)
    state = cloud(request)
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise Problem("upgrade-required", "Open this resource as a WebSocket (subprotocol "
                      f"{SUBPROTOCOL}).", headers={"Upgrade": "websocket"})
    ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,),
                               heartbeat=state.settings.heartbeat_seconds)
    ready = ws.can_prepare(request)
    if not ready.ok:
        raise malformed("Not a valid WebSocket handshake.", header="Sec-WebSocket-Key")
    if ready.protocol != SUBPROTOCOL:
        raise malformed(f"Offer the WebSocket subprotocol {SUBPROTOCOL}.",
                        header="Sec-WebSocket-Protocol")
    cursor = query(request, "openPushChannel").get("cursor")
    start = await state.changes.start(gateway.id, cursor)
    await ws.prepare(request)
    sockets = request.app[SOCKETS]
    sockets.add(ws)
    try:
        await ws.send_json({"type": "hello", "cursor": cursor_of(start) if cursor or start
                            else None, "heartbeat_seconds": state.settings.heartbeat_seconds,
                            "server_time": times.iso(times.now())})
        await _serve(ws, state.changes, gateway.id, start)
    finally:
        sockets.discard(ws)
    return ws


async def _serve(ws: web.WebSocketResponse, stream: ChangeStream, gateway_id: str,
                 seq: int) -> None:
    """Send changes after `seq` as they come, until the gateway or the server closes."""
    reader = asyncio.create_task(_drain(ws))
    sender = asyncio.create_task(_send(ws, stream, gateway_id, seq))
    try:
        await asyncio.wait((reader, sender), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, sender):
            task.cancel()
        await asyncio.gather(reader, sender, return_exceptions=True)
    if sender.done() and not sender.cancelled():
        error = sender.exception()
        if isinstance(error, CursorExpired):
            await ws.close(code=CURSOR_EXPIRED_CLOSE, message=b"cursor expired")
        elif error is not None and not isinstance(error, ConnectionError):
            log.error("push channel of gateway %s failed", gateway_id, exc_info=error)
            await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")
    await ws.close(code=WSCloseCode.GOING_AWAY if stream.hub.closed else WSCloseCode.OK)


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the gateway sends, so that control frames and its close are
    handled; returns when the connection is closed."""
    async for _message in ws:
        pass


async def _send(ws: web.WebSocketResponse, stream: ChangeStream, gateway_id: str,
                seq: int) -> None:
    while not ws.closed and not stream.hub.closed:
        seen = stream.hub.generation(gateway_id)
        changes = await stream.after(gateway_id, seq, 100)
        for position, message in changes:
            await ws.send_json(message)
            seq = position
        if not changes:
            await stream.hub.wait(gateway_id, seen)


async def close_push_channels(app: web.Application) -> None:
    """On shutdown: wake every waiter and close the push channels with 1001 (going away)."""
    app[CLOUD].changes.hub.close()
    for ws in list(app[SOCKETS]):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


# -- poll (pollChanges) ----------------------------------------------------------------------------

async def poll_changes(request: web.Request) -> web.Response:
    gateway = await require_gateway(request)
    state = cloud(request)
    params = query(request, "pollChanges")
    cursor, limit = params.get("cursor"), params["limit"]
    start = await state.changes.start(gateway.id, cursor)
    hub = state.changes.hub
    loop = asyncio.get_running_loop()
    deadline = loop.time() + params["wait"]
    while True:
        seen = hub.generation(gateway.id)
        try:
            changes = await state.changes.after(gateway.id, start, limit + 1)
        except CursorExpired:
            raise Problem("cursor-expired", "The cursor is no longer retained.") from None
        remaining = deadline - loop.time()
        if changes or remaining <= 0 or hub.closed:
            break
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(remaining):
                await hub.wait(gateway.id, seen)
    page = [message for _, message in changes[:limit]]
    return web.json_response({
        "changes": page,
        "next_cursor": page[-1]["cursor"] if page else cursor,
        "has_more": len(changes) > limit,
        "poll_interval_seconds": state.settings.poll_interval_seconds})
