"""IPP's counter attributes (PWG 5100.22 `printer-impressions-completed` and its `-col` form):
read where SNMP is silent, from the simulator's IPP server; a printer without them (CUPS's
ippeveprinter) leaves the counters empty without a problem."""

from __future__ import annotations

import asyncio

from gateway.device.model import DeviceStatus
from gateway.device.reader import DeviceReader, IppEndpoint
from protocols.snmp.vendor_counters import Meter
from tests.support.ippeveprinter import (  # noqa: F401 - ippeve_fleet_fixture is the `ippeve_fleet` fixture
    CONF_DIR,
    IppEveFleet,
    ippeve_fleet_fixture,
)
from tests.support.sim_helpers import running_fleet


async def read_ipp(uri: str) -> DeviceStatus:
    async with DeviceReader() as reader:
        return await reader.read("127.0.0.1", None, IppEndpoint(uri))


async def test_ipp_counters_from_the_simulator() -> None:
    async with running_fleet("127.0.121.40", 1, seed=8, profiles=["color-mfp"]) as fleet:
        [printer] = fleet.printers
        printer.state.print_pages(12, color=True)
        printer.state.print_pages(8)
        status = await read_ipp(printer.ipp_uri)
    meters = printer.state.meters
    c = status.counters
    assert (c.total, c.color, c.mono) == (
        meters.count(Meter()), meters.count(Meter(colour="color")),
        meters.count(Meter(colour="mono")))
    assert c.two_color is None
    assert status.sources["counters.total"] == "ipp:printer-impressions-completed"
    assert status.sources["counters.color"] == \
        "ipp:printer-impressions-completed-col.full-color"
    assert status.sources["counters.mono"] == "ipp:printer-impressions-completed-col.monochrome"
    assert not status.problems


def test_a_printer_without_ipp_counters_leaves_them_empty(ippeve_fleet: IppEveFleet) -> None:
    printer = ippeve_fleet.start("hp", CONF_DIR / "hp-m404.conf")
    status = asyncio.run(read_ipp(printer.ipp_uri))
    assert status.identity.model  # it was read
    assert all(value is None for value in vars(status.counters).values())
    assert not [p for p in status.problems if "impressions" in p.where]
