"""Every device reading has a deadline (issue 19): SNMP and IPP together, whatever the device
does.  Against the hostile agent of `tests/support/hostile_snmp.py`; addresses 127.0.147.100-149.
"""

from __future__ import annotations

import asyncio
import time

from gateway.device.reader import DeviceReader, IppEndpoint
from protocols.hosts import free_port
from protocols.snmp.model import SnmpTarget
from tests.support.hostile_snmp import PRT_ALERT_ENTRY, SERIAL, Behaviour, hostile_agent

HOST = "127.0.147.100"


async def test_a_reading_ends_by_its_deadline_with_what_was_read() -> None:
    """Walks never answered, with a timeout and retries that would take a minute: the reading
    ends at its 2 s deadline, with the system group and a problem for each walk cut."""
    async with (hostile_agent(HOST, behaviour=Behaviour(mute_walks=True)) as agent,
                DeviceReader(read_deadline=2.0) as reader):
        started = time.monotonic()
        status = await reader.read(HOST, SnmpTarget(HOST, agent.port, timeout=10, retries=5),
                                   None)
        took = time.monotonic() - started
    assert 1.5 <= took < 5.0, took  # the 2 s deadline, not the 6 tries of 10 s
    assert status.reachable["snmp"]
    assert status.identity.model or status.identity.manufacturer or status.identity.hostname
    cut = [p for p in status.problems if "not finished by its deadline" in p.message]
    assert cut, status.problems


async def test_an_ipp_endpoint_that_never_answers_is_cut_at_the_deadline() -> None:
    """A TCP peer that accepts and says nothing: IPP's own timeout is longer than the deadline."""
    port = free_port(HOST)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)
        writer.close()

    server = await asyncio.start_server(silent, HOST, port)
    try:
        async with (hostile_agent(HOST, behaviour=Behaviour(endless=PRT_ALERT_ENTRY)) as agent,
                    DeviceReader() as reader):
            started = time.monotonic()
            status = await reader.read(
                HOST, SnmpTarget(HOST, agent.port, timeout=0.5, retries=0),
                IppEndpoint.for_host(HOST, port, timeout=60), deadline=reader.deadline(2.0))
            took = time.monotonic() - started
    finally:
        server.close()
    assert took < 5.0, took  # the 2 s deadline, not the 60 s IPP timeout
    assert status.reachable["snmp"] and not status.reachable["ipp"]
    assert status.identity.serial == SERIAL
    messages = [p.message for p in status.problems]
    assert "no complete IPP answer by the reading's deadline" in messages, messages
    # the endless table is cut by its row cap or, on a busy machine, by the deadline first
    assert [m for m in messages if "stopped after" in m or "not finished by its deadline" in m], \
        messages
