"""The fast read path (`udp_reader`, `ber_codec`, `bulk_walk`) behind `SnmpClient`: the same
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
from protocols.snmp.ber_codec import NotAnswer, decode_header
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import (
    SnmpCredentials,
    SnmpError,
    SnmpTarget,
    SnmpTimeout,
    WalkStopped,
)
from protocols.snmp.printer import PrinterReading, read_printer
from protocols.snmp.udp_reader import MAX_IN_FLIGHT
from protocols.snmp.walk_memory import WalkMemory
from simulator import ber
from tests.support.paths import SNMP_FIXTURES
from tests.support.scripted_snmp import Agent, StartAgent, agents, column, target
from tests.support.snmpsim_agent import snmpsim

RECORDINGS = sorted(SNMP_FIXTURES.glob("*.snmprec"))
HOSTS = (f"127.0.{105 + n // 250}.{n % 250 + 1}" for n in itertools.count(10))

SUPPLIES = ber.parse_oid(oids.prtMarkerSuppliesLevel)


@pytest.fixture
async def agent_at() -> AsyncIterator[StartAgent]:
    async with agents(HOSTS) as start:
        yield start


async def both(call: Callable[[SnmpClient], Awaitable[Any]]) -> tuple[Any, Any, SnmpClient]:
    """The result (or the exception) of `call` with the fast path and with pysnmp only; the fast
    client is closed but returned, to ask whether it needed pysnmp."""
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
    # 160: the system group, the Printer-MIB and HOST-RESOURCES columns and the Sharp counter table
    assert first.values == second.values and len(first.values) == 160


# -- error statuses -------------------------------------------------------------


async def test_v1_no_such_name_drops_the_missing_oid(agent_at: StartAgent) -> None:
    agent, host, port = await agent_at({(1, 3, 6, 1, 2, 1, 1, 1, 0): ber.enc_octets(b"descr"),
                                        (1, 3, 6, 1, 2, 1, 1, 5, 0): ber.enc_octets(b"name")})
    wanted = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.5.0"]
    fast, slow, client = await both(lambda c: c.get(target(host, port, version=1), wanted))
    assert fast == slow == {"1.3.6.1.2.1.1.1.0": b"descr", "1.3.6.1.2.1.1.5.0": b"name"}
    assert not client.pysnmp_loaded
    assert [len(r.varbinds) for r in agent.requests] == [3, 2, 3, 2]  # fast path, then pysnmp


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
    """tooBig (which RFC 3416 agents should not send for GETBULK): max-repetitions is halved
    until the answer fits, and the walk is complete, on both paths."""
    agent, host, port = await agent_at(column(SUPPLIES, 20))

    def too_big(request: ber.Message, _: int) -> list[tuple[float, bytes]] | None:
        if request.pdu_type == ber.GETBULK and request.error_index > 6:
            return [(0.0, agent.answer(request, status=1, index=0))]
        return None

    agent.script = too_big
    fast, slow, client = await both(
        lambda c: c.walk(target(host, port), oids.prtMarkerSuppliesLevel))
    assert fast == slow and len(fast) == 20
    assert not client.pysnmp_loaded


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


async def test_an_answer_the_codec_cannot_decode_is_read_by_pysnmp(agent_at: StartAgent) -> None:
    """NsapAddress (an SNMPv1 type the codec does not know): the request goes again through
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


# -- retries, late and duplicate answers, requests in flight per agent -----------------------


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


async def test_few_requests_at_a_time_per_agent(agent_at: StartAgent) -> None:
    """Concurrent walks of one agent are queued beyond `MAX_IN_FLIGHT`, never cut short."""
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
        assert max(overlaps) == MAX_IN_FLIGHT - 1
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


async def test_walk_memory_is_bounded(agent_at: StartAgent) -> None:
    """Beyond `agents_kept` agents, the least recently walked are forgotten: their next walk asks
    for the default rows, and reads them all."""
    client = SnmpClient()
    client.memory = WalkMemory(agents_kept=2)
    printers = []
    for _ in range(4):
        _, host, port = await agent_at(column(SUPPLIES, 60))
        printers.append(target(host, port))
    try:
        for _ in range(2):
            results = await asyncio.gather(*(client.walk(printer, oids.prtMarkerSuppliesLevel)
                                             for printer in printers for _ in range(2)))
            assert [len(r) for r in results] == [60] * 8
        for printer in printers:  # in turn: the last two are remembered
            assert len(await client.walk(printer, oids.prtMarkerSuppliesLevel)) == 60
        assert len(client.memory) == 2
        assert client.memory.rows(printers[0], oids.prtMarkerSuppliesLevel) is None
        assert client.memory.rows(printers[-1], oids.prtMarkerSuppliesLevel) == 60
    finally:
        await client.aclose()


async def test_host_names_go_through_pysnmp(agent_at: StartAgent) -> None:
    """The fast path takes addresses only; pysnmp resolves names."""
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


# -- the answer's header, read first to find its request ----------------------------------


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
    assert decode_header(message)[:4] == (1, request_id, status, index)


@pytest.mark.parametrize("data", [
    b"", b"\x30", b"\x30\x03\x02\x01\x01", b"garbage" * 20,
    ber.encode_response(1, b"public", 1, 0, 0, [])[:-4],  # truncated before error-index
    ber.tlv(ber.SEQUENCE, ber.enc_int(1) + ber.enc_octets(b"public")
            + ber.tlv(ber.GET, ber.enc_int(1) + ber.enc_int(0) + ber.enc_int(0))),  # a request
])
def test_what_is_not_an_answer_has_no_header(data: bytes) -> None:
    with pytest.raises(NotAnswer):
        decode_header(data)
