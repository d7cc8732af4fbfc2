"""The push channel (FIG. 8, `openPushChannel`): the cloud's change stream over a WebSocket, one
checked JSON message per text frame."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import NoReturn

import aiohttp

from protocols.cloud.changes import read_push_message
from protocols.cloud.errors import (
    CloudError,
    CloudProtocolError,
    CloudRejected,
    CloudUnavailable,
    parse_retry_after,
    transport_error,
)
from protocols.cloud.models import PushMessage
from protocols.cloud.transport import host_of, parse_json

PUSH_SUBPROTOCOL = "printgw.v1"
DEFAULT_PUSH_HEARTBEAT = 20.0
"""Seconds of silence on the push channel before the client pings; no pong within half of that
closes the channel, so a dead link is noticed within 30 s."""
OPERATION = "openPushChannel"


async def push_messages(session: aiohttp.ClientSession, target: str, *, token: str | None,
                        cursor: str | None, heartbeat: float, tls: ssl.SSLContext | bool,
                        proxy: str | None, max_bytes: int, time_limit: float
                        ) -> AsyncIterator[PushMessage]:
    """Every message of the channel at `target` (a checked `ws(s)://` URL), as it comes.

    The channel has no normal end: when it closes or goes silent (no pong within 1.5
    `heartbeat` s) this raises `CloudUnavailable`; a cursor no longer retained (close code 4410)
    and a revoked credential (1008) raise `CloudRejected` with code `cursor-expired` /
    `policy-violation`.
    """
    try:
        ws = await session.ws_connect(
            target, protocols=(PUSH_SUBPROTOCOL,),
            headers={"Authorization": f"Bearer {token}"} if token else {},
            params={"cursor": cursor} if cursor is not None else None, heartbeat=heartbeat,
            ssl=tls, proxy=proxy, max_msg_size=max_bytes)
    except aiohttp.WSServerHandshakeError as exc:
        failure = _handshake_error(exc)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        failure = transport_error(OPERATION, exc, host_of(target), time_limit)
    else:
        failure = None
    if failure is not None:
        raise failure  # outside the handler: aiohttp's error (with the token) is not kept
    async with ws:
        if ws.protocol != PUSH_SUBPROTOCOL:
            raise CloudProtocolError(OPERATION, f"the cloud did not agree to the "
                                                f"{PUSH_SUBPROTOCOL} subprotocol")
        while True:
            message = await ws.receive()
            if message.type is aiohttp.WSMsgType.TEXT:
                yield _push_message(message.data)
            elif message.type is aiohttp.WSMsgType.BINARY:
                raise CloudProtocolError(OPERATION, "a binary frame (messages are JSON text)")
            elif message.type is aiohttp.WSMsgType.ERROR:
                _raise_ws_error(message.data)
            else:
                _raise_closed(ws.close_code)


def _handshake_error(exc: aiohttp.WSServerHandshakeError) -> CloudError:
    """A refused WebSocket upgrade as a `CloudError` (the body is gone: the status must do)."""
    status = exc.status
    if status == 429 or status >= 500:
        retry_after = parse_retry_after((exc.headers or {}).get("Retry-After"))
        return CloudUnavailable(OPERATION, f"the cloud is unavailable: HTTP {status}",
                                retry_after=retry_after, status=status)
    if status >= 400:
        code = "cursor-expired" if status == 410 else None
        return CloudRejected(OPERATION, f"the cloud refused the push channel: HTTP {status}",
                             status=status, code=code)
    return CloudProtocolError(OPERATION, f"not a WebSocket handshake (HTTP {status}: "
                                         f"{exc.message})")


def _raise_ws_error(error: BaseException) -> NoReturn:
    if isinstance(error, aiohttp.WebSocketError) and (
            error.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG):
        raise CloudProtocolError(OPERATION, f"a message over the size limit: {error}") from None
    if isinstance(error, TimeoutError):
        raise CloudUnavailable(OPERATION, f"the channel went silent: {error}") from None
    if isinstance(error, aiohttp.WebSocketError):
        raise CloudProtocolError(OPERATION, f"a broken WebSocket frame: {error}") from None
    raise CloudUnavailable(OPERATION, f"the channel failed: {type(error).__name__}: {error}"
                           ) from None


_CLOSE_REASONS = {1000: "closed by the cloud", 1001: "the cloud is going away",
                  1006: "the connection was lost", 1011: "internal error of the cloud"}


def _raise_closed(code: int | None) -> NoReturn:
    if code == 4410:
        raise CloudRejected(OPERATION, "the cursor is no longer retained (close code 4410); "
                                       "resynchronise and reconnect without a cursor",
                            status=410, code="cursor-expired")
    if code == aiohttp.WSCloseCode.POLICY_VIOLATION:
        raise CloudRejected(OPERATION, "the cloud closed the channel for a policy violation "
                                       "(1008: credential revoked or gateway disabled)",
                            status=None, code="policy-violation")
    reason = _CLOSE_REASONS.get(code or 1006, "closed")
    raise CloudUnavailable(OPERATION, f"the channel closed: {reason} (close code {code})")


def _push_message(text: str) -> PushMessage:
    """One message; a change that does not match the document comes as an `UnreadableChange`
    (the channel goes on), a frame that is not JSON or a broken `hello` end the channel."""
    return read_push_message(OPERATION, parse_json(OPERATION, text.encode("utf-8")))
