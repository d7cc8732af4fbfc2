"""One HTTP connection pool for every IPP read of a process, with a bound on its sockets.

A new `aiohttp.ClientSession` per read costs a connector, a cookie jar and a TCP (and TLS)
handshake every time; `IppConnections` keeps one session and lets a printer's keep-alive
connection serve its next request (the IPP/1.1 fallback, a redirect, the next reading while the
connection is still open).  Its owner starts it lazily (`session()`, in the running event loop)
and closes it (`close()`): `gateway.device.reader.DeviceReader` owns the gateway's.

Bounded so that 10,000 printers do not hold 10,000 sockets (`PoolLimits`): at most `total`
connections in use at once (a read waits for one within its own timeout), at most `per_host` to
one printer, and idle keep-alive connections to at most `idle` printers between requests (those
idle the longest closed first); an idle connection is closed after `idle_seconds` (checked every
`idle_seconds`, so it lives at most twice that).  The pool's sockets never exceed
`total + idle * per_host` (by default 256 + 64), whatever the fleet's size.  A fleet larger than
`idle` printers read in turn reuses no connection from one cycle to the next (nor does one read
less often than `idle_seconds`, nor than the printer's own keep-alive time): it still saves a
session per read, and within a reading the IPP/1.1 fallback and redirects reuse the connection.

TLS: one pool serves printers read with and without certificate verification.  aiohttp keys its
pooled connections by host, port and the TLS setting of the request (`ssl=` in
`aiohttp.client_reqrep.ConnectionKey`), so a connection made without verification is never handed
to a read that verifies, nor the other way round.  Cookies printers set are not kept (a cookie jar
shared by a whole fleet would grow with it).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class PoolLimits:
    total: int = 256
    """Connections in use at once, to all printers."""
    per_host: int = 2
    """Connections in use at once to one printer (host and port)."""
    idle: int = 32
    """Printers whose idle keep-alive connections are kept, at most (each up to `per_host`);
    those idle the longest are closed first."""
    idle_seconds: float = 15.0
    """An idle connection is closed after this long (within twice this)."""


class _IdleBoundedConnector(aiohttp.TCPConnector):
    """A `TCPConnector` that keeps idle connections to at most `max_idle` printers: past that,
    those of the printer idle the longest are closed.  O(1) per request: aiohttp keeps each
    printer's idle connections in a dict in the order they became idle."""

    def __init__(self, *, max_idle: int, **options: Any) -> None:
        super().__init__(**options)
        self._max_idle = max_idle

    def _release(self, key: Any, protocol: Any, *, should_close: bool = False) -> None:
        super()._release(key, protocol, should_close=should_close)
        pools = self._conns
        while len(pools) > self._max_idle:
            for idle, _ in pools.pop(next(iter(pools))):
                idle.close()

    @property
    def idle_connections(self) -> int:
        return sum(len(pool) for pool in self._conns.values())


class IppConnections:
    """The shared session for IPP reads: made at the first `session()`, closed by `close()`."""

    def __init__(self, limits: PoolLimits | None = None) -> None:
        self.limits = limits or PoolLimits()
        self._session: aiohttp.ClientSession | None = None
        self._connector: _IdleBoundedConnector | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def session(self) -> aiohttp.ClientSession:
        """The pool's session, made in the running event loop at the first call.  A session is
        bound to its loop: called in another loop (the first one ended), a new one is made."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            limits = self.limits
            self._connector = _IdleBoundedConnector(
                max_idle=limits.idle, limit=limits.total, limit_per_host=limits.per_host,
                keepalive_timeout=limits.idle_seconds)
            self._session = aiohttp.ClientSession(connector=self._connector,
                                                  cookie_jar=aiohttp.DummyCookieJar())
            self._loop = loop
        return self._session

    @property
    def idle_connections(self) -> int:
        """Idle connections kept open now."""
        return self._connector.idle_connections if self._connector is not None else 0

    async def close(self) -> None:
        """Close every connection; a later `session()` starts a new pool."""
        session, self._session, self._connector = self._session, None, None
        if session is not None and not session.closed:
            await session.close()
