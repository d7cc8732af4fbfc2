"""The PWG Imaging System Counter MIB (PWG 5106.1 counters in the MIB of PWG 5106.3,
`PWG-IMAGING-COUNTER-MIB`, `imagingCounterMIB` 1.3.6.1.4.1.2699.1.3): which of its counters a
`Counters` field is, shared by the reader (`gateway/device/snmp_counters.py`) and the virtual
printers (`simulator/pwg_counters.py`).

The MIB keys every counter by a row of `icKeyTable` (icKeyIndex): the key names a managed service
(`icKeyServiceType`, IcServiceTypeTC) or a subunit of one (`icKeySubunitIndex` non-zero).  The
counter tables are indexed by key, work type (IcWorkTypeTC) and persistence (IcPersistenceTC);
only `workTotals` and `lifetime` are read (power-on and reset counters restart, which a meter
must not).  What is taken:

- `systemTotals` (3), `icImpressionTable` (…1.8.1.1): TotalImps .4 (total), MonochromeImps .5
  (mono), FullColorImps .7 (colour), HighlightColorImps .8 (two-colour);
- `print` (11), `copy` (4), `faxIn` (7, faxes received and printed): TotalImps .4 (print, copy,
  fax);
- `scan` (12), `icImageTable` (…1.7.1.1): TotalImages .4 (pages scanned).

Not taken, as no `Counters` field is exactly what they count: `icTwoSidedTable` counts
impressions on two-sided sheets, not the sheets (`duplex`), and a sheet's blank back counts as an
impression only where the marker passes it; `icMediaUsedTable` counts sheets per medium, not
impressions per size class (`large`/`small`).
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.snmp.vendor_counters import Meter

IMAGING_COUNTER_MIB = "1.3.6.1.4.1.2699.1.3"
_OBJECTS = f"{IMAGING_COUNTER_MIB}.1"

icKeyEntry = f"{_OBJECTS}.2.1.1"
icKeyServiceType = f"{icKeyEntry}.2"
icKeySubunitIndex = f"{icKeyEntry}.5"
icImageEntry = f"{_OBJECTS}.7.1.1"
icImageTotalImages = f"{icImageEntry}.4"
icImpressionEntry = f"{_OBJECTS}.8.1.1"
icImpressionTotalImps = f"{icImpressionEntry}.4"
icImpressionMonochromeImps = f"{icImpressionEntry}.5"
icImpressionFullColorImps = f"{icImpressionEntry}.7"
icImpressionHighlightColorImps = f"{icImpressionEntry}.8"

SYSTEM_TOTALS, COPY, FAX_IN, PRINT, SCAN = 3, 4, 7, 11, 12
"""IcServiceTypeTC values read."""
WORK_TOTALS = 3
"""IcWorkTypeTC `workTotals`."""
LIFETIME = 3
"""IcPersistenceTC `lifetime`."""

SUBTREES = (icKeyEntry, icImpressionEntry, icImageEntry)
"""Walked by every reading; an agent without the MIB ends each walk at once."""
EXPECTED_ROWS = {
    icKeyEntry: 1_000,  # 4 columns; a key per service and per subunit (a few dozen)
    icImpressionEntry: 5_000,  # 5 columns x keys x work types x 3 persistences
    icImageEntry: 3_000,  # 3 columns, as many rows
}


@dataclass(frozen=True)
class PwgCounter:
    """The counter `column` of the key of service `service` counts `meter`."""

    service: int
    column: str
    meter: Meter


PWG_COUNTERS = (
    PwgCounter(SYSTEM_TOTALS, icImpressionTotalImps, Meter()),
    PwgCounter(SYSTEM_TOTALS, icImpressionMonochromeImps, Meter(colour="mono")),
    PwgCounter(SYSTEM_TOTALS, icImpressionFullColorImps, Meter(colour="color")),
    PwgCounter(SYSTEM_TOTALS, icImpressionHighlightColorImps, Meter(colour="two_color")),
    PwgCounter(PRINT, icImpressionTotalImps, Meter("print")),
    PwgCounter(COPY, icImpressionTotalImps, Meter("copy")),
    PwgCounter(FAX_IN, icImpressionTotalImps, Meter("fax")),
    PwgCounter(SCAN, icImageTotalImages, Meter("scan")),
)


def instance(counter: PwgCounter, key: str) -> str:
    """The OID of `counter`'s lifetime work total for key `key` (an icKeyIndex)."""
    return f"{counter.column}.{key}.{WORK_TOTALS}.{LIFETIME}"
