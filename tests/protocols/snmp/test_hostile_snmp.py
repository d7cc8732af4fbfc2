"""SNMP reads of a hostile agent (`tests/support/hostile_snmp.py`) are bounded (issue 19): an
endless table is cut at its row limit or deadline, a looping one where it goes back, malformed
datagrams are no answer (every length is checked before it is followed), and the rest of the
device's data is still read.  Addresses 127.0.147.0-127.0.147.99.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from protocols.snmp import oids
from protocols.snmp.ber_codec import Malformed, NotAnswer, decode_header, decode_varbinds
from protocols.snmp.client import MAX_WALK_ROWS, SnmpClient
from protocols.snmp.model import SnmpTarget, WalkStopped
from protocols.snmp.printer import EXPECTED_ROWS, read_printer
from tests.support.hostile_snmp import (
    MALFORMED,
    PRT_ALERT_ENTRY,
    SERIAL,
    Behaviour,
    Request,
    hostile_agent,
    integer,
    octets,
    response,
)

HOST = "127.0.147.10"
SERIAL_OID = f"{oids.prtGeneralSerialNumber}.1"
LEVEL_OID = f"{oids.prtMarkerSuppliesLevel}.1.1"


def target(port: int) -> SnmpTarget:
    return SnmpTarget(HOST, port, timeout=0.5, retries=1)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "pysnmp"])
@pytest.mark.parametrize("payload", [16, 400], ids=["small-rows", "large-rows"])
async def test_an_endless_table_is_cut_at_its_limit(fast: bool, payload: int) -> None:
    """Small and large rows (long-form lengths); on both paths."""
    behaviour = Behaviour(endless=PRT_ALERT_ENTRY, payload=payload)
    async with hostile_agent(HOST, behaviour=behaviour) as agent:
        client = SnmpClient(fast=fast)
        try:
            started = time.monotonic()
            reading = await asyncio.wait_for(read_printer(client, target(agent.port)), 30)
            took = time.monotonic() - started
        finally:
            await client.aclose()
    endless = oids.prtAlertDescription  # the column the table goes on in (the others end)
    limit = EXPECTED_ROWS[endless]
    assert took < 10
    assert [p for p in reading.problems
            if f"walk of {endless} stopped after {limit} values, its limit" in p], reading.problems
    assert not reading.column(f"{PRT_ALERT_ENTRY}.8")  # an incomplete table is not used
    assert reading.values[SERIAL_OID] == SERIAL.encode()  # the rest of the device is
    assert reading.values[LEVEL_OID] == 75
    assert limit <= agent.endless_rows < limit + 500  # bulk answers overshoot a little


async def test_a_walk_ends_at_its_deadline() -> None:
    """One row per request: the deadline comes long before the row cap, however fast the
    machine."""
    async with hostile_agent(HOST, behaviour=Behaviour(endless=PRT_ALERT_ENTRY)) as agent:
        client = SnmpClient(max_repetitions=1)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(WalkStopped) as stopped:
                await client.walk(target(agent.port), PRT_ALERT_ENTRY, expected=10**9,
                                  deadline=started + 0.3)
            took = loop.time() - started
        finally:
            await client.aclose()
    assert stopped.value.reason == "time" and not stopped.value.usable
    assert "not finished by its deadline" in str(stopped.value)
    assert 0.3 <= took < 5.0, "stopped soon after its deadline (generous: the machine may be busy)"
    assert agent.endless_rows < MAX_WALK_ROWS


async def test_the_row_limit_follows_the_table_history() -> None:
    """Twice the size the table had at its last complete walk, at least what is expected, never
    above the hard cap."""
    async with hostile_agent(HOST, behaviour=Behaviour()) as agent:
        client = SnmpClient()
        try:
            walked = target(agent.port)
            assert client.walk_limit(walked, oids.prtMarkerSuppliesEntry, 50) == 50
            rows = len(await client.walk(walked, oids.prtMarkerSuppliesEntry))
            assert client.walk_limit(walked, oids.prtMarkerSuppliesEntry, 5) == 2 * rows
            assert client.walk_limit(walked, oids.prtMarkerSuppliesEntry, 10**9) == MAX_WALK_ROWS
        finally:
            await client.aclose()


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "pysnmp"])
async def test_a_looping_table_stops_where_it_goes_back(fast: bool) -> None:
    behaviour = Behaviour(loop=PRT_ALERT_ENTRY, loop_after=4)
    async with hostile_agent(HOST, behaviour=behaviour) as agent:
        client = SnmpClient(fast=fast)
        try:
            reading = await asyncio.wait_for(read_printer(client, target(agent.port)), 30)
        finally:
            await client.aclose()
    went_back = f"answered {PRT_ALERT_ENTRY}.8.1 after {PRT_ALERT_ENTRY}.8.4"
    assert [p for p in reading.problems if went_back in p], reading.problems
    assert reading.column(f"{PRT_ALERT_ENTRY}.8") == {str(i): f"alert {i}".encode()
                                                      for i in range(1, 5)}
    assert reading.values[LEVEL_OID] == 75


async def test_malformed_datagrams_are_no_answer(capfd: pytest.CaptureFixture[str]) -> None:
    """The Printer-MIB answers are garbage: those walks fail with a one-line reason, the system
    group is still read, nothing is printed on stderr, and pysnmp is not needed."""
    async with hostile_agent(HOST, behaviour=Behaviour(malformed=True)) as agent:
        client = SnmpClient()
        try:
            reading = await asyncio.wait_for(read_printer(client, target(agent.port)), 30)
        finally:
            await client.aclose()
    assert reading.values[f"{oids.sysDescr}.0"] == b"Hostile printer 1.0"
    malformed = [p for p in reading.problems if "malformed answer" in p]
    assert malformed and all("\n" not in p for p in reading.problems), reading.problems
    assert not client.pysnmp_loaded
    err = capfd.readouterr().err
    assert "panicked" not in err and "Traceback" not in err, err


async def test_an_integer_no_type_holds_is_malformed() -> None:
    """20-byte INTEGERs: the answers holding them are malformed (no SNMP type holds them, pysnmp
    refuses them); the walks that do not reach them are read."""
    async with hostile_agent(HOST, behaviour=Behaviour(huge_integers=True)) as agent:
        client = SnmpClient()
        try:
            reading = await asyncio.wait_for(read_printer(client, target(agent.port)), 30)
        finally:
            await client.aclose()
    assert [p for p in reading.problems if "an integer of 20 bytes" in p], reading.problems
    assert LEVEL_OID not in reading.values
    assert reading.values[f"{oids.sysObjectID}.0"] == "1.3.6.1.4.1.32473.99"


def _verdict(data: bytes) -> str | None:
    """None for a well-formed answer, else what the codec says is wrong with it."""
    try:
        *_, start, end = decode_header(data)
        decode_varbinds(data, start, end)
    except NotAnswer as exc:
        return str(exc)
    except Malformed as exc:
        return f"malformed answer: {exc}"
    return None


def test_the_answer_check() -> None:
    request = Request(1, b"public", 0xA0, 42, 0, 0, [])
    good = response(request, [((1, 3, 6, 1, 2, 1, 1, 1, 0), octets("printer")),
                              ((1, 3, 6, 1, 2, 1, 1, 3, 0), integer(2**63 - 1))])
    assert _verdict(good) is None
    for bad in MALFORMED:
        assert (_verdict(bad) or "").startswith("malformed answer: "), bad
    assert _verdict(good + b"\x00") is not None
    for cut in range(1, len(good)):
        assert _verdict(good[:cut]) is not None
    wide = response(request, [((1, 3, 6, 1, 2, 1, 1, 3, 0), integer(1 << 70))])
    assert _verdict(wide) == "malformed answer: an integer of 9 bytes"


async def test_pysnmp_sockets_are_connected_to_their_agent() -> None:
    """pysnmp's own transport is one socket bound unconnected on 0.0.0.0 (anyone may answer);
    each agent gets one of its own here, connected to it."""
    async with hostile_agent(HOST) as agent, hostile_agent("127.0.147.11") as other:
        client = SnmpClient(fast=False)
        try:
            for port, host in ((agent.port, HOST), (other.port, "127.0.147.11")):
                values = await client.get(SnmpTarget(host, port), [f"{oids.sysDescr}.0"])
                assert values == {f"{oids.sysDescr}.0": b"Hostile printer 1.0"}
            sockets = [t.transport.transport.get_extra_info("socket")
                       for t in client._transports.values()]
            assert sorted(s.getpeername() for s in sockets) == sorted(
                [(HOST, agent.port), ("127.0.147.11", other.port)])
            assert all(s.getsockname()[0] == "127.0.0.1" for s in sockets)
        finally:
            await client.aclose()
