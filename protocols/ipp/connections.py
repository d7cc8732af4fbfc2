"""One HTTP connection pool for every IPP read of a process, with a bound on its sockets.

`IppConnections` lets a printer's keep-alive connection serve its next request (the IPP/1.1
fallback, a redirect, the next reading while the connection is still open).  It binds itself to
the running event loop at its first use; its owner closes it (`close()`):
`gateway.device.reader.DeviceReader` owns the gateway's.  Connections are
`protocols.ipp.http_wire.HttpConnection`s: over plain HTTP to a numeric address on a bare
non-blocking socket (`protocols.ipp.plain_socket`), else made with `loop.create_connection` (TLS
contexts made once per verification setting).

Bounded so that 10,000 printers do not hold 10,000 sockets (`PoolLimits`): at most `total`
connections in use at once (a read waits for one within its own timeout), at most `per_host` to
one printer, and idle keep-alive connections to at most `idle` printers between requests (those
idle the longest closed first); an idle connection is closed after `idle_seconds` (checked every
`idle_seconds`, so it lives at most twice that).  The pool's sockets never exceed
`total + idle * per_host` (by default 256 + 64), whatever the fleet's size.  A fleet larger than
`idle` printers read in turn reuses no connection from one cycle to the next (nor does one read
less often than `idle_seconds`, nor than the printer's own keep-alive time); within a reading the
IPP/1.1 fallback and redirects reuse the connection.

TLS: one pool serves printers read with and without certificate verification.  Connections are
kept by origin (`http_wire.Origin`: host, port, TLS and its verification), so a connection made
without verification is never handed to a read that verifies, nor the other way round.  Cookies
are not kept at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections import OrderedDict, deque
from dataclasses import dataclass

from protocols.ipp.http_wire import HttpConnection, Origin
from protocols.ipp.plain_socket import PlainSocket, numeric_family


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


class IppConnections:
    """The connections of IPP reads: `acquire` one for an origin, `release` it after its answer."""

    def __init__(self, limits: PoolLimits | None = None) -> None:
        self.limits = limits or PoolLimits()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: OrderedDict[Origin, list[HttpConnection]] = OrderedDict()
        """Idle connections by origin, the origin idle the longest first."""
        self._busy: dict[Origin, int] = {}
        self._in_use = 0
        self._open: set[HttpConnection] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweep: asyncio.TimerHandle | None = None

    @property
    def idle_connections(self) -> int:
        """Idle connections kept open now."""
        return sum(not c.closed for conns in self._idle.values() for c in conns)

    async def acquire(self, origin: Origin) -> HttpConnection:
        """A connection to `origin`: an idle one kept, else a new one; waits while the pool's
        limits are reached.  Connecting raises `OSError` (`ssl.SSLError` for TLS)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._forget(loop)
        limits = self.limits
        while self._in_use >= limits.total or self._busy.get(origin, 0) >= limits.per_host:
            await self._wait(loop)
        self._in_use += 1
        self._busy[origin] = self._busy.get(origin, 0) + 1
        try:
            conn = self._take_idle(origin, loop.time())
            if conn is None:
                conn = await self._connect(loop, origin)
        except BaseException:
            self._free(origin)
            raise
        return conn

    def release(self, conn: HttpConnection, keep: bool) -> None:
        """Hand `conn` back: kept idle when `keep` and its last answer allows, else closed (at
        once, unless `keep`: a complete answer that did not allow reuse)."""
        origin, loop = conn.origin, self._loop
        assert loop is not None, "released before any acquire"
        self._free(origin)
        if not (keep and conn.reusable and not conn.closed):
            self._open.discard(conn)
            conn.close(abort=not keep)
            return
        conn.idle_since = loop.time()
        conns = self._idle.get(origin)
        if conns is None:
            self._idle[origin] = [conn]
        else:
            conns.append(conn)
            self._idle.move_to_end(origin)
        while len(self._idle) > self.limits.idle:
            for old in self._idle.popitem(last=False)[1]:
                self._open.discard(old)
                old.close()
        if self._sweep is None:
            self._sweep = loop.call_later(self.limits.idle_seconds, self._close_idle)

    async def __aenter__(self) -> IppConnections:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection; the pool can be used again afterwards."""
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        conns, self._open = self._open, set()
        self._idle.clear()
        for conn in conns:
            conn.close(abort=True)
        if conns:
            await asyncio.sleep(0)  # let their transports report the connections lost

    def _forget(self, loop: asyncio.AbstractEventLoop) -> None:
        """A pool used in a new event loop (the previous one ended): start afresh, the sockets
        of the old one closed (its transports cannot report it any more)."""
        for conn in self._open:
            with contextlib.suppress(RuntimeError):  # "Event loop is closed"
                conn.close(abort=True)
        self._loop = loop
        self._idle.clear()
        self._busy.clear()
        self._open.clear()
        self._waiters.clear()
        self._in_use = 0
        self._sweep = None

    async def _wait(self, loop: asyncio.AbstractEventLoop) -> None:
        waiter = loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if not waiter.done():
                waiter.cancel()
                self._waiters.remove(waiter)

    def _free(self, origin: Origin) -> None:
        self._in_use -= 1
        busy = self._busy[origin] - 1
        if busy:
            self._busy[origin] = busy
        else:
            del self._busy[origin]
        waiters = self._waiters
        while waiters:  # each checks again whether it may go on
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _take_idle(self, origin: Origin, now: float) -> HttpConnection | None:
        conns = self._idle.get(origin)
        found = None
        while conns and found is None:
            conn = conns.pop()
            if not conn.closed and now - conn.idle_since < self.limits.idle_seconds:
                found = conn
            else:
                self._open.discard(conn)
                conn.close()
        if conns is not None and not conns:
            del self._idle[origin]
        return found

    async def _connect(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> HttpConnection:
        """A new connection: plain HTTP to a numeric address on `PlainSocket`, the rest (TLS,
        host names) through `loop.create_connection`."""
        family = None if origin.tls else numeric_family(origin.host)
        if family is not None:
            conn = HttpConnection(origin)
            await PlainSocket.connect(loop, family, origin.host, origin.port, conn)
        else:
            _, conn = await loop.create_connection(
                lambda: HttpConnection(origin), origin.host, origin.port,
                ssl=_tls_context(origin.verify) if origin.tls else None,
                server_hostname=origin.host if origin.tls else None)
        self._open.add(conn)
        return conn

    def _close_idle(self) -> None:
        """Close the connections idle for `idle_seconds` (and those the printer closed)."""
        self._sweep = None
        if self._loop is None:
            return
        oldest = self._loop.time() - self.limits.idle_seconds
        for origin in list(self._idle):
            conns = self._idle[origin]
            for conn in [c for c in conns if c.closed or c.idle_since <= oldest]:
                conns.remove(conn)
                self._open.discard(conn)
                conn.close()
            if not conns:
                del self._idle[origin]
        if self._idle:
            self._sweep = self._loop.call_later(self.limits.idle_seconds, self._close_idle)


@functools.lru_cache(maxsize=2)
def _tls_context(verify: bool) -> ssl.SSLContext:
    """The TLS context of every connection with (or without) certificate verification: as
    aiohttp, which read printers before, made them (the same protocols and ciphers offered)."""
    if verify:
        context = ssl.create_default_context()
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.options |= ssl.OP_NO_SSLv2 | ssl.OP_NO_SSLv3 | ssl.OP_NO_COMPRESSION
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(("http/1.1",))
    return context
