"""The fast read path at scale (issue 20): one socket for every agent, answers matched by source
and request-id, several subtrees per GETBULK, answers decoded and checked in Python.

Addresses: scripted agents 127.0.150.1-127.0.150.99, their impostors 127.0.150.100-127.0.150.199,
simulated printers 127.0.151.1-127.0.151.250.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
from collections.abc import AsyncIterator

import pytest

from protocols.snmp import oids
from protocols.snmp.ber_codec import (
    ABSENT,
    END_OF_MIB,
    Malformed,
    NotAnswer,
    Unsure,
    decode_header,
    decode_varbinds,
    encode_request,
)
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import SnmpCredentials, SnmpError, SnmpTarget
from protocols.snmp.printer import EXPECTED_ROWS, read_printer, reading_plan
from simulator import ber
from tests.support.paths import SNMP_FIXTURES
from tests.support.scripted_snmp import StartAgent, agents, column, target
from tests.support.sim_helpers import sim_process

HOSTS = (f"127.0.150.{n}" for n in itertools.count(1))
IMPOSTORS = (f"127.0.150.{n}" for n in itertools.count(100))
RECORDINGS = sorted(SNMP_FIXTURES.glob("*.snmprec"))
NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
SUPPLIES = ber.parse_oid(oids.prtMarkerSuppliesLevel)
CAPACITY = ber.parse_oid(oids.prtMarkerSuppliesMaxCapacity)
DESCRIPTION = ber.parse_oid(oids.prtMarkerSuppliesDescription)


@pytest.fixture
async def agent_at() -> AsyncIterator[StartAgent]:
    async with agents(HOSTS) as start:
        yield start


def tables(rows: int = 5) -> dict[ber.Oid, bytes]:
    """Three columns of a supplies table, the last of strings; something after them."""
    mib = {**column(SUPPLIES, rows, tail=False), **column(CAPACITY, rows, tail=False)}
    mib.update({(*DESCRIPTION, 1, i): ber.enc_octets(f"toner {i}") for i in range(1, rows + 1)})
    mib[(1, 3, 6, 1, 2, 1, 43, 12, 1, 1, 4, 1, 1)] = ber.enc_octets(b"cyan")
    return mib


ROOTS = [oids.prtMarkerSuppliesLevel, oids.prtMarkerSuppliesMaxCapacity,
         oids.prtMarkerSuppliesDescription, oids.prtMarkerColorantValue, "1.3.6.1.4.1.32473.1"]
"""Three tables, a fourth of one row and a subtree the agent does not have."""


async def one_by_one(client: SnmpClient, printer: SnmpTarget,
                     roots: list[str]) -> dict[str, object]:
    outcomes: dict[str, object] = {}
    for root in roots:
        try:
            outcomes[root] = await client.walk(printer, root, EXPECTED_ROWS.get(root))
        except SnmpError as exc:
            outcomes[root] = str(exc)
    return outcomes


async def together(client: SnmpClient, printer: SnmpTarget,
                   roots: list[str]) -> dict[str, object]:
    outcomes = await client.walk_each(printer, roots, None, EXPECTED_ROWS)
    return {root: str(o) if isinstance(o, SnmpError) else o for root, o in outcomes.items()}


# -- who may answer ------------------------------------------------------------------------------


async def test_answers_from_elsewhere_or_with_unknown_ids_are_ignored(
        agent_at: StartAgent) -> None:
    """Before the agent's own answer come: the right request-id from another port of its
    address, and from another address; from its own address and port, an answer with another
    request-id, and garbage.  Only the agent's answer is taken."""
    agent, host, port = await agent_at({NAME: ber.enc_octets(b"genuine")})
    impostors = []
    for address in (host, next(IMPOSTORS)):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((address, 0))
        impostors.append(sock)
    fake = [ber.varbind(ber.enc_oid(NAME), ber.enc_octets(b"spoofed"))]
    client = SnmpClient()

    def spoof(request: ber.Message, _: int) -> list[tuple[float, bytes]]:
        for sock in impostors:
            sock.sendto(agent.answer(request, varbinds=fake), ("127.0.0.1", _client_port(client)))
        return [(0.0, agent.answer(request, varbinds=fake, request_id=request.request_id ^ 1)),
                (0.0, b"\x30\x03\x02\x01\x01"),
                (0.05, agent.answer(request))]

    try:
        printer = target(host, port)
        await client.get(printer, [oid_text(NAME)])  # the client's socket, for the impostors
        agent.script = spoof
        for _ in range(3):
            assert await client.get(printer, [oid_text(NAME)]) == {oid_text(NAME): b"genuine"}
        assert len(agent.requests) == 4
    finally:
        await client.aclose()
        for sock in impostors:
            sock.close()


def _client_port(client: SnmpClient) -> int:
    assert client._fast is not None
    return client._fast._sockets[socket.AF_INET].getsockname()[1]


def oid_text(oid: ber.Oid) -> str:
    return ber.oid_str(oid)


async def test_a_late_answer_to_a_retried_request_is_not_taken_for_the_retry(
        agent_at: StartAgent) -> None:
    """The first request's answer comes while the retry waits: the retry has a request-id of
    its own, and waits for its own answer."""
    agent, host, port = await agent_at({NAME: ber.enc_octets(b"fresh")})
    stale = [ber.varbind(ber.enc_oid(NAME), ber.enc_octets(b"stale"))]
    agent.script = lambda request, n: ([(0.4, agent.answer(request, varbinds=stale))] if n == 1
                                       else [(0.2, agent.answer(request))])
    client = SnmpClient()
    try:
        printer = target(host, port, timeout=0.3, retries=1)
        assert await client.get(printer, [oid_text(NAME)]) == {oid_text(NAME): b"fresh"}
        first, retry = agent.requests
        assert first.request_id != retry.request_id
    finally:
        await client.aclose()


# -- many agents, two descriptors ----------------------------------------------------------------


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_many_agents_are_read_through_two_descriptors() -> None:
    """250 virtual printers read at once: the client's descriptors do not grow with them."""
    async with sim_process("127.0.151.1", 250) as sim:
        printers = [SnmpTarget(f"127.0.151.{n}", sim["snmp"], timeout=5.0, retries=2)
                    for n in range(1, 251)]
        client = SnmpClient()
        try:
            await read_printer(client, printers[0])
            before = open_descriptors()
            most = before

            async def read(printer: SnmpTarget) -> int:
                nonlocal most
                reading = await read_printer(client, printer)
                most = max(most, open_descriptors())
                return len(reading.values)

            few = await asyncio.gather(*(read(p) for p in printers[:10]))
            with_few = most
            many = await asyncio.gather(*(read(p) for p in printers))
        finally:
            await client.aclose()
    assert many[:10] == few and min(many) > 20, (few, many)
    assert with_few == before and most == before, (before, with_few, most)
    assert len(client.memory) == 250


# -- several subtrees per request -----------------------------------------------------------------


@pytest.mark.parametrize("version", [2, 1])
def test_walks_together_read_what_walks_one_by_one_read(recorded_printers: tuple[str, int],
                                                        version: int) -> None:
    """Every recording's subtrees (as `read_printer` walks them), together and one by one."""
    host, port = recorded_printers

    async def compare() -> None:
        client, single = SnmpClient(), SnmpClient()
        try:
            for recording in RECORDINGS:
                name = recording.name.removesuffix(".snmprec")
                printer = SnmpTarget(host, port, SnmpCredentials(version=version, community=name))
                vendor = (await read_printer(client, printer)).vendor
                roots = list(reading_plan(vendor)[0])
                assert await together(client, printer, roots) == await one_by_one(
                    single, printer, roots), name
                assert not client.memory.one_subtree(printer), name
        finally:
            client.close()
            single.close()

    asyncio.run(compare())


async def test_walks_together_on_the_simulator() -> None:
    async with sim_process("127.0.151.1", 2) as sim:
        client, single = SnmpClient(), SnmpClient()
        try:
            for n in (1, 2):
                printer = SnmpTarget(f"127.0.151.{n}", sim["snmp"])
                roots = list(reading_plan((await read_printer(client, printer)).vendor)[0])
                for _ in range(2):  # without, then with, the rows hints
                    assert await together(client, printer, roots) == await one_by_one(
                        single, printer, roots)
        finally:
            client.close()
            single.close()


@pytest.mark.parametrize("first_only", [False, True], ids=["rfc3416", "first-varbind-only"])
async def test_an_agent_that_answers_the_first_varbind_only(agent_at: StartAgent,
                                                             first_only: bool) -> None:
    """Such an agent's answers are not taken for the other subtrees': it is walked one subtree
    per request, and reads the same.  An agent that follows RFC 3416 needs fewer requests."""
    agent, host, port = await agent_at(tables())
    agent.first_only = first_only
    printer = target(host, port)
    async with SnmpClient() as single:
        expected = await one_by_one(single, printer, ROOTS)
    agent.requests.clear()
    client = SnmpClient()
    try:
        assert await together(client, printer, ROOTS) == expected
        assert client.memory.one_subtree(printer) == first_only
        agent.requests.clear()
        assert await together(client, printer, ROOTS) == expected  # with the rows hints
        several = [r for r in agent.requests if len(r.varbinds) > 1]
        assert not several if first_only else len(agent.requests) <= 2, [
            (len(r.varbinds), r.error_index) for r in agent.requests]
    finally:
        await client.aclose()


async def test_too_big_asks_for_fewer_rows_then_one_subtree_each(agent_at: StartAgent) -> None:
    """tooBig for anything above 3 varbinds: fewer rows, then one subtree a request."""
    agent, host, port = await agent_at(tables(6))

    def small(request: ber.Message, _: int) -> list[tuple[float, bytes]] | None:
        if request.pdu_type == ber.GETBULK and len(request.varbinds) * request.error_index > 3:
            return [(0.0, agent.answer(request, status=1))]
        return None

    async with SnmpClient() as single:
        expected = await one_by_one(single, target(host, port), ROOTS)
    agent.script = small
    client = SnmpClient()
    try:
        assert await together(client, target(host, port), ROOTS) == expected
        assert not client.pysnmp_loaded
    finally:
        await client.aclose()


@pytest.mark.parametrize("version", [2, 1])
async def test_an_error_status_fails_its_subtree_only(agent_at: StartAgent, version: int) -> None:
    """genErr at the index of one subtree's varbind: that walk fails, the others are read."""
    agent, host, port = await agent_at(tables())
    bad = ber.parse_oid(oids.prtMarkerSuppliesMaxCapacity)

    def fail(request: ber.Message, _: int) -> list[tuple[float, bytes]] | None:
        for position, (oid, _, _) in enumerate(request.varbinds, 1):
            if oid[:len(bad)] == bad:
                return [(0.0, agent.answer(request, status=5, index=position))]
        return None

    agent.script = fail
    client = SnmpClient()
    try:
        outcomes = await together(client, target(host, port, version), ROOTS)
    finally:
        await client.aclose()
    assert outcomes[oids.prtMarkerSuppliesMaxCapacity] == (
        f"{host}:{port}: walk of {oids.prtMarkerSuppliesMaxCapacity} failed: genErr")
    assert len(outcomes[oids.prtMarkerSuppliesLevel]) == 5  # type: ignore[arg-type]
    assert len(outcomes[oids.prtMarkerSuppliesDescription]) == 5  # type: ignore[arg-type]


# -- the codec -----------------------------------------------------------------------------------


def answer(*varbinds: bytes, request_id: int = 7) -> bytes:
    return ber.encode_response(1, b"public", request_id, 0, 0, list(varbinds))


def decode(data: bytes) -> list[tuple[str, object]]:
    *_, start, end = decode_header(data)
    return decode_varbinds(data, start, end)


def test_values_decode_as_pysnmp_gives_them() -> None:
    base = (1, 3, 6, 1, 4, 1, 32473)
    values = {
        ber.enc_int(-129): -129, ber.enc_int(2**63 - 1): 2**63 - 1,
        ber.enc_octets(b"x" * 300): b"x" * 300, ber.enc_oid((1, 3, 6, 1, 4, 1, 2**32 - 1)):
            f"1.3.6.1.4.1.{2**32 - 1}",
        ber.tlv(ber.IP_ADDRESS, bytes([10, 0, 0, 255])): "10.0.0.255",
        ber.enc_unsigned(2**32 - 1, ber.COUNTER32): 2**32 - 1,
        ber.enc_unsigned(2**64 - 1, ber.COUNTER64): 2**64 - 1,
        ber.tlv(ber.NULL, b""): None, ber.tlv(ber.NO_SUCH_INSTANCE, b""): ABSENT,
        ber.tlv(ber.END_OF_MIB_VIEW, b""): END_OF_MIB,
    }
    data = answer(*(ber.varbind(ber.enc_oid((*base, i, 0)), value)
                    for i, value in enumerate(values)))
    assert decode(data) == [(f"1.3.6.1.4.1.32473.{i}.0", value)
                            for i, value in enumerate(values.values())]
    assert decode_header(data)[:4] == (1, 7, 0, 0)


BAD_OID = ber.tlv(ber.OBJECT_IDENTIFIER, b"\x2b\x06\x80\x01")
"""A sub-identifier padded with 0x80 (X.690 8.19.2 forbids it)."""


@pytest.mark.parametrize(("value", "problem"), [
    (ber.tlv(ber.INTEGER, b"\x01" * 9), "an integer of 9 bytes"),
    (ber.tlv(ber.COUNTER64, b"\x01" * 10), "an integer of 10 bytes"),
    (ber.tlv(ber.INTEGER, b""), "an integer of 0 bytes"),
    (BAD_OID, "padded"),
    (ber.tlv(ber.OBJECT_IDENTIFIER, b"\x2b\x86"), "not an OBJECT IDENTIFIER"),
    (ber.tlv(ber.IP_ADDRESS, b"\x01\x02\x03"), "an IpAddress of 3 bytes"),
    (ber.tlv(ber.NO_SUCH_OBJECT, b"\x00"), "with contents"),
])
def test_malformed_values(value: bytes, problem: str) -> None:
    data = answer(ber.varbind(ber.enc_oid(NAME), value))
    with pytest.raises(Malformed, match=problem):
        decode(data)


@pytest.mark.parametrize("value", [ber.tlv(0x45, b"\x01\x02"),  # NsapAddress
                                   ber.tlv(ber.COUNTER32, b"\xff"),  # a negative counter
                                   ber.tlv(0x9F, b"\x01")])
def test_values_it_does_not_know_are_left_to_pysnmp(value: bytes) -> None:
    with pytest.raises(Unsure):
        decode(answer(ber.varbind(ber.enc_oid(NAME), value)))


def test_every_cut_and_every_length_is_checked() -> None:
    """Cut anywhere, or with any length byte raised, an answer is refused, never read past."""
    data = answer(*(ber.varbind(ber.enc_oid((*SUPPLIES, 1, i)), ber.enc_octets(b"x" * i))
                    for i in (1, 130, 3)))
    assert len(decode(data)) == 3
    for cut in range(len(data)):
        with pytest.raises((NotAnswer, Malformed)):
            decode(data[:cut])
    for position in range(len(data)):
        grown = bytearray(data)
        grown[position] = min(255, grown[position] + 1)
        with contextlib.suppress(NotAnswer, Malformed, Unsure):
            decode(bytes(grown))


def test_requests_encode_as_pysnmp_reads_them() -> None:
    data = encode_request(1, b"public@ctx", 0xA5, 0x01020304, 0, 40,
                          [oids.prtMarkerSuppliesLevel, "1.3.6.1.4.1.32473.4294967295"])
    message = ber.decode_message(data)
    assert (message.version, message.community, message.pdu_type, message.request_id) == (
        1, b"public@ctx", ber.GETBULK, 0x01020304)
    assert (message.error_status, message.error_index) == (0, 40)
    assert [ber.oid_str(oid) for oid, _, _ in message.varbinds] == [
        oids.prtMarkerSuppliesLevel, "1.3.6.1.4.1.32473.4294967295"]


async def test_a_malformed_answer_fails_the_read_not_the_client(agent_at: StartAgent) -> None:
    """A bad OID in a value: the GET fails with what is wrong, pysnmp is not asked, and the
    next GET is answered."""
    agent, host, port = await agent_at({NAME: ber.enc_octets(b"name")})
    odd = ber.varbind(ber.enc_oid(NAME), BAD_OID)
    agent.script = lambda request, n: [(0.0, agent.answer(request, varbinds=[odd]))] \
        if n == 1 else None
    client = SnmpClient()
    try:
        with pytest.raises(SnmpError, match=r"malformed answer: .*padded"):
            await client.get(target(host, port), [oid_text(NAME)])
        assert await client.get(target(host, port), [oid_text(NAME)]) == {
            oid_text(NAME): b"name"}
        assert not client.pysnmp_loaded
    finally:
        await client.aclose()
