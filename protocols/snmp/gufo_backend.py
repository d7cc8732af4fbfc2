"""The fast read path for SNMPv1/v2c: GET and walks on gufo_snmp's Rust message codec.

pysnmp decodes with pyasn1, about 13 ms of CPU for one full printer poll; gufo_snmp encodes and
decodes in Rust, well under a millisecond (figures: `bench/fleet.py`).  This module adds what the
gateway needs and gufo_snmp does not do:

- error-status and error-index: gufo_snmp drops them, and an error answer (v1 noSuchName, genErr,
  ...) echoes the request's variables with NULL values, which it drops too, so it would look like
  an empty answer.  The first bytes of each answer are peeked (MSG_PEEK, on a duplicate of the
  socket's descriptor) before gufo_snmp reads it, and the three header integers decoded here;
- retries: gufo_snmp has none.  A request that timed out leaves its socket behind (a late answer
  could otherwise be taken for the next request's): the retry, and everything after it, go out
  on a new socket;
- one request at a time per agent: a gufo_snmp socket remembers one request-id, so two requests
  in flight on one socket drop each other's answers (walks cut short).  Each agent (address,
  port, community) has one socket and a lock;
- open sockets: one per agent, kept between polls (two descriptors: gufo's and the peeking
  duplicate); the least recently used idle ones are closed beyond `max_sessions`.

- malformed answers: gufo_snmp's decoder trusts the lengths it reads (and panics on some,
  printing a Rust backtrace whatever Python does with it), so each answer is checked first
  (`protocols.snmp.ber_check`).  A datagram that is not even a response is dropped, as no
  answer (a request that got only those raises `Malformed` at its timeout); a response whose
  values are malformed (an integer wider than 64 bits) raises `Malformed` at once.

What gufo_snmp cannot decode (an exotic value type) raises `Unsure`, and
`SnmpClient` asks pysnmp instead; so does anything SNMPv3 (gufo_snmp has no contextName and no
3DES) and any host given by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import resource
import socket
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TypeVar

from gufo.snmp import SnmpError as GufoError
from gufo.snmp._fast import GetIter, SnmpV1ClientSocket, SnmpV2cClientSocket

from protocols.snmp.ber_check import check_answer
from protocols.snmp.model import (
    NO_SUCH_NAME,
    TOO_BIG,
    SnmpTarget,
    SnmpValue,
    oid_text,
    oid_tuple,
    walk_stopped,
)

T = TypeVar("T")
Socket = SnmpV1ClientSocket | SnmpV2cClientSocket
Header = tuple[int, int, int]
"""request-id, error-status, error-index of an answer."""

RECV_BUFFER = 1 << 18
"""Bytes of receive buffer per socket: a few GETBULK answers, should the loop fall behind."""
PEEK_BYTES = 512
"""Enough of an answer for its header, whatever the community's length (at most 255)."""
MAX_DATAGRAM = 65535
"""Bytes of an answer peeked at to check it whole before gufo_snmp decodes it."""


class Unsure(Exception):
    """gufo_snmp could not decode the answer: ask pysnmp."""


class NoAnswer(Exception):
    """No answer within the timeout and retries."""


class Malformed(Exception):
    """Nothing but malformed datagrams within the timeout and retries (the first one's fault)."""


class AgentError(Exception):
    """The agent answered with an error status."""

    def __init__(self, status: int, index: int) -> None:
        super().__init__(status, index)
        self.status = status
        self.index = index


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit (sockets per agent); returns the
    soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(soft, 1 << 16) if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        with contextlib.suppress(ValueError, OSError):  # a sandbox may refuse: keep what we have
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
    return soft


# -- the answer's header: SEQUENCE { version, community, GetResponse-PDU { request-id,
#    error-status, error-index, ... } } (RFC 1157 / RFC 3416)

def _contents(data: bytes, pos: int, tag: int | None = None) -> tuple[int, int]:
    """Where the contents of the TLV at `pos` start and end; checks the tag when given."""
    if tag is not None and data[pos] != tag:
        raise ValueError(f"tag 0x{data[pos]:02x} where 0x{tag:02x} was expected")
    first = data[pos + 1]
    if first < 0x80:
        return pos + 2, pos + 2 + first
    count = first & 0x7F
    start = pos + 2 + count
    return start, start + int.from_bytes(data[pos + 2:start], "big")


def _integer(data: bytes, pos: int) -> tuple[int, int]:
    """An INTEGER at `pos` and where the next TLV starts."""
    start, end = _contents(data, pos, 0x02)
    if not 0 < end - start <= 8 or end > len(data):
        raise ValueError("bad INTEGER")
    return int.from_bytes(data[start:end], "big", signed=True), end


def response_header(data: bytes) -> Header | None:
    """(request-id, error-status, error-index) of an SNMPv1/v2c GetResponse message, read from
    its first bytes; None when they are not one."""
    try:
        pos = _contents(data, 0, 0x30)[0]
        pos = _contents(data, _contents(data, pos)[1])[1]  # past version and community
        pos = _contents(data, pos, 0xA2)[0]
        request_id, pos = _integer(data, pos)
        status, pos = _integer(data, pos)
        index, _ = _integer(data, pos)
    except (IndexError, ValueError):
        return None
    return request_id, status, index


class _Session:
    """The sockets to one agent, watched by the event loop for as long as they are open.

    `renew()` swaps in new sockets (the lock stays).  An answer that arrives while no request is
    waiting (late, or a duplicate) is read and dropped at once.
    """

    def __init__(self, address: str, version: int, community: str,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.address = address
        self.kind = SnmpV1ClientSocket if version == 1 else SnmpV2cClientSocket
        self.community = community
        self.loop = loop
        self.lock = asyncio.Lock()
        self.users = 0
        """GETs and walks under way (a walk keeps its session between requests)."""
        self.waiter: asyncio.Future[None] | None = None
        self.last_request_id: int | None = None
        self.rows: dict[str, int] = {}
        """Values each subtree had at the last walk: the next asks for that many rows, + 1."""
        self._open()

    def _open(self) -> None:
        self.socket: Socket = self.kind(self.address, self.community, 0, 0, RECV_BUFFER, 0)
        self.fd = self.socket.get_fd()
        family = socket.AF_INET6 if self.address.startswith("[") else socket.AF_INET
        self.peeker = socket.fromfd(self.fd, family, socket.SOCK_DGRAM)  # a dup(): its own fd
        self.peeker.setblocking(False)
        self.spent = False
        """A request on this socket went unanswered: its answer may still come."""
        self.loop.add_reader(self.fd, self._readable)

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _readable(self) -> None:
        if self.waiter is not None:
            self.wake()
            return
        with contextlib.suppress(OSError):
            self.peeker.recv(PEEK_BYTES)

    def renew(self, loop: asyncio.AbstractEventLoop) -> None:
        """New sockets, watched by `loop` (a client can outlive an event loop)."""
        self.close()
        if loop is not self.loop:
            self.loop, self.lock = loop, asyncio.Lock()
        self.last_request_id = None
        self._open()

    def close(self) -> None:
        if self.peeker.fileno() < 0:  # closed already
            return
        if not self.loop.is_closed():
            self.loop.remove_reader(self.fd)
        self.peeker.close()
        del self.socket  # gufo closes its socket when dropped

    def peek(self) -> tuple[Header | None, str | None]:
        """The header of the next datagram and what `check_answer` says of it, leaving it
        queued; raises BlockingIOError when none is.  A repeat of the last answer taken (a
        duplicate datagram) is dropped here."""
        while True:
            data = self.peeker.recv(MAX_DATAGRAM, socket.MSG_PEEK)
            header = response_header(data)
            if header is None or header[0] != self.last_request_id:
                return header, check_answer(data)
            self.drop()

    def drop(self) -> None:
        """Read the next datagram and forget it."""
        self.peeker.recv(PEEK_BYTES)


class GufoReader:
    """GET and walks for v1/v2c agents through gufo_snmp sockets, one per agent."""

    def __init__(self, max_sessions: int | None = None) -> None:
        limit = raise_fd_limit()
        self.max_sessions = max_sessions or max(64, limit // 4)
        """Agents with open sockets at most: two descriptors each, and half of the file limit
        left for everything else."""
        self._sessions: OrderedDict[tuple[str, int, int, str], _Session] = OrderedDict()
        self._addresses: dict[str, bool] = {}

    def handles(self, target: SnmpTarget) -> bool:
        """v1/v2c to an address (host names are resolved by pysnmp's transport)."""
        if target.credentials.version == 3:
            return False
        known = self._addresses.get(target.host)
        if known is None:
            try:
                ipaddress.ip_address(target.host)
                known = True
            except ValueError:
                known = False
            self._addresses[target.host] = known
        return known

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()

    def _session(self, target: SnmpTarget, loop: asyncio.AbstractEventLoop) -> _Session:
        credentials = target.credentials
        community = credentials.community_string
        key = (target.host, target.port, credentials.version, community)
        session = self._sessions.get(key)
        if session is not None:
            self._sessions.move_to_end(key)
            if session.loop is not loop:
                session.renew(loop)
            return session
        host = f"[{target.host}]" if ":" in target.host else target.host
        session = self._sessions[key] = _Session(f"{host}:{target.port}", credentials.version,
                                                 community, loop)
        for old in list(self._sessions)[:max(0, len(self._sessions) - self.max_sessions)]:
            if not self._sessions[old].users:
                self._sessions.pop(old).close()
        return session

    @contextlib.contextmanager
    def _use(self, target: SnmpTarget) -> Iterator[_Session]:
        session = self._session(target, asyncio.get_running_loop())
        session.users += 1
        try:
            yield session
        finally:
            session.users -= 1

    async def _exchange(self, target: SnmpTarget, session: _Session,
                        send: Callable[[Socket], None],
                        receive: Callable[[Socket], T]) -> tuple[Header, T]:
        """One request and its answer, with the target's timeout and retries, one at a time per
        agent.  Raises `NoAnswer`, `Malformed` when only malformed datagrams came, or `Unsure`
        for an answer gufo_snmp cannot decode."""
        loop = session.loop
        expired = False
        malformed: str | None = None

        def expire() -> None:
            nonlocal expired
            expired = True
            session.wake()

        async with session.lock:
            for _ in range(target.retries + 1):
                if session.spent:
                    session.renew(loop)
                session.spent = True  # until its answer is taken
                expired = False
                timer = loop.call_later(target.timeout, expire)
                try:
                    with contextlib.suppress(OSError):  # buffer full, ICMP error pending: lost
                        send(session.socket)
                    while not expired:
                        session.waiter = loop.create_future()
                        await session.waiter
                        try:
                            header, verdict = session.peek()
                            if verdict is not None:
                                session.drop()
                                if header is None:
                                    malformed = malformed or verdict
                                    continue  # not an answer: keep waiting for one
                                session.spent = False  # the answer, with a value no type holds
                                raise Malformed(verdict)
                            answer = receive(session.socket)
                        except (BlockingIOError, ConnectionRefusedError, TimeoutError):
                            # nothing yet, or ICMP port unreachable (gufo: TimeoutError): keep
                            # waiting for the timeout, as pysnmp does
                            continue
                        except GufoError as exc:
                            session.spent = False
                            raise Unsure(str(exc)) from exc
                        except (KeyboardInterrupt, SystemExit, Unsure, Malformed):
                            raise
                        except BaseException as exc:
                            # gufo_snmp's Rust decoder panics on some malformed answers
                            # (pyo3's PanicException is a BaseException): the datagram is read,
                            # the socket may be confused: a new one for the next request
                            raise Unsure(f"an answer gufo_snmp cannot decode ({exc})") from None
                        session.spent = False
                        if header is None:
                            raise Unsure("an answer gufo_snmp decodes but its header does not")
                        session.last_request_id = header[0]
                        return header, answer
                finally:
                    session.waiter = None
                    timer.cancel()
        if malformed is not None:
            raise Malformed(malformed)
        raise NoAnswer

    async def get(self, target: SnmpTarget, oids: list[str]) -> dict[str, SnmpValue]:
        """One GET; absent objects are left out.  Raises `AgentError` for an error status."""
        with self._use(target) as session:
            (_, status, index), values = await self._exchange(
                target, session, lambda s: s.send_get_many(oids), lambda s: s.recv_get_many())
        if status:
            raise AgentError(status, index)
        return values

    async def walk(self, target: SnmpTarget, root: str, root_tuple: tuple[int, ...],
                   max_repetitions: int, into: dict[str, SnmpValue],
                   max_rows: int) -> tuple[int, ...] | None:
        """Walk the subtree into `into`, in order, with GETBULK (v2c) or GETNEXT (v1).

        GETBULK asks for as many rows as the subtree had last time, plus one to see its end (at
        most `max_repetitions`): one request for most subtrees, and no rows past the end for the
        agent to encode.  Returns None when the walk is over (end of the subtree or of the MIB
        view), or the OID to go on from with pysnmp (an answer gufo_snmp cannot decode, or
        tooBig: gufo_snmp cannot ask for fewer rows in the middle of a walk).  Raises
        `WalkStopped` for an OID that does not increase (what was read is kept) or when the
        subtree has more than `max_rows` values, `AgentError` for any other error status.
        """
        with self._use(target) as session:
            return await self._walk(target, session, root, root_tuple, max_repetitions, into,
                                    max_rows)

    async def _walk(self, target: SnmpTarget, session: _Session, root: str,
                    root_tuple: tuple[int, ...], max_repetitions: int,
                    into: dict[str, SnmpValue], max_rows: int) -> tuple[int, ...] | None:
        v1 = target.credentials.version == 1
        root = root.strip(".")
        known = session.rows.get(root)
        repetitions = max_repetitions if known is None else min(known + 1, max_repetitions)
        cursor = GetIter(root, None if v1 else repetitions)
        skip = len(root) + 1
        current: tuple[int, ...] = ()
        """The last OID read, below the root (gufo_snmp only gives OIDs below it): shorter to
        parse than the whole OID, for the check that OIDs increase."""
        current_head: str | None = None
        """`current` as text but its last number: the next row of a column shares it."""
        read = len(into)

        def went_back(oid: str) -> Exception:
            before = oid_text(root_tuple + current)
            return walk_stopped(target, root, "loop", into, went_back=(oid, before))

        def receive(sock: Socket) -> list[tuple[str, SnmpValue] | None]:
            try:
                return [sock.recv_get_next(cursor)] if v1 else sock.recv_get_bulk(cursor)
            except StopAsyncIteration:  # no value in the subtree: its end, or an error status
                return [None]

        send: Callable[[Socket], None] = ((lambda s: s.send_get_next(cursor)) if v1
                                          else (lambda s: s.send_get_bulk(cursor)))
        while True:
            try:
                (_, status, index), batch = await self._exchange(target, session, send, receive)
            except Unsure:
                return root_tuple + current
            if status == TOO_BIG and not v1:
                return root_tuple + current
            if status == NO_SUCH_NAME and v1:  # the end of the MIB view in v1
                session.rows[root] = read
                return None
            if status:
                raise AgentError(status, index)
            for item in batch:
                if item is None:  # left the subtree, or the end of the MIB view
                    session.rows[root] = read
                    return None
                oid, value = item
                head, dot, last = oid[skip:].rpartition(".")
                if dot and head == current_head and last.isdigit():  # the next row of a column
                    if int(last) <= current[-1]:
                        raise went_back(oid)
                    current = (*current[:-1], int(last))
                else:
                    name = oid_tuple(oid[skip:]) if oid[skip:] else ()
                    if name <= current:
                        raise went_back(oid)
                    current, current_head = name, head if dot else None
                if read >= max_rows:
                    raise walk_stopped(target, root, "rows", into)
                into[oid] = value
                read += 1
