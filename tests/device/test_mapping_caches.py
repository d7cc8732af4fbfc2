"""The mapping keeps what it worked out of what printers send at every reading (bounded caches in
`gateway.device`: model choice, supply traits, the layout of a reading's columns, decoded texts…):
a reading mapped with those caches warm is mapped exactly as with them cold, for every real
recording and every model of the simulator, and one printer's values never reach another's
status."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime

import gateway.device
from gateway.device.ipp_mapping import apply_ipp
from gateway.device.model import DeviceStatus
from gateway.device.snmp_mapping import apply_snmp
from protocols.ipp.client import get_printer_attributes, wanted_attributes
from protocols.ipp.model import DECODED_PREFIXES, REQUESTED_ATTRIBUTES, IppReading
from protocols.ipp.parser import parse_response
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from protocols.snmp.printer import PrinterReading, read_printer
from simulator.printer import VirtualPrinter
from simulator.profiles import BUILTIN
from tests.support.paths import IPP_FIXTURES, SNMP_FIXTURES
from tests.support.sim_helpers import running_fleet

READ_AT = datetime(2026, 1, 1, tzinfo=UTC)
Reading = tuple[str, PrinterReading | None, IppReading | None]


def clear_caches() -> None:
    """Every cache of the mapping's modules, emptied: the next mapping starts cold."""
    for module in pkgutil.iter_modules(gateway.device.__path__):
        for value in vars(importlib.import_module(f"gateway.device.{module.name}")).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


def mapped(snmp: PrinterReading | None, ipp: IppReading | None) -> dict:
    status = DeviceStatus(host="192.0.2.1", read_at=READ_AT)
    if snmp is not None:
        apply_snmp(status, snmp)
    if ipp is not None:
        apply_ipp(status, ipp)
    return status.to_json()


async def snmp_reading(client: SnmpClient, host: str, port: int,
                       community: str = "public") -> PrinterReading:
    return await read_printer(client, SnmpTarget(host, port, SnmpCredentials(community=community)))


def ipp_fixtures() -> dict[str, IppReading]:
    readings = {}
    for path in sorted((IPP_FIXTURES / "real").glob("*.bin")):
        code, version, attributes, problems = parse_response(
            path.read_bytes(), wanted_attributes(REQUESTED_ATTRIBUTES), DECODED_PREFIXES)
        readings[path.stem] = IppReading("ipp://192.0.2.1/ipp/print", version, code, attributes,
                                         problems)
    return readings


async def printer_readings(client: SnmpClient, printer: VirtualPrinter) -> Reading:
    return (printer.profile.key, await snmp_reading(client, printer.ip, printer.snmp_port),
            await get_printer_attributes(printer.ipp_uri, timeout=5))


async def test_warm_caches_map_every_reading_as_cold_ones(
        recorded_printers: tuple[str, int]) -> None:
    host, port = recorded_printers
    ipp = ipp_fixtures()
    readings: list[Reading] = [(name, None, reading) for name, reading in ipp.items()]
    async with running_fleet("127.0.195.1", len(BUILTIN), seed=11,
                             profiles=list(BUILTIN)) as fleet:
        client = SnmpClient()
        try:
            for recording in sorted(SNMP_FIXTURES.glob("*.snmprec")):
                name = recording.name.removesuffix(".snmprec")
                snmp = await snmp_reading(client, host, port, name)
                readings.append((name, snmp, None))
                # with IPP too: IPP's names of the model are offered against SNMP's
                readings += [(f"{name}+{ipp_name}", snmp, reading)
                             for ipp_name, reading in ipp.items()]
            for printer in fleet.printers:
                key, snmp, reading = await printer_readings(client, printer)
                readings += [(key, snmp, reading), (f"{key} SNMP", snmp, None)]
        finally:
            await client.aclose()

    clear_caches()
    cold = [mapped(snmp, reading) for _, snmp, reading in readings]
    for _ in range(2):
        for (name, snmp, reading), first in zip(readings, cold, strict=True):
            assert mapped(snmp, reading) == first, name
    for (name, snmp, reading), first in zip(reversed(readings), reversed(cold), strict=True):
        assert mapped(snmp, reading) == first, name


async def test_printers_of_one_model_keep_their_own_values() -> None:
    """Two colour MFPs of one model, other serials, names, MACs, UUIDs, levels and counters,
    mapped in turn: each status holds its own printer's values, and what it held cold."""
    async with running_fleet("127.0.196.1", 2, seed=3, profiles=["color-mfp"]) as fleet:
        second = fleet.printers[1]
        for position, supply in enumerate(second.state.supplies):
            supply.level = supply.max_capacity * (position + 1) / 20
        second.state.total_pages += 1234
        second.state.touch()
        client = SnmpClient()
        try:
            readings = [await printer_readings(client, printer) for printer in fleet.printers]
        finally:
            await client.aclose()

    clear_caches()
    cold = [mapped(snmp, ipp) for _, snmp, ipp in reversed(readings)][::-1]
    for _ in range(3):
        statuses = [mapped(snmp, ipp) for _, snmp, ipp in readings]
        assert statuses == cold
    for status, printer in zip(statuses, fleet.printers, strict=True):
        identity = status["identity"]
        assert identity["serial"] == printer.state.serial
        assert identity["uuid"] == printer.state.uuid
        assert identity["mac"] == printer.state.mac.hex(":")
        assert identity["hostname"] == printer.state.sys_name
        assert printer.state.serial in identity["device_id"]
        toners = [supply for supply in printer.state.supplies if supply.kind == "toner"]
        assert [supply["raw_level"] for supply in status["supplies"]
                if supply["kind"] == "toner"] == [int(supply.level) for supply in toners]
    one, other = statuses
    for field in ("serial", "uuid", "mac", "hostname", "sys_descr", "device_id"):
        assert one["identity"][field] != other["identity"][field], field
    assert one["identity"]["model"] == other["identity"]["model"]
    assert one["counters"]["total"] != other["counters"]["total"]
    assert [s["level_percent"] for s in one["supplies"]] != [
        s["level_percent"] for s in other["supplies"]]
    assert [s["cartridge_id"] for s in one["supplies"]] != [
        s["cartridge_id"] for s in other["supplies"]]
