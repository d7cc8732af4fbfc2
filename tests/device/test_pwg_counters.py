"""The PWG Imaging System Counter MIB (PWG 5106.1/5106.3, issue 17 meter reads): the counters of
the system totals and of the print, copy, fax-in and scan services, lifetime work totals only,
after the vendor's own objects; read end to end from a virtual MFP that keeps its meters there."""

from __future__ import annotations

from gateway.device.model import DeviceStatus
from gateway.device.reader import DeviceReader
from gateway.device.snmp_mapping import apply_snmp
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from protocols.snmp.printer import PrinterReading
from protocols.snmp.vendor_counters import FIELD_METERS, counters_for
from tests.support.sim_helpers import running_fleet

# typed in from PWG-IMAGING-COUNTER-MIB, not from protocols.snmp.pwg_counters
KEY = "1.3.6.1.4.1.2699.1.3.1.2.1.1"  # icKeyEntry: .2 service type, .5 subunit index
IMPS = "1.3.6.1.4.1.2699.1.3.1.8.1.1"  # icImpressionEntry: .4 total .5 mono .7 full colour
IMAGES = "1.3.6.1.4.1.2699.1.3.1.7.1.1"  # icImageEntry: .4 total images
LIFE = "3.3"  # workTotals(3), lifetime(3)
SHARP = "1.3.6.1.4.1.2385.1.1.19.2.1"


def keys(*rows: tuple[int, int, int]) -> dict[str, object]:
    """icKeyTable rows (key, IcServiceTypeTC, subunit index)."""
    values: dict[str, object] = {}
    for key, service, subunit in rows:
        values[f"{KEY}.2.{key}"] = service
        values[f"{KEY}.5.{key}"] = subunit
    return values


def mapped(values: dict[str, object], vendor: str = "") -> DeviceStatus:
    reading = PrinterReading(values=dict(values), meters=counters_for(vendor))
    status = DeviceStatus(host="192.0.2.9")
    apply_snmp(status, reading)
    return status


def test_system_totals_and_services_as_the_mib_defines_them() -> None:
    status = mapped({
        # systemTotals 3, print 11, copy 4, faxIn 7, scan 12; key 9: a subunit of print
        **keys((1, 3, 0), (2, 11, 0), (3, 4, 0), (4, 7, 0), (5, 12, 0), (9, 11, 1)),
        f"{IMPS}.4.1.{LIFE}": 1000, f"{IMPS}.5.1.{LIFE}": 700, f"{IMPS}.7.1.{LIFE}": 280,
        f"{IMPS}.8.1.{LIFE}": 20,
        f"{IMPS}.4.1.3.4": 5,  # powerOn: not a meter
        f"{IMPS}.4.2.{LIFE}": 800, f"{IMPS}.4.2.4.3": 9,  # datastream work: not the total
        f"{IMPS}.4.3.{LIFE}": 150, f"{IMPS}.4.4.{LIFE}": 50,
        f"{IMAGES}.4.5.{LIFE}": 321,
        f"{IMPS}.4.9.{LIFE}": 999,  # the marker subunit's count is not the print service's
    })
    c = status.counters
    assert (c.total, c.mono, c.color, c.two_color) == (1000, 700, 280, 20)
    assert (c.print, c.copy, c.fax, c.scan) == (800, 150, 50, 321)
    assert (c.duplex, c.large, c.small) == (None, None, None)
    assert status.sources["counters.total"] == f"snmp:pwg-imaging-counter:{IMPS}.4.1.3.3"
    assert status.sources["counters.scan"] == f"snmp:pwg-imaging-counter:{IMAGES}.4.5.3.3"
    assert not status.problems


def test_vendor_objects_first_then_pwg_and_the_printer_mib_total_first() -> None:
    status = mapped({
        "1.3.6.1.2.1.43.10.2.1.4.1.1": 1234,  # prtMarkerLifeCount
        f"{SHARP}.4.1.4.60": "Prints", f"{SHARP}.3.1.4.60": 600,
        **keys((1, 3, 0), (2, 11, 0), (4, 7, 0)),
        f"{IMPS}.4.1.{LIFE}": 1200, f"{IMPS}.4.2.{LIFE}": 590, f"{IMPS}.4.4.{LIFE}": 44,
    }, vendor="Sharp")
    c = status.counters
    assert (c.total, c.print, c.fax) == (1234, 600, 44)
    assert status.sources["counters.total"] == "snmp:prtMarkerLifeCount"
    assert status.sources["counters.print"] == f"snmp:Sharp:{SHARP}.3.1.4.60"
    assert status.sources["counters.fax"] == f"snmp:pwg-imaging-counter:{IMPS}.4.4.3.3"


def test_a_hostile_or_ambiguous_key_table_costs_its_counters_only() -> None:
    status = mapped({
        **keys((1, 3, 0), (2, 11, 0), (3, 11, 0), (4, 4, 0)),  # two print services
        f"{KEY}.2.5": "copy",  # not an IcServiceTypeTC
        f"{IMPS}.4.1.{LIFE}": -3, f"{IMPS}.5.1.{LIFE}": 10,
        f"{IMPS}.4.2.{LIFE}": 5, f"{IMPS}.4.3.{LIFE}": 6, f"{IMPS}.4.4.{LIFE}": 2**31 + 5,
    })
    c = status.counters
    assert (c.total, c.mono, c.print, c.copy) == (None, 10, None, None)
    assert {p.where for p in status.problems} == {
        f"{IMPS}.4.1.{LIFE}", f"{KEY}.2.5", f"{IMPS}.4.4.{LIFE}"}


async def test_a_pwg_mfp_tells_its_meters_over_snmp() -> None:
    async with running_fleet("127.0.121.60", 2, seed=9,
                             profiles=["pwg-mfp", "legacy-laser"]) as fleet, \
            DeviceReader() as reader:
        pwg, plain = fleet.printers
        for printer in fleet.printers:
            printer.state.print_pages(6, color=printer.state.color)
            printer.state.print_pages(4, function="copy", large=True)
            printer.state.print_pages(3, function="fax", duplex=True)
            printer.state.scan_pages(8)
        statuses = []
        for printer in fleet.printers:
            target = SnmpTarget(printer.ip, printer.snmp_port,
                                SnmpCredentials(version=2, community="public"))
            statuses.append(await reader.read(printer.ip, target, None))
    status, plain_status = statuses
    meters = pwg.state.meters
    for name in ("mono", "color", "two_color", "print", "copy", "fax", "scan"):
        assert getattr(status.counters, name) == meters.count(FIELD_METERS[name]), name
        assert status.sources[f"counters.{name}"].startswith("snmp:pwg-imaging-counter:"), name
    assert status.sources["counters.print"] == f"snmp:pwg-imaging-counter:{IMPS}.4.2.3.3"
    assert status.counters.total == pwg.state.total_pages
    assert status.sources["counters.total"] == "snmp:prtMarkerLifeCount"
    assert (status.counters.duplex, status.counters.large) == (None, None)
    assert not status.problems
    # an agent without the MIB: no counter but the Printer-MIB's total, and no problem
    assert plain_status.counters.total == plain.state.total_pages
    assert all(getattr(plain_status.counters, name) is None for name in FIELD_METERS
               if name != "total")
    assert not plain_status.problems
