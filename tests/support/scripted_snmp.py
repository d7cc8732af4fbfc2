"""A scripted SNMPv1/v2c agent on loopback, for tests of the SNMP client: a MIB of encoded values,
answered as RFC 3416 (v2c) and RFC 1157 (v1) say, unless a test makes it misbehave (a script of
answers per request, or `first_only`: GETBULK rows of the first varbind only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

from protocols.hosts import free_port
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from simulator import ber

Oid = ber.Oid
Script = Callable[[ber.Message, int], list[tuple[float, bytes]] | None]
"""(request, its number from 1) → answers as (delay, datagram), or None for the usual answer."""


def column(root: Oid, rows: int, tail: bool = True) -> dict[Oid, bytes]:
    """A table column of `rows` rows; with `tail`, followed by an object of the next column,
    so that the column does not end the MIB (the walk then ends with the answer that shows it
    left the column, not with one more request that finds the end of the MIB)."""
    values = {(*root, 1, i): ber.enc_int(10 * i) for i in range(1, rows + 1)}
    if tail:
        values[(*root[:-1], root[-1] + 1, 1, 1)] = ber.enc_int(0)
    return values


class Agent(asyncio.DatagramProtocol):
    """An SNMPv1/v2c agent over a MIB of encoded values, which a test can make misbehave."""

    def __init__(self, mib: dict[Oid, bytes], script: Script | None = None) -> None:
        self.mib = mib
        self.script = script
        self.first_only = False
        """GETBULK answered for the first varbind only (an agent some printers have)."""
        self.requests: list[ber.Message] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = ber.decode_message(data)
        self.requests.append(request)
        answers = self.script(request, len(self.requests)) if self.script else None
        for delay, datagram in answers if answers is not None else [(0.0, self.answer(request))]:
            asyncio.get_running_loop().call_later(delay, self._send, datagram, addr)

    def _send(self, datagram: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(datagram, addr)

    def answer(self, request: ber.Message, status: int = 0, index: int = 0,
               varbinds: list[bytes] | None = None, request_id: int | None = None) -> bytes:
        """The answer RFC 3416 (v2c) or RFC 1157 (v1) gives, unless told otherwise."""
        if varbinds is None and not status:
            status, index, varbinds = self._lookup(request)
        if varbinds is None:  # an error: the request's variables come back
            varbinds = [ber.varbind(ber.enc_oid(oid), ber.tlv(tag, body))
                        for oid, tag, body in request.varbinds]
        return ber.encode_response(request.version, request.community,
                                   request.request_id if request_id is None else request_id,
                                   status, index, varbinds)

    def _next(self, oid: Oid) -> Oid | None:
        later = [name for name in self.mib if name > oid]
        return min(later) if later else None

    def _lookup(self, request: ber.Message) -> tuple[int, int, list[bytes] | None]:
        v1 = request.version == 0
        found: list[bytes] = []
        if request.pdu_type == ber.GET:
            for position, (oid, _, _) in enumerate(request.varbinds, 1):
                if oid in self.mib:
                    found.append(ber.varbind(ber.enc_oid(oid), self.mib[oid]))
                elif v1:
                    return 2, position, None  # noSuchName
                else:
                    found.append(ber.varbind(ber.enc_oid(oid), ber.tlv(ber.NO_SUCH_OBJECT, b"")))
            return 0, 0, found
        cursors = [oid for oid, _, _ in request.varbinds]
        if self.first_only:
            return 0, 0, list(self._chain(cursors[0], request.error_index, v1))
        rows = request.error_index if request.pdu_type == ber.GETBULK else 1
        for _ in range(rows):  # RFC 3416 4.2.3: row by row, a varbind per cursor in each
            for position, oid in enumerate(cursors):
                name = self._next(oid)
                if name is None:
                    if v1:
                        return 2, position + 1, None
                    found.append(ber.varbind(ber.enc_oid(oid), ber.tlv(ber.END_OF_MIB_VIEW, b"")))
                    continue
                cursors[position] = name
                found.append(ber.varbind(ber.enc_oid(name), self.mib[name]))
        return 0, 0, found

    def _chain(self, oid: Oid, rows: int, v1: bool) -> Iterator[bytes]:
        for _ in range(max(1, rows)):
            name = self._next(oid)
            if name is None:
                if not v1:
                    yield ber.varbind(ber.enc_oid(oid), ber.tlv(ber.END_OF_MIB_VIEW, b""))
                return
            oid = name
            yield ber.varbind(ber.enc_oid(oid), self.mib[oid])


StartAgent = Callable[..., Awaitable[tuple[Agent, str, int]]]
"""(MIB, script=None) → the agent, its address and port."""


@asynccontextmanager
async def agents(hosts: Iterator[str]) -> AsyncIterator[StartAgent]:
    """A starter of agents on the next of `hosts` (each on a port of the kernel's choosing):
    `await start(mib, script=None)` → (agent, host, port); all closed at the end."""
    transports: list[asyncio.BaseTransport] = []

    async def start(mib: dict[Oid, bytes], script: Script | None = None) -> tuple[Agent, str,
                                                                                    int]:
        host = next(hosts)
        port = free_port(host, tcp=False, udp=True)
        transport, agent = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: Agent(mib, script), local_addr=(host, port))
        transports.append(transport)
        return agent, host, port

    try:
        yield start
    finally:
        for transport in transports:
            transport.close()


def target(host: str, port: int, version: int = 2, timeout: float = 1.0,
           retries: int = 1) -> SnmpTarget:
    """A v1/v2c target of a scripted agent (community `public`)."""
    return SnmpTarget(host, port, SnmpCredentials(version=version), timeout, retries)
