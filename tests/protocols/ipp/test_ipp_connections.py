"""The IPP connection pool (`protocols.ipp.connections`): reads of a printer reuse its keep-alive
connection, the pool's sockets stay bounded whatever the number of printers, idle connections are
closed, TLS verification stays per read, and hostile printers are still cut at the bounds.

Printers: `KeepAliveIppServer` (counts the connections it accepts and those still open), the
hostile one of `tests.support.hostile_ipp`, CUPS's ippeveprinter for TLS.  Addresses
127.0.160.0/24 and 127.0.161.0/24.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from gateway.device.reader import DeviceReader, DeviceUnreachable, IppEndpoint
from protocols.ipp.client import get_printer_attributes
from protocols.ipp.connections import IppConnections, PoolLimits
from protocols.ipp.model import IppTlsError, IppTooLarge, IppUnreachable
from tests.support.hostile_ipp import HostileIppServer
from tests.support.ippeveprinter import (  # noqa: F401 - ippeve_fleet_fixture is the `ippeve_fleet` fixture
    CONF_DIR,
    IppEveFleet,
    ippeve_fleet_fixture,
)
from tests.support.keepalive_ipp import KeepAliveIppServer


@pytest.fixture
async def pool() -> AsyncIterator[IppConnections]:
    connections = IppConnections()
    yield connections
    await connections.close()


async def test_many_reads_of_one_printer_use_one_connection(pool: IppConnections) -> None:
    async with KeepAliveIppServer("127.0.160.1") as printer:
        for _ in range(20):
            reading = await get_printer_attributes(printer.uri, connections=pool)
            assert reading.attributes["printer-name"] == "Hostile printer"
        assert (printer.accepted, printer.requests, printer.open) == (1, 20, 1)


async def test_the_reader_owns_its_pool_and_closes_it() -> None:
    async with KeepAliveIppServer("127.0.160.2") as printer:
        async with DeviceReader() as reader:
            for _ in range(10):
                status = await reader.read(printer.host, None, IppEndpoint(printer.uri))
                assert status.identity.model == "Hostile Laser 9000"
            assert (printer.accepted, printer.requests) == (1, 10)
        assert await printer.wait_open(0, within=5.0), "closing the reader closes its pool"


async def test_idle_connections_are_closed_after_their_idle_time() -> None:
    connections = IppConnections(PoolLimits(idle_seconds=0.3))
    try:
        async with KeepAliveIppServer("127.0.160.3") as printer:
            await get_printer_attributes(printer.uri, connections=connections)
            assert printer.open == 1
            assert await printer.wait_open(0, within=5.0), "closed after at most twice 0.3 s"
            assert connections.idle_connections == 0
            await get_printer_attributes(printer.uri, connections=connections)
            assert printer.accepted == 2
    finally:
        await connections.close()


async def test_sockets_stay_bounded_however_many_printers() -> None:
    """12 printers, at most 3 idle connections kept: the least recently used are closed."""
    connections = IppConnections(PoolLimits(idle=3))
    printers = [KeepAliveIppServer(f"127.0.160.{10 + n}") for n in range(12)]
    try:
        for printer in printers:
            await printer.start()
        for printer in printers:
            await get_printer_attributes(printer.uri, connections=connections)
        assert connections.idle_connections == 3
        for printer in printers[:-3]:
            assert await printer.wait_open(0, within=5.0), printer.host
        assert [p.open for p in printers[-3:]] == [1, 1, 1], "the most recent are kept"
        again = await get_printer_attributes(printers[-1].uri, connections=connections)
        assert again.status_code == 0 and printers[-1].accepted == 1
    finally:
        await connections.close()
        for printer in printers:
            await printer.close()


async def test_at_most_two_connections_to_one_printer(pool: IppConnections) -> None:
    async with KeepAliveIppServer("127.0.160.30") as printer:
        readings = await asyncio.gather(*(
            get_printer_attributes(printer.uri, connections=pool) for _ in range(12)))
        assert len(readings) == 12
        assert printer.accepted <= PoolLimits().per_host == 2


async def test_a_connection_the_printer_drops_when_reused_is_replaced(
        pool: IppConnections) -> None:
    async with KeepAliveIppServer("127.0.160.31", drop_on_request=2) as printer:
        for _ in range(2):
            reading = await get_printer_attributes(printer.uri, connections=pool)
            assert reading.problems == []
        assert (printer.accepted, printer.requests) == (2, 2)


async def test_an_endless_body_is_cut_and_its_connection_not_kept(pool: IppConnections) -> None:
    cap = 256 * 1024
    async with HostileIppServer("endless-chunked", host="127.0.160.40") as endless, \
            HostileIppServer("drip", host="127.0.160.41", drip_interval=0.05) as drip, \
            KeepAliveIppServer("127.0.160.42") as ok:
        with pytest.raises(IppTooLarge, match="262,144-byte limit"):
            await get_printer_attributes(endless.uri, connections=pool,
                                         max_response_bytes=cap)
        started = time.monotonic()
        with pytest.raises(IppUnreachable, match=r"answer not complete within 0\.5 s"):
            await get_printer_attributes(drip.uri, connections=pool, timeout=0.5)
        assert time.monotonic() - started < 4.0  # the 0.5 s timeout ends it (+ a busy machine)
        assert pool.idle_connections == 0, "a connection cut mid-answer is never reused"
        reading = await get_printer_attributes(ok.uri, connections=pool)
        assert reading.status_code == 0 and pool.idle_connections == 1


async def test_tls_verification_stays_per_read(ippeve_fleet: IppEveFleet) -> None:
    """One pool, one self-signed printer, read alternately without and with verification: the
    unverified connection kept in the pool never serves a verified read."""
    printer = ippeve_fleet.start("hp-tls", CONF_DIR / "hp-m404.conf")
    trusting = IppEndpoint(printer.ipps_uri, verify_tls=False)
    verifying = IppEndpoint(printer.ipps_uri, verify_tls=True)
    async with DeviceReader() as reader:
        for endpoint in (trusting, verifying, trusting, verifying):
            if endpoint.verify_tls:
                with pytest.raises(DeviceUnreachable, match="certificate not trusted"):
                    await reader.read("127.0.0.1", None, endpoint)
            else:
                status = await reader.read("127.0.0.1", None, endpoint)
                assert status.identity.serial == "PHBQA12345"
        assert reader.ipp_connections.idle_connections == 1
    with pytest.raises(IppTlsError):
        await get_printer_attributes(verifying.uri, verify_tls=True)


async def test_a_read_waits_for_a_free_connection_only_within_its_own_timeout() -> None:
    """`total` = 1: a read while a dripping printer holds the only connection gives up at its
    own timeout, and the slot is free again once the dripping read ends."""
    async with IppConnections(PoolLimits(total=1)) as connections, \
            HostileIppServer("drip", host="127.0.160.50", drip_interval=0.05) as drip, \
            KeepAliveIppServer("127.0.160.51") as ok:
        holding = asyncio.create_task(
            get_printer_attributes(drip.uri, connections=connections, timeout=1.0))
        await asyncio.sleep(0.1)
        with pytest.raises(IppUnreachable, match=r"no answer within 0\.3 s"):
            await get_printer_attributes(ok.uri, connections=connections, timeout=0.3)
        assert ok.accepted == 0, "it never had a connection"
        with pytest.raises(IppUnreachable, match="answer not complete"):
            await holding
        reading = await get_printer_attributes(ok.uri, connections=connections)
        assert reading.status_code == 0 and ok.accepted == 1
