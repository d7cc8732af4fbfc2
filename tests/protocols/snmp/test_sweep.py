"""The SNMP sweep against real agents on loopback: the virtual fleet, snmpsim, garbage responders.

Addresses: 127.0.10.0/24 for the fleet of 50, 127.0.11.0-127.0.19.255 for the rest.  Silent
addresses on loopback get ICMP port-unreachable, which an unconnected UDP socket never sees: to
the sweep they are as silent as an empty LAN address.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

from protocols.hosts import free_port
from protocols.snmp import oids
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from protocols.snmp.sweep import SweepHit, SweepProgress, sweep
from simulator.snmp_v3 import V3User
from tests.support.sim_helpers import running_fleet
from tests.support.snmpsim_agent import snmpsim

PUBLIC = SnmpCredentials(community="public")
ALICE = V3User("alice", "alice-auth-key", "alice-priv-key")
ALICE_CREDENTIALS = SnmpCredentials(version=3, user="alice", auth_key=ALICE.auth_key,
                                    priv_key=ALICE.priv_key)
TIMEOUT = 0.5
"""Per request, for the small sweeps: margin for a loaded machine, silent addresses wait it."""
V3_TIMEOUT = 1.0
"""SNMPv3 identification runs pysnmp (USM keys, crypto) in the loop that also runs the fleet."""


def hosts(cidr: str) -> list[str]:
    return [str(ip) for ip in ipaddress.IPv4Network(cidr).hosts()]


def serial_oid(hit: SweepHit) -> str:
    [oid] = [oid for oid in hit.values if oid.startswith(oids.prtGeneralSerialNumber + ".")]
    return oid


async def test_sweep_of_a_24_finds_exactly_the_fleet_in_about_one_timeout() -> None:
    """The issue's test: 254 addresses, 50 printers, 204 silent; time bounded by the timeout."""
    timeout, retries, rate = 0.5, 1, 1000.0
    addresses = hosts("127.0.10.0/24")
    async with running_fleet("127.0.10.1", 50,
                             profiles=["color-mfp", "mono-laser", "inkjet", "legacy-laser"]
                             ) as fleet:
        started = time.monotonic()
        hits = await sweep(addresses, [PUBLIC], port=fleet.config.snmp_port, timeout=timeout,
                           retries=retries, rate=rate)
        elapsed = time.monotonic() - started

        assert [hit.address for hit in hits] == [p.ip for p in fleet.printers]
        assert all(hit.is_printer and hit.credentials == PUBLIC for hit in hits)
        for hit in hits:
            assert hit.values[serial_oid(hit)] == fleet.get(hit.address).state.serial.encode()
            assert hit.sys_object_id and hit.sys_object_id.startswith("1.3.6.1.4.1.")
        async with SnmpClient() as client:  # and readable afterwards with what the sweep found
            readings = await asyncio.gather(*(
                client.get(SnmpTarget(hit.address, hit.port, hit.credentials), [serial_oid(hit)])
                for hit in hits))
        assert [next(iter(r.values())) for r in readings] == [
            p.state.serial.encode() for p in fleet.printers]

    packets = len(addresses) * (retries + 1)
    assert elapsed < (retries + 1) * timeout * 5 + packets / rate  # ~1.2 s expected
    one_after_the_other = (len(addresses) - len(hits)) * (retries + 1) * timeout  # 204 s
    assert elapsed < one_after_the_other / 40


async def test_communities_are_tried_in_order_until_one_answers() -> None:
    wrong = SnmpCredentials(community="wrong")
    private = SnmpCredentials(community="private")  # the fleet's write community reads too
    async with running_fleet("127.0.11.1", 3, ipp=False) as fleet:
        port = fleet.config.snmp_port
        hits = await sweep(hosts("127.0.11.0/28"), [wrong, PUBLIC], port=port, timeout=TIMEOUT)
        assert [(h.address, h.credentials) for h in hits] == [
            (p.ip, PUBLIC) for p in fleet.printers]
        hits = await sweep(hosts("127.0.11.0/28"), [private, PUBLIC], port=port, timeout=TIMEOUT)
        assert {h.credentials for h in hits} == {private}
        assert await sweep(hosts("127.0.11.0/28"), [wrong], port=port, timeout=TIMEOUT) == []


async def test_v3_agents_found_with_the_user_that_authenticates() -> None:
    stranger = SnmpCredentials(version=3, user="mallory", auth_key="mallory-key",
                               priv_key="mallory-key")
    wrong_key = SnmpCredentials(version=3, user="alice", auth_key="not-alices-key",
                                priv_key=ALICE.priv_key)
    addresses = hosts("127.0.12.0/28")
    async with running_fleet("127.0.12.1", 3, ipp=False, v3_users=[ALICE]) as fleet:
        assert fleet.agent.v3 is not None
        port = fleet.config.snmp_port
        hits = await sweep(addresses, [stranger, ALICE_CREDENTIALS], port=port, timeout=V3_TIMEOUT)
        assert [h.address for h in hits] == [p.ip for p in fleet.printers]
        for hit in hits:
            assert hit.credentials == ALICE_CREDENTIALS
            assert hit.engine_id == fleet.agent.v3.engine_id
            assert hit.is_printer
            assert hit.values[serial_oid(hit)] == fleet.get(hit.address).state.serial.encode()

        assert await sweep(addresses, [wrong_key], port=port, timeout=V3_TIMEOUT) == []

        # the fleet answers v2c too: the credentials' order decides which one a hit reports
        hits = await sweep(addresses, [PUBLIC, ALICE_CREDENTIALS], port=port, timeout=V3_TIMEOUT)
        assert {(h.credentials, h.engine_id) for h in hits} == {
            (PUBLIC, fleet.agent.v3.engine_id)}
        hits = await sweep(addresses, [ALICE_CREDENTIALS, PUBLIC], port=port, timeout=V3_TIMEOUT)
        assert {h.credentials for h in hits} == {ALICE_CREDENTIALS}


SWITCH_RECORDING = """\
1.3.6.1.2.1.1.1.0|4|Acme FastSwitch 2400, 24 ports
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.32473.9.1
1.3.6.1.2.1.1.3.0|67|123456
1.3.6.1.2.1.1.5.0|4|sw-floor-2
1.3.6.1.2.1.31.1.1.1.1.1|4|Gi0/1
"""


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """snmpsim serving a switch (system group and ifName only) at 127.0.13.5, community
    `switch`."""
    workdir = tmp_path_factory.mktemp("switch")
    recording = workdir / "switch.snmprec"
    recording.write_text(SWITCH_RECORDING)
    with snmpsim([recording], workdir, host="127.0.13.5",
                 port=free_port("127.0.13.5", tcp=False, udp=True)) as endpoint:
        yield endpoint


@pytest.mark.parametrize("version", [1, 2])
async def test_a_switch_answers_but_is_no_printer(switch: tuple[str, int], version: int
                                                  ) -> None:
    """v2c: the GETNEXTs run past the end of the MIB (endOfMibView) or leave their column;
    v1: the agent answers noSuchName, and the probe is asked again without that column."""
    host, port = switch
    credentials = SnmpCredentials(version=version, community="switch")  # type: ignore[arg-type]
    [hit] = await sweep(hosts("127.0.13.0/29"), [credentials], port=port, timeout=TIMEOUT)
    assert hit.address == host
    assert hit.credentials == credentials
    assert hit.sys_object_id == "1.3.6.1.4.1.32473.9.1"
    assert hit.values == {f"{oids.sysDescr}.0": b"Acme FastSwitch 2400, 24 ports",
                          f"{oids.sysObjectID}.0": "1.3.6.1.4.1.32473.9.1"}
    assert not hit.is_printer


# -- garbage ---------------------------------------------------------------------------------


def response_to(request: bytes, rid_offset: int) -> bytes:
    """A well-formed v1/v2c Response claiming to be a printer, request-id shifted."""
    proto = api.PROTOCOL_MODULES[int(api.decodeMessageVersion(request))]
    message, _ = decoder.decode(request, asn1Spec=proto.Message())
    response = proto.apiMessage.get_response(message)
    pdu = proto.apiMessage.get_pdu(response)
    request_id = int(proto.apiPDU.get_request_id(proto.apiMessage.get_pdu(message)))
    proto.apiPDU.set_request_id(pdu, request_id + rid_offset)
    proto.apiPDU.set_varbinds(pdu, [(f"{oids.hrDeviceType}.1",
                                     proto.ObjectIdentifier(oids.hrDevicePrinter))])
    return encoder.encode(response)


JUNK = [b"", b"\x00", b"\x30", b"\x30\x84\xff\xff\xff\xff\x02\x01\x01", b"\xff" * 600,
        bytes(range(256)), b"\x30\x03\x02\x01\x03", b"\x30\x06\x02\x01\x01\x04\x01p"]


class Responder(asyncio.DatagramProtocol):
    """Answers every datagram with what `answer` makes of it, through `send_from` if given."""

    def __init__(self, answer: Callable[[bytes], list[bytes]],
                 send_from: asyncio.DatagramTransport | None = None) -> None:
        self.answer = answer
        self.send_from = send_from
        self.transport: asyncio.DatagramTransport | None = None
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1
        out = self.send_from or self.transport
        assert out is not None
        for packet in self.answer(data):
            out.sendto(packet, addr)


def v2_only(make: Callable[[bytes], bytes]) -> Callable[[bytes], list[bytes]]:
    return lambda data: [] if api.decodeMessageVersion(data) == 3 else [make(data)]


@contextlib.asynccontextmanager
async def responders(port: int, spec: dict[str, Responder]) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    transports = []
    try:
        for ip, protocol in spec.items():
            transport, _ = await loop.create_datagram_endpoint(lambda p=protocol: p,
                                                               local_addr=(ip, port))
            transports.append(transport)
        yield
    finally:
        for transport in transports:
            transport.close()


async def test_garbage_answers_are_ignored(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="protocols.snmp.sweep")
    loop = asyncio.get_running_loop()
    async with running_fleet("127.0.14.1", 1, ipp=False) as fleet:
        port = fleet.config.snmp_port
        elsewhere, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.14.9", 0))
        spec = {
            "127.0.14.2": Responder(lambda data: JUNK),
            "127.0.14.3": Responder(lambda data: [data]),  # an echo: our own request back
            "127.0.14.4": Responder(v2_only(lambda data: response_to(data, 1))),
            "127.0.14.5": Responder(v2_only(lambda data: response_to(data, 0)), elsewhere),
            "127.0.14.6": Responder(lambda data: [data[: len(data) // 2], data + b"\x00"]),
        }
        try:
            async with responders(port, spec):
                hits = await sweep(hosts("127.0.14.0/28"), [PUBLIC, ALICE_CREDENTIALS],
                                   port=port, timeout=TIMEOUT)
        finally:
            elsewhere.close()
    assert [hit.address for hit in hits] == ["127.0.14.1"]
    assert not caplog.records  # not even taken for a v3 agent that no user could log in to
    assert all(r.received >= 2 for r in spec.values())  # probes reached every responder


async def test_progress_reaches_the_total_in_small_steps() -> None:
    reports: list[SweepProgress] = []
    addresses = hosts("127.0.15.0/25")
    async with running_fleet("127.0.15.1", 3, ipp=False) as fleet:
        await sweep(addresses, [PUBLIC], port=fleet.config.snmp_port, timeout=TIMEOUT,
                    progress=reports.append)
    total = len(addresses)
    assert reports[0] == SweepProgress(total, 0, 0, 0)
    assert reports[-1] == SweepProgress(total, total, 3, 3)
    steps = [b.probed - a.probed for a, b in itertools.pairwise(reports)]
    assert all(0 < step <= max(1, total // 100) for step in steps)


async def test_each_address_is_handed_on_once_as_soon_as_it_is_done_with() -> None:
    """`on_probed` gets every address once, with its hit or None (silent through its retries),
    each printer's as soon as it answered: before any silent address is given up."""
    addresses = hosts("127.0.17.0/29")
    probed: list[tuple[str, SweepHit | None]] = []

    async def on_probed(address: str, hit: SweepHit | None) -> None:
        probed.append((address, hit))

    async with running_fleet("127.0.17.1", 2, ipp=False) as fleet:
        hits = await sweep(addresses, [PUBLIC], port=fleet.config.snmp_port, timeout=TIMEOUT,
                           on_probed=on_probed)
    assert sorted(address for address, _ in probed) == sorted(addresses)
    assert [hit for _, hit in probed[:2]] == hits  # the printers first: no timeout to wait
    assert [hit.address for hit in hits] == ["127.0.17.1", "127.0.17.2"]
    assert all(hit is None for _, hit in probed[2:])


async def test_answers_are_all_taken_while_the_event_loop_is_busy() -> None:
    """Discovery reads printers while the probe goes on, so a turn of the loop may take long:
    here 20 ms.  Every answer queued meanwhile is read at the next turn (one a turn, 200 answers
    would take 4 s, far past the timeout and its retry)."""
    busy = True

    async def hog() -> None:
        while busy:
            time.sleep(0.02)  # noqa: ASYNC251 - the point: a loop that is slow to come round
            await asyncio.sleep(0)

    async with running_fleet("127.0.18.1", 200, ipp=False) as fleet:
        hogging = asyncio.create_task(hog())
        try:
            hits = await sweep([p.ip for p in fleet.printers], [PUBLIC],
                               port=fleet.config.snmp_port, timeout=TIMEOUT)
        finally:
            busy = False
            await hogging
    assert [hit.address for hit in hits] == [p.ip for p in fleet.printers]


async def test_bad_input_is_refused_and_send_errors_only_fail_their_address() -> None:
    with pytest.raises(ValueError, match="IPv4"):
        await sweep(["printer.example"], [PUBLIC])
    with pytest.raises(ValueError, match="credentials"):
        await sweep(["127.0.16.1"], [])
    reports: list[SweepProgress] = []
    assert await sweep([], [PUBLIC], progress=reports.append) == []
    assert reports == [SweepProgress(0)]
    async with running_fleet("127.0.16.1", 1, ipp=False) as fleet:
        # the broadcast address without SO_BROADCAST: sendto fails (EACCES), nothing is sent
        hits = await sweep(["255.255.255.255", "127.0.16.1"], [PUBLIC],
                           port=fleet.config.snmp_port, timeout=TIMEOUT)
    assert [hit.address for hit in hits] == ["127.0.16.1"]
