"""The change stream as the gateway reads it (SPEC §6): pushed over a WebSocket
(`openPushChannel`, subprotocol `printgw.v1`) or long-polled (`pollChanges`), both from a cursor
of `cloud.changes`.  A push channel whose cursor falls out of the retained stream is closed with
4410; at shutdown every channel is closed with 1001 (going away)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSCloseCode, web

from cloud import metrics, times
from cloud.changes import ChangeStream, CursorExpired, cursor_of
from cloud.handlers import Call, Caller, Reply, operation
from cloud.problems import Problem, malformed
from cloud.schema import query
from cloud.state import CLOUD
from protocols.cloud.times import rfc3339

SUBPROTOCOL = "printgw.v1"
CURSOR_EXPIRED_CLOSE = 4410
SOCKETS = web.AppKey("push_sockets", set[web.WebSocketResponse])

log = logging.getLogger(__name__)


# -- push (openPushChannel) ------------------------------------------------------------------------

@operation(Caller.GATEWAY)
async def push_channel(call: Call) -> web.StreamResponse:
    request, state, gateway = call.request, call.state, call.gateway
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
                            "server_time": rfc3339(times.now())})
        with metrics.push_connection():
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

@operation(Caller.GATEWAY, parameters="pollChanges")
async def poll_changes(call: Call) -> Reply:
    state, gateway_id = call.state, call.gateway.id
    cursor, limit = call.query.get("cursor"), call.query["limit"]
    start = await state.changes.start(gateway_id, cursor)
    hub = state.changes.hub
    loop = asyncio.get_running_loop()
    deadline = loop.time() + call.query["wait"]
    while True:
        seen = hub.generation(gateway_id)
        try:
            changes = await state.changes.after(gateway_id, start, limit + 1)
        except CursorExpired:
            raise Problem("cursor-expired", "The cursor is no longer retained.") from None
        remaining = deadline - loop.time()
        if changes or remaining <= 0 or hub.closed:
            break
        with contextlib.suppress(TimeoutError), metrics.long_poll_waiting():
            async with asyncio.timeout(remaining):
                await hub.wait(gateway_id, seen)
    page = [message for _, message in changes[:limit]]
    return {"changes": page, "next_cursor": page[-1]["cursor"] if page else cursor,
            "has_more": len(changes) > limit,
            "poll_interval_seconds": state.settings.poll_interval_seconds}
