"""The sweep's one UDP socket: probes sent at a bounded rate, answers handed to their waiters.

Answers are matched to requests by request-id (SNMPv3: msgID) and source address; anything else
that arrives (garbage, echoes, late or foreign answers) is dropped.  When the socket is readable
it is drained, not read one datagram per turn of the event loop as an asyncio datagram endpoint
does: while the loop is busy (discovery reads printers while the probe of the others goes on) a
turn can take milliseconds, and answers would wait out their timeout in the socket's buffer.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections import deque

from protocols.snmp.probe_codec import RID_MAX, RID_MIN, Reply, Template, decode_reply

log = logging.getLogger(__name__)

_RCVBUF = 4 << 20  # answers to hundreds of outstanding probes must not be dropped
_MAX_DATAGRAM = 65535
_DRAIN_MAX = 4096
"""Datagrams read per readiness at most (a flood cannot hold the loop): the rest at the next."""


class RateLimiter:
    """Token bucket: `rate` packets per second, in bursts of at most two ticks' worth.

    Waiters queue in order and are released in batches by one timer every `_TICK` at least:
    a sleep per packet would cost a loop iteration and a timer each (2.5x the CPU at 1,000/s).
    The bucket holds two ticks' worth so that a timer firing late loses no tokens.
    """

    _TICK = 0.01

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._burst = max(1.0, 2 * rate * self._TICK)
        self._tokens = self._burst
        self._stamp = 0.0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self) -> None:
        self._refill()
        if not self._waiters and self._tokens >= 1:
            self._tokens -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._schedule()
        await waiter

    def _refill(self) -> None:
        now = asyncio.get_running_loop().time()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def _schedule(self) -> None:
        if self._timer is None:
            delay = max(self._TICK, (1 - self._tokens) / self._rate)
            self._timer = asyncio.get_running_loop().call_later(delay, self._release)

    def _release(self) -> None:
        self._timer = None
        self._refill()
        while self._waiters and self._tokens >= 1:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled waiter takes no token
                self._tokens -= 1
                waiter.set_result(None)
        if self._waiters:
            self._schedule()


def _expire(waiter: asyncio.Future[Reply | None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Wire:
    """One UDP socket: sends probes at a bounded rate and hands answers to their waiters."""

    def __init__(self, port: int, timeout: float, retries: int, limiter: RateLimiter) -> None:
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self._limiter = limiter
        self._sock: socket.socket | None = None
        self._pending: dict[int, tuple[str, int, asyncio.Future[Reply | None]]] = {}
        """request-id → (address, SNMP version, waiter) of the requests awaiting an answer."""
        self._next_rid = RID_MIN + random.randrange(1 << 24)

    async def open(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            sock.bind(("0.0.0.0", 0))
            sock.setblocking(False)
            asyncio.get_running_loop().add_reader(sock.fileno(), self._drain, sock)
        except BaseException:
            sock.close()
            raise
        self._sock = sock

    def _drain(self, sock: socket.socket) -> None:
        for _ in range(_DRAIN_MAX):
            try:
                data, addr = sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error reported on the socket: nothing to read
                log.debug("UDP error during sweep: %s", exc)
                continue
            self._received(data, addr)

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            decoded = decode_reply(data)
        except Exception as exc:  # garbage from the network must never end the sweep
            log.debug("undecodable datagram from %s: %s", addr[0], exc)
            return
        if decoded is None:
            return
        request_id, reply = decoded
        entry = self._pending.get(request_id)
        if entry is None:
            return
        address, version, waiter = entry
        if address == addr[0] and version == reply.version and not waiter.done():
            waiter.set_result(reply)

    def close(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _request_id(self) -> int:
        rid = self._next_rid
        self._next_rid = rid + 1 if rid < RID_MAX else RID_MIN
        return rid

    async def ask(self, template: Template, address: str) -> Reply | None:
        """Send one request (the same request-id on every retry), return the answer or None.

        An answer to an earlier attempt is accepted until the last attempt times out: a slow
        (sleeping) printer may answer the first packet only after the retry went out.
        """
        sock = self._sock
        assert sock is not None
        loop = asyncio.get_running_loop()
        rid = self._request_id()
        packet = template.render(rid)
        try:
            for _ in range(self.retries + 1):
                waiter: asyncio.Future[Reply | None] = loop.create_future()
                self._pending[rid] = (address, template.version, waiter)
                await self._limiter.acquire()  # an answer may arrive meanwhile
                if not waiter.done():
                    try:
                        sock.sendto(packet, (address, self.port))
                    except OSError as exc:  # buffer full, no route, EACCES for a broadcast
                        log.debug("UDP error sending to %s: %s", address, exc)  # lost: retried
                    timer = loop.call_later(self.timeout, _expire, waiter)
                    await waiter
                    timer.cancel()
                reply = waiter.result()
                if reply is not None:
                    return reply
            return None
        finally:
            del self._pending[rid]
