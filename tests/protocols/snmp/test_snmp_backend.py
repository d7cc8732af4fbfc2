"""The gufo_snmp read path (`protocols/snmp/gufo_backend.py`) behind `SnmpClient`: the same
readings as pysnmp, and every behaviour pysnmp had (error statuses, v1 noSuchName, tooBig, the
non-increasing OID guard, retries, timeouts), against snmpsim and a scripted agent on loopback.

Addresses: 127.0.105.0-127.0.109.255.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from protocols.hosts import free_port
from protocols.snmp import oids
from protocols.snmp.client import SnmpClient
from protocols.snmp.gufo_backend import GufoReader, response_header
from protocols.snmp.model import (
    SnmpCredentials,
    SnmpError,
    SnmpTarget,
    SnmpTimeout,
    WalkStopped,
)
from protocols.snmp.printer import PrinterReading, read_printer
from simulator import ber
from tests.support.paths import SNMP_FIXTURES
from tests.support.snmpsim_agent import snmpsim

RECORDINGS = sorted(SNMP_FIXTURES.glob("*.snmprec"))
HOSTS = (f"127.0.{105 + n // 250}.{n % 250 + 1}" for n in itertools.count(10))

Oid = ber.Oid
Script = Callable[[ber.Message, int], list[tuple[float, bytes]] | None]
"""(request, its number from 1) → answers as (delay, datagram), or None for the usual answer."""

SUPPLIES = ber.parse_oid(oids.prtMarkerSuppliesLevel)


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
               varbinds: list[bytes] | None = None) -> bytes:
        """The answer RFC 3416 (v2c) or RFC 1157 (v1) gives, unless told otherwise."""
        if varbinds is None and not status:
            status, index, varbinds = self._lookup(request)
        if varbinds is None:  # an error: the request's variables come back
            varbinds = [ber.varbind(ber.enc_oid(oid), ber.tlv(tag, body))
                        for oid, tag, body in request.varbinds]
        return ber.encode_response(request.version, request.community, request.request_id,
                                   status, index, varbinds)

    def _lookup(self, request: ber.Message) -> tuple[int, int, list[bytes] | None]:
        v1 = request.version == 0
        names = sorted(self.mib)
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
        rows = request.error_index if request.pdu_type == ber.GETBULK else 1
        oid = request.varbinds[0][0]
        for _ in range(rows):
            later = [name for name in names if name > oid]
            if not later:
                if v1:
                    return 2, 1, None
                found.append(ber.varbind(ber.enc_oid(oid), ber.tlv(ber.END_OF_MIB_VIEW, b"")))
                break
            oid = later[0]
            found.append(ber.varbind(ber.enc_oid(oid), self.mib[oid]))
        return 0, 0, found


StartAgent = Callable[..., Awaitable[tuple[Agent, str, int]]]
"""(MIB, script=None) → the agent, its address and port."""


@pytest.fixture
async def agent_at() -> AsyncIterator[StartAgent]:
    transports = []

    async def start(mib: dict[Oid, bytes], script: Script | None = None) -> tuple[Agent, str,
                                                                                    int]:
        host = next(HOSTS)
        port = free_port(host, tcp=False, udp=True)
        transport, agent = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: Agent(mib, script), local_addr=(host, port))
        transports.append(transport)
        return agent, host, port

    yield start
    for transport in transports:
        transport.close()


def target(host: str, port: int, version: int = 2, timeout: float = 1.0,
           retries: int = 1) -> SnmpTarget:
    return SnmpTarget(host, port, SnmpCredentials(version=version), timeout, retries)


async def both(call: Callable[[SnmpClient], Awaitable[Any]]) -> tuple[Any, Any, SnmpClient]:
    """The result (or the exception) of `call` with the gufo_snmp client and with pysnmp only;
    the gufo_snmp client is closed but returned, to ask whether it needed pysnmp."""
    outcomes = []
    fast = SnmpClient()
    for client in (fast, SnmpClient(fast=False)):
        try:
            outcomes.append(await call(client))
        except SnmpError as exc:
            outcomes.append((type(exc), str(exc)))
        finally:
            await client.aclose()
    return outcomes[0], outcomes[1], fast


# -- real printers' recordings ---------------------------------------------------------------


@pytest.fixture(scope="module")
def recordings_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    with snmpsim(RECORDINGS, tmp_path_factory.mktemp("snmpsim"), host="127.0.105.1") as endpoint:
        yield endpoint


def _same(fast: PrinterReading, slow: PrinterReading) -> None:
    assert fast.values == slow.values
    assert [type(fast.values[k]) for k in fast.values] == [type(slow.values[k])
                                                          for k in fast.values]
    assert (fast.problems, fast.vendor, fast.context) == (slow.problems, slow.vendor,
                                                          slow.context)


@pytest.mark.parametrize("version", [2, 1])
async def test_recordings_read_exactly_as_with_pysnmp(recordings_agent: tuple[str, int],
                                                      version: int) -> None:
    host, port = recordings_agent
    fast, slow = SnmpClient(), SnmpClient(fast=False)
    try:
        for recording in RECORDINGS:
            name = recording.name.removesuffix(".snmprec")
            printer = SnmpTarget(host, port, SnmpCredentials(version=version, community=name))
            reading = await read_printer(fast, printer)
            assert reading.values, name
            _same(reading, await read_printer(slow, printer))
        assert not fast.pysnmp_loaded
    finally:
        await fast.aclose()
        await slow.aclose()


def test_a_client_outlives_its_event_loop(recordings_agent: tuple[str, int]) -> None:
    """Sockets are watched by the loop that uses them: a second asyncio.run still reads."""
    host, port = recordings_agent
    client = SnmpClient()
    printer = SnmpTarget(host, port, SnmpCredentials(community="sharp"))
    first = asyncio.run(read_printer(client, printer))
    second = asyncio.run(read_printer(client, printer))
    client.close()
    # 212: the system group, the Printer-MIB and HOST-RESOURCES tables and the Sharp counter table
    assert first.values == second.values and len(first.values) == 212


# -- what gufo_snmp does not show: error statuses --------------------------------------------


async def test_v1_no_such_name_drops_the_missing_oid(agent_at: StartAgent) -> None:
    agent, host, port = await agent_at({(1, 3, 6, 1, 2, 1, 1, 1, 0): ber.enc_octets(b"descr"),
                                        (1, 3, 6, 1, 2, 1, 1, 5, 0): ber.enc_octets(b"name")})
    wanted = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.5.0"]
    fast, slow, client = await both(lambda c: c.get(target(host, port, version=1), wanted))
    assert fast == slow == {"1.3.6.1.2.1.1.1.0": b"descr", "1.3.6.1.2.1.1.5.0": b"name"}
    assert not client.pysnmp_loaded
    assert [len(r.varbinds) for r in agent.requests] == [3, 2, 3, 2]  # gufo_snmp, then pysnmp


async def test_v2c_get_of_absent_objects_is_empty_without_pysnmp(agent_at: StartAgent) -> None:
    _, host, port = await agent_at({(1, 3, 6, 1, 2, 1, 1, 1, 0): ber.enc_octets(b"descr")})
    fast, slow, client = await both(lambda c: c.get(target(host, port), ["1.3.6.1.2.1.1.4.0"]))
    assert fast == slow == {}
    assert not client.pysnmp_loaded


async def test_error_status_fails_the_walk_as_with_pysnmp(agent_at: StartAgent) -> None:
    agent, host, port = await agent_at(column(SUPPLIES, 3))
    agent.script = lambda request, n: [(0.0, agent.answer(request, status=5, index=1))]
    fast, slow, client = await both(
        lambda c: c.walk(target(host, port), oids.prtMarkerSuppliesLevel))
    assert fast == slow == (SnmpError, f"{host}:{port}: walk of "
                                       f"{oids.prtMarkerSuppliesLevel} failed: genErr")
    assert not client.pysnmp_loaded


async def test_too_big_is_asked_again_with_fewer_rows(agent_at: StartAgent) -> None:
    """tooBig (which RFC 3416 agents should not send for GETBULK): pysnmp halves max-repetitions
    until the answer fits, and the walk is complete."""
    agent, host, port = await agent_at(column(SUPPLIES, 20))

    def too_big(request: ber.Message, _: int) -> list[tuple[float, bytes]] | None:
        if request.pdu_type == ber.GETBULK and request.error_index > 6:
            return [(0.0, agent.answer(request, status=1, index=0))]
        return None

    agent.script = too_big
    fast, slow, client = await both(
        lambda c: c.walk(target(host, port), oids.prtMarkerSuppliesLevel))
    assert fast == slow and len(fast) == 20
    assert client.pysnmp_loaded


async def test_the_end_of_the_mib_view_ends_the_walk(agent_at: StartAgent) -> None:
    for version in (2, 1):
        _, host, port = await agent_at(column(SUPPLIES, 4, tail=False))
        fast, slow, client = await both(
            lambda c, h=host, p=port, v=version: c.walk(target(h, p, v),
                                                         oids.prtMarkerSuppliesLevel))
        assert fast == slow and len(fast) == 4
        assert not client.pysnmp_loaded


async def test_a_non_increasing_oid_ends_the_walk(agent_at: StartAgent) -> None:
    """The walk stops at the OID that goes back, says so, and keeps the values before it."""
    agent, host, port = await agent_at(column(SUPPLIES, 6))
    rows = [ber.varbind(ber.enc_oid((*SUPPLIES, 1, i)), ber.enc_int(i)) for i in (1, 2, 3, 2, 4)]
    agent.script = lambda request, n: [(0.0, agent.answer(request, varbinds=rows))]

    async def walk(client: SnmpClient) -> tuple[str, dict[str, Any], str]:
        with pytest.raises(WalkStopped) as stopped:
            await client.walk(target(host, port), oids.prtMarkerSuppliesLevel)
        return stopped.value.reason, stopped.value.values, str(stopped.value)

    fast, slow, _ = await both(walk)
    assert fast == slow
    reason, values, message = fast
    assert reason == "loop" and values == {
        f"{oids.prtMarkerSuppliesLevel}.1.{i}": i for i in (1, 2, 3)}
    assert f"answered {oids.prtMarkerSuppliesLevel}.1.2 after {oids.prtMarkerSuppliesLevel}.1.3" \
        in message


async def test_values_of_every_type_as_with_pysnmp(agent_at: StartAgent) -> None:
    base = (1, 3, 6, 1, 4, 1, 32473, 9)
    values = [ber.enc_int(-5), ber.enc_int(2**31 - 1), ber.enc_octets(b""),
              ber.enc_octets(b"\x00\xff binary"), ber.enc_oid((1, 3, 6, 1, 4, 1, 11)),
              ber.tlv(ber.IP_ADDRESS, bytes([192, 168, 1, 20])),
              ber.enc_unsigned(2**32 - 1, ber.COUNTER32), ber.enc_unsigned(7, ber.GAUGE32),
              ber.enc_unsigned(123456, ber.TIMETICKS), ber.enc_unsigned(2**64 - 1, ber.COUNTER64),
              ber.tlv(ber.OPAQUE, b"\x9f\x78\x04\x3f\x80\x00\x00")]
    _, host, port = await agent_at({(*base, i): value for i, value in enumerate(values, 1)})
    fast, slow, client = await both(
        lambda c: c.walk(target(host, port), "1.3.6.1.4.1.32473.9"))
    assert fast == slow and len(fast) == len(values)
    assert [type(v) for v in fast.values()] == [type(v) for v in slow.values()]
    assert not client.pysnmp_loaded


async def test_an_answer_gufo_cannot_decode_is_read_by_pysnmp(agent_at: StartAgent) -> None:
    """NsapAddress (an SNMPv1 type gufo_snmp does not know): the request goes again through
    pysnmp, which does."""
    oid = (1, 3, 6, 1, 2, 1, 1, 5, 0)
    agent, host, port = await agent_at({oid: ber.enc_octets(b"name")})
    odd = ber.varbind(ber.enc_oid(oid), ber.tlv(0x45, b"\x01\x02"))
    agent.script = lambda request, n: [(0.0, agent.answer(request, varbinds=[odd]))] \
        if n == 1 else None
    client = SnmpClient()
    try:
        assert await client.get(target(host, port), ["1.3.6.1.2.1.1.5.0"]) == {
            "1.3.6.1.2.1.1.5.0": b"name"}
        assert client.pysnmp_loaded and len(agent.requests) == 2
    finally:
        await client.aclose()


# -- what gufo_snmp does not do: retries, one request per socket ------------------------------


async def test_a_lost_answer_is_asked_for_again(agent_at: StartAgent) -> None:
    agent, host, port = await agent_at(column(SUPPLIES, 3))
    agent.script = lambda request, n: [] if n == 1 else None
    client = SnmpClient()
    try:
        values = await client.walk(target(host, port, timeout=0.3),
                                   oids.prtMarkerSuppliesLevel)
        assert len(values) == 3 and len(agent.requests) == 2
    finally:
        await client.aclose()


async def test_a_late_answer_is_never_taken_for_a_later_request(agent_at: StartAgent) -> None:
    """The first GET is answered after its timeout, with a value of its own: the retry and the
    next GET get their own answers."""
    oid = (1, 3, 6, 1, 2, 1, 1, 5, 0)
    agent, host, port = await agent_at({oid: ber.enc_octets(b"now")})
    stale = ber.varbind(ber.enc_oid(oid), ber.enc_octets(b"stale"))

    def late_first(request: ber.Message, n: int) -> list[tuple[float, bytes]] | None:
        if n == 1:
            return [(0.4, agent.answer(request, varbinds=[stale]))]
        return [(0.5, agent.answer(request))] if n == 2 else None

    agent.script = late_first
    client = SnmpClient()
    try:
        printer = target(host, port, timeout=0.3, retries=2)
        assert await client.get(printer, ["1.3.6.1.2.1.1.5.0"]) == {"1.3.6.1.2.1.1.5.0": b"now"}
        await asyncio.sleep(0.3)  # the other late answer arrives meanwhile
        assert await client.get(printer, ["1.3.6.1.2.1.1.5.0"]) == {"1.3.6.1.2.1.1.5.0": b"now"}
        assert len(agent.requests) == 4
    finally:
        await client.aclose()


async def test_duplicate_answers_are_dropped(agent_at: StartAgent) -> None:
    agent, host, port = await agent_at(column(SUPPLIES, 30))
    agent.script = lambda request, n: [(0.0, agent.answer(request))] * 2
    client = SnmpClient()
    try:
        for _ in range(2):
            values = await client.walk(target(host, port), oids.prtMarkerSuppliesLevel)
            assert list(values) == [f"{oids.prtMarkerSuppliesLevel}.1.{i}" for i in range(1, 31)]
        assert not client.pysnmp_loaded
    finally:
        await client.aclose()


async def test_one_request_at_a_time_per_agent(agent_at: StartAgent) -> None:
    """Concurrent walks of one agent (as `read_printer` does) are queued, never cut short."""
    mib = {**column(SUPPLIES, 40), **column(ber.parse_oid(oids.prtMarkerSuppliesMaxCapacity), 40)}
    agent, host, port = await agent_at(mib)
    pending = 0
    overlaps = []

    def answered() -> None:
        nonlocal pending
        pending -= 1

    def slow(request: ber.Message, _: int) -> list[tuple[float, bytes]]:
        nonlocal pending
        overlaps.append(pending)  # requests still unanswered when this one came
        pending += 1
        asyncio.get_running_loop().call_later(0.019, answered)
        return [(0.02, agent.answer(request))]

    agent.script = slow
    client = SnmpClient()
    try:
        printer = target(host, port)
        results = await asyncio.gather(
            client.walk(printer, oids.prtMarkerSuppliesLevel),
            client.walk(printer, oids.prtMarkerSuppliesMaxCapacity),
            client.walk(printer, oids.prtMarkerSuppliesLevel))
        assert [len(r) for r in results] == [40, 40, 40]
        assert max(overlaps) == 0
    finally:
        await client.aclose()


async def test_a_table_that_grew_is_read_whole(agent_at: StartAgent) -> None:
    """The next walk asks for as many rows as the last one found (+1): more rows are still read."""
    agent, host, port = await agent_at(column(SUPPLIES, 3))
    client = SnmpClient()
    try:
        printer = target(host, port)
        assert len(await client.walk(printer, oids.prtMarkerSuppliesLevel)) == 3
        agent.mib.update(column(SUPPLIES, 30))
        assert len(await client.walk(printer, oids.prtMarkerSuppliesLevel)) == 30
        assert agent.requests[1].error_index == 4  # max-repetitions: 3 rows + 1
    finally:
        await client.aclose()


async def test_no_answer_is_a_timeout_after_the_retries() -> None:
    """Nothing listens (the kernel answers ICMP port unreachable): a timeout, as with pysnmp."""
    host = next(HOSTS)
    port = free_port(host, tcp=False, udp=True)
    client = SnmpClient()
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        with pytest.raises(SnmpTimeout, match=r"no SNMP response within 0\.2 s"):
            await client.get(target(host, port, timeout=0.2, retries=1), ["1.3.6.1.2.1.1.1.0"])
        assert 0.35 < loop.time() - started < 3
    finally:
        await client.aclose()


async def test_least_recently_used_sockets_are_closed(agent_at: StartAgent) -> None:
    """Beyond `max_sessions` agents, idle sockets are closed when another agent is asked; one in
    use (a walk between two of its requests, or queued) never is."""
    client = SnmpClient()
    client._fast = GufoReader(max_sessions=2)
    printers = []
    for _ in range(4):
        _, host, port = await agent_at(column(SUPPLIES, 60))
        printers.append(target(host, port))
    try:
        for _ in range(2):
            results = await asyncio.gather(*(client.walk(printer, oids.prtMarkerSuppliesLevel)
                                             for printer in printers for _ in range(2)))
            assert [len(r) for r in results] == [60] * 8
        _, host, port = await agent_at(column(SUPPLIES, 60))  # a new agent, all others idle
        assert len(await client.walk(target(host, port), oids.prtMarkerSuppliesLevel)) == 60
        assert len(client._fast._sessions) == 2
    finally:
        await client.aclose()


async def test_host_names_go_through_pysnmp(agent_at: StartAgent) -> None:
    """gufo_snmp takes addresses only; pysnmp resolves names."""
    transport, agent = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: Agent(column(SUPPLIES, 2)), local_addr=("127.0.0.1", 0))
    try:
        client = SnmpClient()
        printer = target("localhost", transport.get_extra_info("sockname")[1])
        assert len(await client.walk(printer, oids.prtMarkerSuppliesLevel)) == 2
        assert client.pysnmp_loaded and agent.requests
        await client.aclose()
    finally:
        transport.close()


# -- the answer's header, read before gufo_snmp reads the answer ------------------------------


@pytest.mark.parametrize(("request_id", "status", "index", "community", "rows"), [
    (1, 0, 0, b"public", 1),
    (-2**31, 2, 3, b"c" * 200, 30),  # long-form lengths everywhere
    (2**31 - 1, 18, 255, b"", 0),
])
def test_response_header(request_id: int, status: int, index: int, community: bytes,
                         rows: int) -> None:
    varbinds = [ber.varbind(ber.enc_oid((*SUPPLIES, 1, i)), ber.enc_octets(b"x" * 50))
                for i in range(rows)]
    message = ber.encode_response(1, community, request_id, status, index, varbinds)
    assert response_header(message[:512]) == (request_id, status, index)


@pytest.mark.parametrize("data", [
    b"", b"\x30", b"\x30\x03\x02\x01\x01", b"garbage" * 20,
    ber.encode_response(1, b"public", 1, 0, 0, [])[:-4],  # truncated before error-index
    ber.tlv(ber.SEQUENCE, ber.enc_int(1) + ber.enc_octets(b"public")
            + ber.tlv(ber.GET, ber.enc_int(1) + ber.enc_int(0) + ber.enc_int(0))),  # a request
])
def test_what_is_not_an_answer_has_no_header(data: bytes) -> None:
    assert response_header(data) is None
