"""A discovery reading counts as the device's poll (issue 20): `printgw run --once` reads each
printer once, the daemon does not read a device again right after discovery read it, and a
device whose discovery reading failed is polled as before; a static host is read as soon as its
SNMP probe answered, while the probe of the others goes on.

Real peers: a virtual fleet on loopback (in this process, so the requests each printer answered
can be counted), the real `printgw` command line, the daemon's `Gateway`.  Addresses
127.0.154.0-127.0.155.255 and 127.0.180.0/24.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.app.daemon import Gateway
from gateway.device.reader import DeviceReader
from gateway.fleet.discovery import Discovery
from gateway.fleet.inventory import Inventory, Sighting
from gateway.fleet.schedule import Outcome
from gateway.settings.schema import Config
from gateway.store import Store
from simulator.fleet import Fleet
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import run, running_fleet


class Requests:
    """The SNMP and IPP requests each printer of a fleet answered, by address, and in order."""

    def __init__(self, fleet: Fleet) -> None:
        self.snmp: collections.Counter[str] = collections.Counter()
        self.ipp: collections.Counter[str] = collections.Counter()
        self.order: list[tuple[str, str]] = []
        """(protocol, address) of each request, as they came (a small fleet's: bounded)."""
        snmp, ipp = fleet.agent.handle, fleet.ipp.answer if fleet.ipp else None

        def on_snmp(printer: Any, *rest: Any) -> None:
            self.snmp[printer.ip] += 1
            self.order.append(("snmp", printer.ip))
            snmp(printer, *rest)

        def on_ipp(printer: Any, body: bytes) -> bytes:
            self.ipp[printer.ip] += 1
            self.order.append(("ipp", printer.ip))
            assert ipp is not None
            return ipp(printer, body)

        fleet.agent.handle = on_snmp  # type: ignore[method-assign]
        if fleet.ipp is not None:
            fleet.ipp.answer = on_ipp  # type: ignore[method-assign]

    def clear(self) -> None:
        self.snmp.clear()
        self.ipp.clear()
        self.order.clear()


def settings(fleet: Fleet, data_dir: Path, **poll: float) -> dict[str, Any]:
    """The fleet's printers as static hosts, no mDNS, no status page, no cloud."""
    return {
        "gateway": {"data_dir": str(data_dir)},
        "snmp": {"port": fleet.config.snmp_port, "timeout": 0.5, "retries": 1},
        "ipp": {"port": fleet.config.ipp_port},
        "discovery": {"mdns": False, "static": [{"host": p.ip} for p in fleet.printers]},
        "poll": {"read_deadline": 10.0, **poll},
        "status_page": {"enabled": False}}


def write_config(path: Path, values: dict[str, Any]) -> Path:
    """A TOML config file from `values` (tables of strings, numbers, booleans and the static
    hosts' array of tables)."""
    lines = []
    for table, entries in values.items():
        lines.append(f"[{table}]")
        arrays = []
        for key, value in entries.items():
            if isinstance(value, list):
                arrays.append((key, value))
            else:
                lines.append(f"{key} = {json.dumps(value)}")
        for key, items in arrays:
            for item in items:
                lines.append(f"[[{table}.{key}]]")
                lines += [f"{k} = {json.dumps(v)}" for k, v in item.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


async def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        await asyncio.sleep(0.05)


async def test_run_once_reads_each_printer_once(tmp_path: Path) -> None:
    """`printgw run --once` asks each printer what `printgw discover` alone asks: discovery's
    reading is the cycle's, no second one (before issue 20: every printer read twice)."""
    async with running_fleet("127.0.154.1", 3, seed=154) as fleet:
        requests = Requests(fleet)
        discover = write_config(tmp_path / "discover.toml",
                                settings(fleet, tmp_path / "discover"))
        await run(*COMMAND, "discover", "--config", str(discover), limit=60, check=True)
        discovered = dict(requests.snmp)
        assert set(discovered) == {p.ip for p in fleet.printers}
        assert all(n == 1 for n in requests.ipp.values()), requests.ipp

        requests.clear()
        once = write_config(tmp_path / "once.toml", settings(fleet, tmp_path / "once"))
        _rc, out, _err = await run(*COMMAND, "run", "--once", "--config", str(once),
                                   limit=60, check=True)
        assert "3/3 devices read" in out, out
        assert requests.ipp == {p.ip: 1 for p in fleet.printers}, requests.ipp
        for ip, count in requests.snmp.items():  # retries under load aside: one reading
            assert count < 1.5 * discovered[ip], (ip, count, discovered[ip])


async def test_the_daemon_does_not_read_again_what_discovery_just_read(tmp_path: Path) -> None:
    """Discovery's reading is taken in as the poll: the intake has it, and the schedule's next
    reading is one interval later, not now."""
    async with running_fleet("127.0.154.11", 2, seed=155) as fleet:
        requests = Requests(fleet)
        interval = 300.0
        config = Config.model_validate(settings(fleet, tmp_path, interval=interval))
        async with Gateway(config) as gateway:
            stop = asyncio.Event()
            daemon = asyncio.create_task(gateway.run(stop))
            slots = gateway.schedule.slots
            try:
                await wait_for(lambda: len(slots) == 2 and all(
                    s.outcome is Outcome.AWAKE for s in slots.values()), 30,
                    "both printers read")
                await asyncio.sleep(1.0)  # a reading right after discovery would start now
                now = time.monotonic()
                for slot in slots.values():
                    assert not slot.reading
                    assert slot.due - now > 0.9 * interval - 5, (slot, now)
                assert set(gateway.intake.latest) == set(slots)
                assert gateway.discovery.last_run is not None
                assert requests.ipp == {p.ip: 1 for p in fleet.printers}, requests.ipp
            finally:
                stop.set()
                await daemon


async def test_a_device_whose_discovery_reading_failed_is_polled(tmp_path: Path) -> None:
    """A known printer that does not answer discovery is read on its own schedule, and is taken
    in once it answers again."""
    async with running_fleet("127.0.155.1", 1, seed=156) as fleet:
        printer = fleet.printers[0]
        printer.state.unreachable = True
        config = Config.model_validate(settings(
            fleet, tmp_path, interval=1.0, unreachable_backoff_max=2.0))
        async with Gateway(config) as gateway:
            device = gateway.inventory.record(Sighting(
                address=printer.ip, sources=frozenset({"static"}),
                serial=printer.state.serial, protocols=frozenset({"snmp", "ipp"}),
                snmp_port=fleet.config.snmp_port, snmp_version=2))
            stop = asyncio.Event()
            daemon = asyncio.create_task(gateway.run(stop))
            slots = gateway.schedule.slots
            try:
                await wait_for(lambda: gateway.discovery.last_run is not None, 30,
                               "discovery ran")
                await wait_for(lambda: device.id in slots
                               and slots[device.id].outcome is Outcome.UNREACHABLE, 30,
                               "the poll tried it")
                assert device.id not in gateway.intake.latest
                printer.state.unreachable = False
                await wait_for(lambda: device.id in gateway.intake.latest, 30,
                               "a poll read it once it answered")
                assert slots[device.id].outcome is Outcome.AWAKE
            finally:
                stop.set()
                await daemon


async def test_with_ipp_off_printers_are_read_over_snmp_only(tmp_path: Path) -> None:
    """`[ipp] enabled = false`: discovery and the poll ask no printer over IPP, and the readings
    come from SNMP."""
    async with running_fleet("127.0.155.21", 2, seed=156) as fleet:
        requests = Requests(fleet)
        values = settings(fleet, tmp_path / "data")
        values["ipp"]["enabled"] = False
        config = write_config(tmp_path / "snmp-only.toml", values)
        _rc, out, _err = await run(*COMMAND, "run", "--once", "--config", str(config),
                                   limit=60, check=True)
        assert "2/2 devices read" in out, out
        assert not requests.ipp, requests.ipp
        assert set(requests.snmp) == {p.ip for p in fleet.printers}


async def test_a_static_host_is_read_while_the_probe_of_the_others_goes_on(
        tmp_path: Path) -> None:
    """At 5 probe packets a second the SNMP probe of 12 static hosts takes over 2 s; the first
    printer's reading (its IPP request: the probe asks SNMP only) comes before the probe's
    packet to the last one, and every printer is still found and read once."""
    async with running_fleet("127.0.180.1", 12, seed=180) as fleet:
        requests = Requests(fleet)
        values = settings(fleet, tmp_path)
        values["discovery"]["sweep"] = {"rate": 5.0}
        config = Config.model_validate(values)
        with Store.in_directory(tmp_path) as store:
            async with DeviceReader() as reader:
                report = await Discovery(config, Inventory(store), reader).run()
    assert [f.sighting.serial for f in report.found] == [
        p.state.serial for p in fleet.printers]
    assert all(f.answered for f in report.found) and not report.errors, report.errors
    assert requests.ipp == {p.ip: 1 for p in fleet.printers}, requests.ipp
    first_reading = requests.order.index(("ipp", fleet.printers[0].ip))
    last_probe = requests.order.index(("snmp", fleet.printers[-1].ip))
    assert first_reading < last_probe, requests.order
