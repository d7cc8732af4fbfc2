"""The fast read path's wire: one UDP socket per address family for every SNMPv1/v2c agent.

Requests are matched to answers by request-id, as the sweep does (`probe_wire`): each request
gets a random 4-byte request-id unique among those in flight, and an answer is taken only when
it comes from the address and port the request went to, in the request's SNMP version, with its
request-id.  Anything else (another host's or port's answer, a spoofed one, a late answer to a
request that timed out or was retried: every retry gets a new request-id; a duplicate) is dropped
unread but for its header.  A datagram from an agent that is no answer at all (garbage) is noted
on the agent's requests in flight: one that gets nothing else fails as `Malformed` at its
timeout, not `NoAnswer`.

When the socket is readable it is drained (`recvfrom` until it would block, or until no request
waits any more), each datagram dispatched to its waiting request; requests are sent at once with
a non-blocking `sendto` (a send the kernel refuses is a lost datagram: the retry sends it again).
Timeouts are kept by one timer for all requests, every `TICK` while any is in flight (a request
times out up to `TICK` late).  So the reader holds one socket (two with IPv6 agents) whatever the
number of agents, and per request one future.

At most `MAX_IN_FLIGHT` requests per agent are in flight (the others wait their turn): a printer's
agent serves one request at a time, and a second one queued behind it keeps it busy without
piling up work it would answer after our timeout.  The record counting them exists only while
requests are in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.snmp.ber_codec import (
    Malformed,
    NotAnswer,
    Unsure,
    Value,
    decode_header,
    decode_varbinds,
    encode_request,
)
from protocols.snmp.model import SnmpTarget
from protocols.snmp.probe_codec import RID_MIN

MAX_IN_FLIGHT = 2
"""Requests in flight to one agent at most."""
MAX_DATAGRAM = 65535
"""Bytes read of a datagram, at most: a UDP payload's limit."""
RECV_BUFFER = 4 << 20
"""Bytes of receive buffer asked for (the kernel may give less: `net.core.rmem_max`): the
answers to every request in flight, should the loop fall behind."""
TICK = 0.025
"""Seconds between two looks for requests that timed out."""
ADDRESSES_KEPT = 65_536
"""Host texts whose address family and canonical form are remembered, at most."""

Peer = tuple[str, int]


class NoAnswer(Exception):
    """No answer within the timeout and retries."""


@dataclass(slots=True)
class Answer:
    status: int
    index: int
    varbinds: list[tuple[str, Value]]


class _Pending:
    """A request awaiting its answer."""

    __slots__ = ("deadline", "future", "garbage", "peer", "version")

    def __init__(self, peer: Peer, version: int, future: asyncio.Future[Answer | None],
                 deadline: float) -> None:
        self.peer = peer
        self.version = version
        self.future = future
        self.deadline = deadline
        self.garbage: str | None = None
        """What was wrong with the first datagram from the agent that was no answer."""


class _Agent:
    """Requests in flight to one agent, and those waiting for their turn."""

    __slots__ = ("busy", "waiting")

    def __init__(self) -> None:
        self.busy = 0
        self.waiting: deque[asyncio.Future[None]] = deque()


class UdpReader:
    """GET, GETNEXT and GETBULK requests to v1/v2c agents over shared sockets."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sockets: dict[int, socket.socket] = {}
        """By address family, watched by `_loop`."""
        self._pending: dict[int, _Pending] = {}
        self._waiting = 0
        """Requests in `_pending` without an answer yet."""
        self._sweeper: asyncio.TimerHandle | None = None
        self._agents: dict[Peer, _Agent] = {}
        self._addresses: dict[str, tuple[int, str] | None] = {}

    def address(self, host: str) -> tuple[int, str] | None:
        """(address family, canonical text) of an address; None for a host name, which pysnmp
        resolves."""
        known = self._addresses.get(host, False)
        if known is False:
            try:
                ip = ipaddress.ip_address(host)
                known = (socket.AF_INET6 if ip.version == 6 else socket.AF_INET, str(ip))
            except ValueError:
                known = None
            if len(self._addresses) >= ADDRESSES_KEPT:
                self._addresses.clear()
            self._addresses[host] = known
        return known

    @property
    def open_sockets(self) -> int:
        return len(self._sockets)

    def close(self) -> None:
        for sock in self._sockets.values():
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_result(None)
        self._pending.clear()
        self._waiting = 0
        self._agents.clear()
        self._loop = None

    def _socket(self, family: int) -> socket.socket:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a client can outlive an event loop
            self.close()
            self._loop = loop
        sock = self._sockets.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
                sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
                sock.setblocking(False)
                loop.add_reader(sock.fileno(), self._drain, sock)
            except BaseException:
                sock.close()
                raise
            self._sockets[family] = sock
        return sock

    def _drain(self, sock: socket.socket) -> None:
        """Read the datagrams queued and hand each to its request, until none is left or no
        request waits (what is left, late or foreign, is read at the next call)."""
        receive, pending = sock.recvfrom, self._pending
        if not self._waiting:  # late or foreign datagrams only: dropped unread
            with contextlib.suppress(OSError):
                while True:
                    receive(MAX_DATAGRAM)
        while self._waiting:
            try:
                data, source = receive(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error reported on the socket: nothing to read
                continue
            peer = (source[0], source[1])
            try:
                version, request_id, status, index, start, end = decode_header(data)
            except NotAnswer as garbage:
                self._garbage(peer, str(garbage))
                continue
            entry = pending.get(request_id)
            if (entry is None or entry.peer != peer or entry.version != version
                    or entry.future.done()):
                continue  # someone else's, late, spoofed or a duplicate
            self._waiting -= 1
            try:
                entry.future.set_result(Answer(status, index, decode_varbinds(data, start, end)))
            except Malformed as exc:
                entry.future.set_exception(Malformed(f"malformed answer: {exc}"))
            except Unsure as exc:
                entry.future.set_exception(exc)

    def _sweep(self) -> None:
        """Time out the requests whose deadline passed; again in `TICK` while any waits."""
        self._sweeper = None
        if self._loop is None:
            return
        now = self._loop.time()
        for entry in self._pending.values():
            if entry.deadline <= now and not entry.future.done():
                entry.future.set_result(None)
                self._waiting -= 1
        if self._waiting:
            self._sweeper = self._loop.call_later(TICK, self._sweep)

    def _garbage(self, peer: Peer, what: str) -> None:
        """Note a datagram that is no answer on the requests in flight to its sender (a scan
        of the requests in flight: garbage is rare, and they are few)."""
        for entry in self._pending.values():
            if entry.peer == peer and entry.garbage is None:
                entry.garbage = what

    def _request_id(self) -> int:
        while True:
            request_id = RID_MIN + random.getrandbits(30)  # 4 bytes, below RID_MAX
            if request_id not in self._pending:
                return request_id

    async def _turn(self, peer: Peer, agent: _Agent) -> None:
        """Wait until fewer than `MAX_IN_FLIGHT` requests to the agent are in flight."""
        waiter = asyncio.get_running_loop().create_future()
        agent.waiting.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():  # our turn came: pass it on
                self._release(peer, agent)
            else:
                agent.waiting.remove(waiter)
            raise

    def _release(self, peer: Peer, agent: _Agent) -> None:
        while agent.waiting:
            waiter = agent.waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the turn goes to it: `busy` stays
                return
        agent.busy -= 1
        if not agent.busy:
            self._agents.pop(peer, None)

    async def request(self, target: SnmpTarget, tag: int, first: int, second: int,
                      oids: Sequence[str]) -> Answer:
        """One request and its answer, with the target's timeout and retries.  Raises
        `NoAnswer`, `Malformed` (a malformed answer; or only garbage came), `Unsure`."""
        family, host = self.address(target.host) or (0, "")
        if not family:
            raise ValueError(f"not an address: {target.host}")
        sock = self._socket(family)
        peer = (host, target.port)
        credentials = target.credentials
        version = 0 if credentials.version == 1 else 1
        community = credentials.community_string.encode()
        loop = asyncio.get_running_loop()
        garbage: str | None = None
        agent = self._agents.get(peer)
        if agent is None:
            agent = self._agents[peer] = _Agent()
        if agent.busy < MAX_IN_FLIGHT:
            agent.busy += 1
        else:
            await self._turn(peer, agent)
        try:
            for _ in range(target.retries + 1):
                if self._sockets.get(family) is not sock:  # closed meanwhile
                    break
                request_id = self._request_id()
                future: asyncio.Future[Answer | None] = loop.create_future()
                entry = self._pending[request_id] = _Pending(
                    peer, version, future, loop.time() + target.timeout)
                self._waiting += 1
                if self._sweeper is None:
                    self._sweeper = loop.call_later(TICK, self._sweep)
                try:
                    with contextlib.suppress(OSError):  # buffer full, no route: lost
                        sock.sendto(encode_request(version, community, tag, request_id, first,
                                                   second, oids), peer)
                    answer = await future
                finally:
                    if self._pending.pop(request_id, None) is not None and not future.done():
                        self._waiting -= 1  # cancelled
                if answer is not None:
                    return answer
                garbage = garbage or entry.garbage
        finally:
            self._release(peer, agent)
        if garbage is not None:
            raise Malformed(garbage)
        raise NoAnswer
