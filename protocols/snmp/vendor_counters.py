"""The vendors' own page counter objects: what each counts, where each vendor keeps it.

One table serves both the reader (`protocols/snmp/printer.py` fetches the objects,
`gateway/device/snmp_counters.py` maps them onto `Counters`) and the virtual printers
(`simulator/vendor_counters.py` serves them from the same definitions), so both stay in line; the
tests check a few OIDs against numbers typed in from the documentation, so a wrong OID here is
caught.

Each object says what it counts as a `Meter` (impressions of a function, in a colour, on a media
size; or duplex sheets; or pages scanned).  A `Counters` field is taken from a `Sum` the vendor
documents as exact where one is listed and each of its parts was read (the source then names every
object summed), else from the object whose meter is exactly the field's (`FIELD_METERS`).
Nothing is derived otherwise: no total minus colour.

Where a vendor keeps a counter TABLE with a name column, rows are matched by their name (rows move
between models); the row index given here is where the documented device has it (the simulator
serves it there).  A table whose rows say their kind by an enumeration instead (Lexmark, Brother) is
matched by that number, and, where it has a unit column, only in the unit the field counts.

Sources, per vendor (only objects whose meaning is established; the rest is read from the
standard MIBs, and a vendor not listed here has no vendor counters):

- HP (11), HP-LASERJET-COMMON-MIB `status-prt-eng` 1.3.6.1.4.1.11.2.3.9.4.2.1.4.1.2:
  `total-engine-page-count` .5.0, `total-mono-page-count` .6.0 (the M130nw recording: 15232 =
  prtMarkerLifeCount), `total-color-page-count` .7.0, `duplex-page-count` .22.0 (sheets).
- Xerox (253), XEROX-HOST-RESOURCES-EXT-MIB `xcmHrDevDetailValueInteger`
  1.3.6.1.4.1.253.8.53.13.2.1.6.{hrDeviceIndex}.20.{counter}: printer device 1: total
  impressions .1.20.1, colour impressions .1.20.33, black impressions .1.20.34; copier device 11:
  black copies .11.20.3, colour copies .11.20.25 (copy = their sum).
- Ricoh (367), RICOH-MIB `ricohEngCounter` 1.3.6.1.4.1.367.3.2.1.2.19: `ricohEngCounterTotal`
  .1.0, `ricohEngCounterPrinter` .2.0, `ricohEngCounterFax` .3.0 (the fax application's prints),
  `ricohEngCounterCopier` .4.0.
- Kyocera (1347), KYOCERA-MIB `kcprtMarkerServiceCount` total 1.3.6.1.4.1.1347.43.10.1.1.12.1.1.
- Canon (1602), CANON-MIB counter table 1.3.6.1.4.1.1602.1.11.1.3.1.4.{Canon counter number}:
  101 "Total 1" (total), 108 "Total (Black 1)" (mono), 103 "Total (Large)" (large), 104 "Total
  (Small)" (small) — Canon's billing counter codes (IDB_T_TOTAL_L/_S: A3-class and A4-class media,
  large counted once, unlike 102 "Total 2").
- Epson (1248), the Epson private counters 1.3.6.1.4.1.1248.1.2.2.27.1.1.{30,3,4}.1.1: total,
  black-and-white and colour pages (as the device's web page shows them).
- Sharp (2385), the Sharp counter table 1.3.6.1.4.1.2385.1.1.19.2.1 (value column .3, name column
  .4), matched by name: "Black & White Total Count" (mono), "Full Color Total Count" (colour),
  "Two Color Total Count" + "Single Color Total Count" (two-colour), "Prints" (print),
  "Copies" (copy), "Scan to E-mail/FTP" (scan); the per-function colour rows are read too.  The
  MX-3570N recording: mono 91164 + colour 29940 = prtMarkerLifeCount 121104; "Prints" 82214 =
  53631 + 28583.  Its "Duplex" row sits in the printer section and is not taken as the
  device's duplex count.
- Konica Minolta (18334), 1.3.6.1.4.1.18334.1.1.1.5.7.2.2.1.5.{colour}.{function} (colour 1
  black, 2 full colour; function 1 copy, 2 print), summed exactly: print = print-black +
  print-colour, copy = copy-black + copy-colour.  Not the device's black or colour totals: faxes
  and reports printed are in neither function (the bizhub C250i recording: 3672 + 22876 + 544 +
  6711 = 33803, prtMarkerLifeCount 33810), so mono and colour are not summed from them.

- Lexmark (641), LEXMARK-MPS-MIB `paperGeneralCountTable` 1.3.6.1.4.1.641.6.4.2.1.1 (indexed by
  deviceIndex and row; type column .2 `PaperGeneralCountType`, units column .3 `UnitsTC`, value
  column .4), rows in `sides` (4), i.e. impressions: totalSafe (2, total delivered to an output
  bin), totalMonoSafe (3, mono), totalColorSafe (4, colour), printTotal (16, print), copyTotal
  (32, copy), faxTotal (48, fax).  The MIB's minimum support level is the three total rows.

- Brother (2435), BROTHER-MIB (Brother's own text, "ver.091.1", as LibreNMS keeps it in
  `mibs/brother/BROTHER-MIB`) `brPrintPagesFuncTable` 1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.52.21
  ("Print Pages of each function"; entry .1, indexed by `brPrintPagesFuncIndex`; type column .2
  `brPrintPagesFuncType`, value column .3 `brPrintPagesFuncCounter`, "The count of Print pages of
  the function"), rows matched by their type (no device recording holds the table: the simulator
  serves each row at its type's number): pcPrinttotal (1, print), faxtotal (2, fax: the pages the
  fax function printed), copytotal (3, copy); the per-colour rows copycolor (4), pcPrintcolor
  (5), faxcolor (6), pcPrintmono (7), faxmono (8), copymono (9) are read too.  "pcPrint" is the
  MIB's only print function: prints from memory cards or PictBridge are in it or in none, the MIB
  does not say.  Not taken from BROTHER-MIB: `brInfoCounter` (printerinfomation 10, .5.5.10.0,
  "Page counter", an OCTET STRING whose layout the MIB does not give), `brScanCountTable` (scans
  per scan place adf / fb / adfdx; the MIB does not say the places add up to the pages scanned),
  `brPrintPagesMediaPlaceTable` (face / back pages: back pages are not the duplex sheets
  `Counters.duplex` counts) and `brPrintPagesTable` (pages per paper size: no large/small total).

Not listed (no object established well enough here):
- Samsung (236): SAMSUNG-PRINTER-EXT-MIB `scmPrtCountTable` (…236.11.5.11.55.20.2) and
  SAMSUNG-HOST-RESOURCES-EXT-MIB `scmHrDevCountTable` (…236.11.5.11.53.11.2), as
  `DotZero24/pysnmp-mibs` keeps them in `mibs/samsung/`, give each row's kind as a combination of
  job type, media size, colour, duplex mode and unit columns with no value documented as "all of
  them" (only other(-1) / unknown(-2)); their DESCRIPTIONs are empty ("Description.") or say the
  unit is sheets by default, and neither says which rows a device lists or that rows add up to a
  total: no row is documented as the device's total, colour, print or copy count.
- OKI (2001): the only OKI MIB text found, OKIDATA-MIB (compiled in `DotZero24/pysnmp-mibs`,
  `pysnmp_mibs/OKIDATA-MIB.py`, without DESCRIPTIONs), does not define the objects peers read
  under …2001.1.1.1.1.11.1.10 (.150, .170, .999…: its `cfg2PrinterInformation` there ends at .70),
  and those peers differ from one another.
- Toshiba (1129): no Toshiba printer MIB text found (LibreNMS's `mibs/toshiba/` holds a UPS MIB);
  peers read …1129.2.3.50.1.3.21.6.1.{category}.1.{colour} with category sets they say differ by
  model.
- Dell: nothing published found.
- Kyocera's per-function counters: KMCOMMON-MIB `kmMFPCounterTable` (…1347.42.3.1.1, in
  `DotZero24/pysnmp-mibs` `mibs/kyocera/KMCOMMON-MIB`) is indexed by hrDeviceIndex only, with
  "Counter values for each functions" as its whole description: which function a row counts is not
  said.  The same repository's KYOCERA-MIB describes `kcprtMarkerServiceCount` (the total above)
  only as "Added by Observium Developers": it is not Kyocera's text.
- Sharp's fax and A3 rows: their names are not in the documentation found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CounterName = Literal["total", "color", "mono", "two_color", "print", "copy", "fax", "scan",
                      "large", "small", "duplex"]
Function = Literal["print", "copy", "fax", "scan"]
Colour = Literal["mono", "color", "two_color", "single_color"]
Size = Literal["large", "small"]


@dataclass(frozen=True)
class Meter:
    """What a counter counts: impressions of `function` in `colour` on `size` media (None: all of
    them), or, with `duplex`, sheets printed on both sides; function "scan" counts pages scanned."""

    function: Function | None = None
    colour: Colour | None = None
    size: Size | None = None
    duplex: bool = False


FIELD_METERS: dict[CounterName, Meter] = {
    "total": Meter(),
    "color": Meter(colour="color"),
    "mono": Meter(colour="mono"),
    "two_color": Meter(colour="two_color"),
    "print": Meter("print"),
    "copy": Meter("copy"),
    "fax": Meter("fax"),
    "scan": Meter("scan"),
    "large": Meter(size="large"),
    "small": Meter(size="small"),
    "duplex": Meter(duplex=True),
}
"""The meter each `Counters` field means, in the order the reader fills them."""


@dataclass(frozen=True)
class CounterObject:
    """A scalar (or fixed-row) counter object: its instance OID and what it counts."""

    oid: str
    meter: Meter


@dataclass(frozen=True)
class NamedRow:
    """A row of a vendor's counter table, found by its `name` (text, or the number of an
    enumeration); `index` is where the documented device keeps it."""

    index: str
    name: str | int
    meter: Meter


@dataclass(frozen=True)
class CounterTable:
    """A vendor counter table with a name column: walked, and matched by name."""

    value_column: str
    name_column: str
    rows: tuple[NamedRow, ...]
    expected_rows: int
    """Values a walk of one column may read (several times what real devices hold)."""
    unit_column: str | None = None
    unit: int | None = None
    """Where rows count in different units: a row is taken only if its unit column says `unit`."""


@dataclass(frozen=True)
class Sum:
    """`counter` is exactly the sum of the objects counting `parts` (the vendor documents it)."""

    counter: CounterName
    parts: tuple[Meter, ...]


@dataclass(frozen=True)
class VendorCounters:
    vendor: str
    """The vendor's name as sources show it (`snmp:VENDOR:OID`)."""
    objects: tuple[CounterObject, ...] = ()
    table: CounterTable | None = None
    sums: tuple[Sum, ...] = ()

    def scalar_oids(self) -> list[str]:
        return [obj.oid for obj in self.objects]

    def columns(self) -> tuple[str, ...]:
        table = self.table
        if table is None:
            return ()
        unit = (table.unit_column,) if table.unit_column else ()
        return (table.name_column, table.value_column, *unit)


_HP = "1.3.6.1.4.1.11.2.3.9.4.2.1.4.1.2"
_XEROX = "1.3.6.1.4.1.253.8.53.13.2.1.6"
_RICOH = "1.3.6.1.4.1.367.3.2.1.2.19"
_CANON = "1.3.6.1.4.1.1602.1.11.1.3.1.4"
_EPSON = "1.3.6.1.4.1.1248.1.2.2.27.1.1"
_SHARP = "1.3.6.1.4.1.2385.1.1.19.2.1"
_KONICA = "1.3.6.1.4.1.18334.1.1.1.5.7.2.2.1.5"
_LEXMARK = "1.3.6.1.4.1.641.6.4.2.1.1"
_BROTHER = "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.52.21.1"

_MONO, _COLOR = Meter(colour="mono"), Meter(colour="color")
_PRINT_MONO, _PRINT_COLOR = Meter("print", "mono"), Meter("print", "color")
_COPY_MONO, _COPY_COLOR = Meter("copy", "mono"), Meter("copy", "color")
_BY_FUNCTION_AND_COLOUR = (
    Sum("print", (_PRINT_MONO, _PRINT_COLOR)),
    Sum("copy", (_COPY_MONO, _COPY_COLOR)),
)

VENDOR_COUNTERS: dict[int, VendorCounters] = {
    11: VendorCounters("HP", objects=(
        CounterObject(f"{_HP}.5.0", Meter()),
        CounterObject(f"{_HP}.6.0", _MONO),
        CounterObject(f"{_HP}.7.0", _COLOR),
        CounterObject(f"{_HP}.22.0", Meter(duplex=True)),
    )),
    253: VendorCounters("Xerox", objects=(
        CounterObject(f"{_XEROX}.1.20.1", Meter()),
        CounterObject(f"{_XEROX}.1.20.33", _COLOR),
        CounterObject(f"{_XEROX}.1.20.34", _MONO),
        CounterObject(f"{_XEROX}.11.20.3", _COPY_MONO),
        CounterObject(f"{_XEROX}.11.20.25", _COPY_COLOR),
    ), sums=(Sum("copy", (_COPY_MONO, _COPY_COLOR)),)),
    367: VendorCounters("Ricoh", objects=(
        CounterObject(f"{_RICOH}.1.0", Meter()),
        CounterObject(f"{_RICOH}.2.0", Meter("print")),
        CounterObject(f"{_RICOH}.3.0", Meter("fax")),
        CounterObject(f"{_RICOH}.4.0", Meter("copy")),
    )),
    641: VendorCounters("Lexmark", table=CounterTable(
        value_column=f"{_LEXMARK}.4", name_column=f"{_LEXMARK}.2", expected_rows=400,
        unit_column=f"{_LEXMARK}.3", unit=4, rows=(  # UnitsTC sides
            NamedRow("1.1", 2, Meter()),
            NamedRow("1.2", 3, _MONO),
            NamedRow("1.3", 4, _COLOR),
            NamedRow("1.4", 16, Meter("print")),
            NamedRow("1.5", 32, Meter("copy")),
            NamedRow("1.6", 48, Meter("fax")),
        ))),
    1248: VendorCounters("Epson", objects=(
        CounterObject(f"{_EPSON}.30.1.1", Meter()),
        CounterObject(f"{_EPSON}.3.1.1", _MONO),
        CounterObject(f"{_EPSON}.4.1.1", _COLOR),
    )),
    1347: VendorCounters("Kyocera", objects=(
        CounterObject("1.3.6.1.4.1.1347.43.10.1.1.12.1.1", Meter()),
    )),
    1602: VendorCounters("Canon", objects=(
        CounterObject(f"{_CANON}.101", Meter()),
        CounterObject(f"{_CANON}.108", _MONO),
        CounterObject(f"{_CANON}.103", Meter(size="large")),
        CounterObject(f"{_CANON}.104", Meter(size="small")),
    )),
    2385: VendorCounters("Sharp", table=CounterTable(
        value_column=f"{_SHARP}.3", name_column=f"{_SHARP}.4", expected_rows=400, rows=(
            NamedRow("1.4.60", "Prints", Meter("print")),
            NamedRow("1.4.61", "Black & White Print Count", _PRINT_MONO),
            NamedRow("1.4.63", "Full Color Print Count", _PRINT_COLOR),
            NamedRow("4.4.60", "Copies", Meter("copy")),
            NamedRow("4.4.61", "Black & White Copy Count", _COPY_MONO),
            NamedRow("4.4.63", "Full Color Copy Count", _COPY_COLOR),
            NamedRow("5.4.61", "Black & White Total Count", _MONO),
            NamedRow("5.4.63", "Full Color Total Count", _COLOR),
            NamedRow("5.4.64", "Two Color Total Count", Meter(colour="two_color")),
            NamedRow("5.4.80", "Single Color Total Count", Meter(colour="single_color")),
            NamedRow("7.4.50", "Scan to E-mail/FTP", Meter("scan")),
        )),
        sums=(Sum("two_color", (Meter(colour="two_color"), Meter(colour="single_color"))),),
    ),
    2435: VendorCounters("Brother", table=CounterTable(
        value_column=f"{_BROTHER}.3", name_column=f"{_BROTHER}.2", expected_rows=100, rows=(
            NamedRow("1", 1, Meter("print")),  # brPrintPagesFuncType pcPrinttotal
            NamedRow("2", 2, Meter("fax")),  # faxtotal
            NamedRow("3", 3, Meter("copy")),  # copytotal
            NamedRow("4", 4, _COPY_COLOR),  # copycolor
            NamedRow("5", 5, _PRINT_COLOR),  # pcPrintcolor
            NamedRow("6", 6, Meter("fax", "color")),  # faxcolor
            NamedRow("7", 7, _PRINT_MONO),  # pcPrintmono
            NamedRow("8", 8, Meter("fax", "mono")),  # faxmono
            NamedRow("9", 9, _COPY_MONO),  # copymono
        ))),
    18334: VendorCounters("Konica Minolta", objects=(
        CounterObject(f"{_KONICA}.1.1", _COPY_MONO),
        CounterObject(f"{_KONICA}.1.2", _PRINT_MONO),
        CounterObject(f"{_KONICA}.2.1", _COPY_COLOR),
        CounterObject(f"{_KONICA}.2.2", _PRINT_COLOR),
    ), sums=_BY_FUNCTION_AND_COLOUR),
}
"""By IANA enterprise number of the device's sysObjectID; each `vendor` is the name
`protocols.snmp.vendors` gives that number."""


_BY_VENDOR = {meters.vendor: meters for meters in VENDOR_COUNTERS.values()}


def counters_for(vendor: str) -> VendorCounters | None:
    """The counter objects of the vendor `protocols.snmp.vendors` names (its `Vendor.name`)."""
    return _BY_VENDOR.get(vendor) if vendor else None


def normal_name(name: str | int) -> str:
    """A counter row's name as matched: case and runs of blanks do not matter (an enumeration's
    number is matched as its text)."""
    return " ".join(str(name).split()).casefold()
