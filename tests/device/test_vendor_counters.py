"""Vendor page counters (issue 17, meter reads): the objects of each vendor's documentation, read
from virtual printers of that vendor after printing through the control API, each counter with
its source; a hostile value costs its counter only."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from gateway.device.model import DeviceStatus
from gateway.device.reader import DeviceReader
from gateway.device.snmp_mapping import apply_snmp
from protocols.hosts import free_port
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from protocols.snmp.printer import PrinterReading
from protocols.snmp.vendor_counters import FIELD_METERS, counters_for
from simulator.control_api import start_control_api
from simulator.printer import VirtualPrinter
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import run, running_fleet

HP = "1.3.6.1.4.1.11.2.3.9.4.2.1.4.1.2"
SHARP = "1.3.6.1.4.1.2385.1.1.19.2.1"
KONICA = "1.3.6.1.4.1.18334.1.1.1.5.7.2.2.1.5"
XEROX = "1.3.6.1.4.1.253.8.53.13.2.1.6"
LEXMARK = "1.3.6.1.4.1.641.6.4.2.1.1"  # paperGeneralCountEntry: .2 type, .3 units, .4 value
CANON = "1.3.6.1.4.1.1602.1.11.1.3.1.4"
RICOH = "1.3.6.1.4.1.367.3.2.1.2.19"
# BROTHER-MIB brPrintPagesFuncEntry (printPages 21 1): .2 brPrintPagesFuncType, .3 ...FuncCounter
BROTHER = "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.52.21.1"


def mapped(vendor: str, values: dict[str, object]) -> DeviceStatus:
    reading = PrinterReading(values=dict(values), meters=counters_for(vendor))
    status = DeviceStatus(host="192.0.2.7")
    apply_snmp(status, reading)
    return status


def test_documented_objects_are_read_as_documented() -> None:
    """OIDs typed in from the vendors' documentation (not from the shared table), so that a wrong
    OID in `protocols.snmp.vendor_counters` fails here and not only in the simulator."""
    hp = mapped("HP", {f"{HP}.5.0": 1500, f"{HP}.6.0": 1000, f"{HP}.7.0": 500,
                       f"{HP}.22.0": 120})
    assert (hp.counters.total, hp.counters.mono, hp.counters.color, hp.counters.duplex) == (
        1500, 1000, 500, 120)
    assert hp.sources["counters.color"] == f"snmp:HP:{HP}.7.0"

    xerox = mapped("Xerox", {f"{XEROX}.1.20.1": 900, f"{XEROX}.1.20.33": 300,
                             f"{XEROX}.1.20.34": 600, f"{XEROX}.11.20.3": 40,
                             f"{XEROX}.11.20.25": 2})
    assert (xerox.counters.color, xerox.counters.mono, xerox.counters.copy) == (300, 600, 42)
    assert xerox.sources["counters.copy"] == f"snmp:Xerox:{XEROX}.11.20.3+{XEROX}.11.20.25"

    # the bizhub C250i recording's numbers: colour.function, 1 black / 2 colour, 1 copy / 2 print
    konica = mapped("Konica Minolta", {f"{KONICA}.1.1": 3672, f"{KONICA}.1.2": 22876,
                                       f"{KONICA}.2.1": 544, f"{KONICA}.2.2": 6711})
    c = konica.counters
    # by function exactly; not the black and colour totals (faxes printed are in neither)
    assert (c.print, c.copy, c.mono, c.color, c.total) == (29587, 4216, None, None, None)
    assert konica.sources["counters.print"] == \
        f"snmp:Konica Minolta:{KONICA}.1.2+{KONICA}.2.2"

    # Canon's billing counter codes: 103 Total (Large), 104 Total (Small)
    canon = mapped("Canon", {f"{CANON}.101": 900, f"{CANON}.103": 100, f"{CANON}.104": 800})
    assert (canon.counters.large, canon.counters.small) == (100, 800)
    assert canon.sources["counters.large"] == f"snmp:Canon:{CANON}.103"
    ricoh = mapped("Ricoh", {f"{RICOH}.3.0": 31})  # ricohEngCounterFax
    assert ricoh.counters.fax == 31

    # brPrintPagesFuncType: 1 pcPrinttotal, 2 faxtotal, 3 copytotal, 5 pcPrintcolor, 9 copymono;
    # rows found by their type wherever the device keeps them
    brother_rows = {4: (1, 820), 6: (2, 35), 7: (3, 140), 8: (5, 300), 9: (9, 90)}
    brother = mapped("Brother", {
        **{f"{BROTHER}.2.{row}": kind for row, (kind, _) in brother_rows.items()},
        **{f"{BROTHER}.3.{row}": value for row, (_, value) in brother_rows.items()}})
    c = brother.counters
    assert (c.print, c.fax, c.copy, c.color, c.mono) == (820, 35, 140, None, None)
    assert brother.sources["counters.fax"] == f"snmp:Brother:{BROTHER}.3.6"


def test_lexmark_rows_by_their_type_and_only_in_sides() -> None:
    """LEXMARK-MPS-MIB paperGeneralCountTable: PaperGeneralCountType 2 totalSafe, 3 totalMonoSafe,
    4 totalColorSafe, 16 printTotal, 32 copyTotal, 48 faxTotal; UnitsTC 4 sides, 5 sheets."""
    rows = {(1, 7): (3, 4, 600), (1, 8): (4, 4, 250), (1, 9): (16, 5, 400),  # print in sheets
            (1, 10): (32, 4, 120), (1, 11): (48, 4, 15), (1, 12): (64, 4, 3)}  # 64 blankTotal
    values: dict[str, object] = {}
    for (device, row), (kind, unit, value) in rows.items():
        values[f"{LEXMARK}.2.{device}.{row}"] = kind
        values[f"{LEXMARK}.3.{device}.{row}"] = unit
        values[f"{LEXMARK}.4.{device}.{row}"] = value
    status = mapped("Lexmark", values)
    c = status.counters
    assert (c.mono, c.color, c.print, c.copy, c.fax) == (600, 250, None, 120, 15)
    assert status.sources["counters.fax"] == f"snmp:Lexmark:{LEXMARK}.4.1.11"


def test_sharp_rows_are_found_by_name_wherever_they_sit() -> None:
    """Rows matched by their name column, not their index: another model's rows elsewhere."""
    status = mapped("Sharp", {
        f"{SHARP}.4.9.9.1": b"Black & White Total Count", f"{SHARP}.3.9.9.1": 700,
        f"{SHARP}.4.9.9.2": "full color  total count", f"{SHARP}.3.9.9.2": 300,
        f"{SHARP}.4.9.9.3": "Prints", f"{SHARP}.3.9.9.3": 800,
        f"{SHARP}.4.9.9.4": "Something Else", f"{SHARP}.3.9.9.4": 5,
    })
    c = status.counters
    assert (c.mono, c.color, c.print, c.copy) == (700, 300, 800, None)
    assert status.sources["counters.mono"] == f"snmp:Sharp:{SHARP}.3.9.9.1"


def test_a_hostile_value_costs_its_counter_only() -> None:
    status = mapped("HP", {f"{HP}.5.0": 2**32 - 1, f"{HP}.6.0": -4, f"{HP}.7.0": "lots",
                           f"{HP}.22.0": 77})
    assert (status.counters.total, status.counters.mono, status.counters.color) == (
        None, None, None)
    assert status.counters.duplex == 77
    assert {p.where for p in status.problems} == {f"{HP}.5.0", f"{HP}.6.0", f"{HP}.7.0"}
    konica = mapped("Konica Minolta", {f"{KONICA}.1.1": 10, f"{KONICA}.1.2": -1,
                                       f"{KONICA}.2.1": 5, f"{KONICA}.2.2": 6})
    c = konica.counters
    assert (c.print, c.copy) == (None, 15)  # no sum lacking a part


# -- virtual printers of each vendor, over real SNMP ---------------------------------------------

VENDOR_PROFILES = ["hp-color-mfp", "sharp-mfp", "konica-mfp", "xerox-mfp", "ricoh-mfp",
                   "kyocera-mfp", "canon-laser", "epson-inkjet", "lexmark-mfp", "brother-mfp"]

EXPECTED: dict[str, dict[str, str]] = {
    # counter → the object it must come from ("+" a documented sum); absent: not told
    "hp-color-mfp": {"mono": f"HP:{HP}.6.0", "color": f"HP:{HP}.7.0",
                     "duplex": f"HP:{HP}.22.0"},
    "sharp-mfp": {"mono": f"Sharp:{SHARP}.3.5.4.61", "color": f"Sharp:{SHARP}.3.5.4.63",
                  "two_color": f"Sharp:{SHARP}.3.5.4.64+{SHARP}.3.5.4.80",
                  "print": f"Sharp:{SHARP}.3.1.4.60", "copy": f"Sharp:{SHARP}.3.4.4.60",
                  "scan": f"Sharp:{SHARP}.3.7.4.50"},
    "konica-mfp": {"print": f"Konica Minolta:{KONICA}.1.2+{KONICA}.2.2",
                   "copy": f"Konica Minolta:{KONICA}.1.1+{KONICA}.2.1"},
    "xerox-mfp": {"mono": f"Xerox:{XEROX}.1.20.34", "color": f"Xerox:{XEROX}.1.20.33",
                  "copy": f"Xerox:{XEROX}.11.20.3+{XEROX}.11.20.25"},
    "ricoh-mfp": {"print": "Ricoh:1.3.6.1.4.1.367.3.2.1.2.19.2.0",
                  "copy": "Ricoh:1.3.6.1.4.1.367.3.2.1.2.19.4.0",
                  "fax": "Ricoh:1.3.6.1.4.1.367.3.2.1.2.19.3.0"},
    "kyocera-mfp": {},
    "canon-laser": {"mono": "Canon:1.3.6.1.4.1.1602.1.11.1.3.1.4.108",
                    "large": "Canon:1.3.6.1.4.1.1602.1.11.1.3.1.4.103",
                    "small": "Canon:1.3.6.1.4.1.1602.1.11.1.3.1.4.104"},
    "epson-inkjet": {"mono": "Epson:1.3.6.1.4.1.1248.1.2.2.27.1.1.3.1.1",
                     "color": "Epson:1.3.6.1.4.1.1248.1.2.2.27.1.1.4.1.1"},
    "lexmark-mfp": {"mono": f"Lexmark:{LEXMARK}.4.1.2", "color": f"Lexmark:{LEXMARK}.4.1.3",
                    "print": f"Lexmark:{LEXMARK}.4.1.4", "copy": f"Lexmark:{LEXMARK}.4.1.5",
                    "fax": f"Lexmark:{LEXMARK}.4.1.6"},
    # the simulator keeps each brPrintPagesFuncTable row at its type's number
    "brother-mfp": {"print": f"Brother:{BROTHER}.3.1", "fax": f"Brother:{BROTHER}.3.2",
                    "copy": f"Brother:{BROTHER}.3.3"},
}


def truth(printer: VirtualPrinter) -> dict[str, int]:
    """What the virtual printer counted, by `Counters` field."""
    return {name: printer.state.meters.count(meter) for name, meter in FIELD_METERS.items()}


async def read(reader: DeviceReader, printer: VirtualPrinter) -> DeviceStatus:
    target = SnmpTarget(printer.ip, printer.snmp_port,
                        SnmpCredentials(version=2, community="public"))
    return await reader.read(printer.ip, target, None)


async def test_each_vendor_profile_tells_its_counters_with_their_sources() -> None:
    async with running_fleet("127.0.120.1", len(VENDOR_PROFILES), seed=5,
                             profiles=VENDOR_PROFILES) as fleet, DeviceReader() as reader:
        port = free_port()
        runner = await start_control_api(fleet, "127.0.0.1", port)
        api = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                for job in ({"pages": 7}, {"pages": 5, "color": True},
                            {"pages": 4, "function": "copy"},
                            {"pages": 3, "color": True, "function": "copy", "large": True,
                             "duplex": True},
                            {"pages": 2, "function": "fax"},
                            {"pages": 6, "function": "scan"}):
                    async with http.post(f"{api}/print", json=job) as response:
                        assert response.status == 200, await response.text()
                async with http.post(f"{api}/print",
                                     json={"pages": 1, "function": "teleport"}) as response:
                    assert response.status == 400  # on no printer: nothing counted
            for printer in fleet.printers:
                status = await read(reader, printer)
                key = printer.profile.key
                expected, counted = EXPECTED[key], truth(printer)
                for name, source in expected.items():
                    assert getattr(status.counters, name) == counted[name], (key, name)
                    assert status.sources[f"counters.{name}"] == f"snmp:{source}", (key, name)
                told = {name for name in counted if name != "total"
                        and getattr(status.counters, name) is not None}
                assert told == set(expected), key  # nothing the device did not tell
                assert status.counters.total == printer.state.total_pages
                assert status.sources["counters.total"] == "snmp:prtMarkerLifeCount"
                assert not status.problems, (key, status.problems)
        finally:
            await runner.cleanup()
    # the sim counted the jobs as sent: 7 + 4 mono, 5 + 3 colour, 4 + 3 copies, 6 scans
    hp = next(p for p in fleet.printers if p.profile.key == "hp-color-mfp")
    assert truth(hp)["copy"] == 7 and truth(hp)["scan"] == 6 and truth(hp)["duplex"] == 2


async def test_printgw_poll_json_shows_counters_and_sources() -> None:
    """The command line the brief names: `printgw poll --json` on a Sharp MFP."""
    async with running_fleet("127.0.121.1", 1, seed=6, profiles=["sharp-mfp"]) as fleet:
        [printer] = fleet.printers
        printer.state.print_pages(9, color=True, function="copy")
        rc, out, err = await run(*COMMAND, "poll", printer.ip, "--port", str(printer.snmp_port),
                                 "--no-ipp", "--json", limit=60)
        assert rc == 0, err
        data = json.loads(out)
        counted = truth(printer)
        assert data["counters"]["copy"] == counted["copy"]
        assert data["counters"]["color"] == counted["color"]
        assert data["sources"]["counters.copy"] == f"snmp:Sharp:{SHARP}.3.4.4.60"


@pytest.mark.parametrize("bad", ["-5", "4294967295", "abc"])
async def test_a_hostile_vendor_object_on_the_wire_costs_its_counter(tmp_path: Path,
                                                                      bad: str) -> None:
    """A recording served by the simulator with one bad HP counter object: that counter is None
    with a problem, the others are read."""
    tag = "4" if bad == "abc" else "2" if bad.startswith("-") else "65"
    recording = tmp_path / "hostile.snmprec"
    recording.write_text("\n".join([
        "1.3.6.1.2.1.1.1.0|4|HP LaserJet hostile",
        "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.11.2.3.9.1",
        "1.3.6.1.2.1.43.10.2.1.4.1.1|65|1000",
        f"{HP}.5.0|65|1000",
        f"{HP}.6.0|{tag}|{bad}",
        f"{HP}.7.0|65|250",
    ]) + "\n")
    async with running_fleet("127.0.121.20", 1, profiles=[str(recording)]) as fleet, \
            DeviceReader() as reader:
        status = await read(reader, fleet.printers[0])
    assert status.counters.mono is None
    assert status.counters.color == 250 and status.counters.total == 1000
    assert [p.where for p in status.problems if p.source == "snmp"] == [f"{HP}.6.0"]
