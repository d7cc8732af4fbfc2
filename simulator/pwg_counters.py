"""A virtual printer's PWG Imaging System Counter MIB (`protocols.snmp.pwg_counters`), served for a
profile with `imaging_counter_mib`, from the truth its `PageMeters` hold.

The keys are those of an MFP: one per service (system totals, print, copy, fax in, fax out, scan)
and one for the print service's marker subunit, whose counters are not the service's.  Each
counter row is served for the work totals and for the other work types and persistences too, with
other values, so a reader that takes the wrong row is caught.
"""

from __future__ import annotations

from protocols.snmp import pwg_counters as pwg
from protocols.snmp.vendor_counters import Meter
from simulator import ber
from simulator.meters import PageMeters

FAX_OUT, MARKER = 8, 10
"""IcServiceTypeTC `faxOut`, IcSubunitTypeTC `marker`."""
KEYS: tuple[tuple[int, int, int], ...] = (
    # (icKeyIndex, service type, subunit index: 0 the service itself)
    (1, pwg.SYSTEM_TOTALS, 0), (2, pwg.PRINT, 0), (3, pwg.COPY, 0), (4, pwg.FAX_IN, 0),
    (5, FAX_OUT, 0), (6, pwg.SCAN, 0), (7, pwg.PRINT, 1),
)
_SERVICE_METERS = {pwg.SYSTEM_TOTALS: Meter(), pwg.PRINT: Meter("print"),
                   pwg.COPY: Meter("copy"), pwg.FAX_IN: Meter("fax")}
_POWER_ON, _DATASTREAM = 4, 4
"""IcPersistenceTC `powerOn`, IcWorkTypeTC `datastream`: rows served beside the read one."""


def _i(value: int) -> bytes:
    return ber.enc_int(value & 0x7FFFFFFF)  # IcCounter32: Integer32 0..2^31-1


def pwg_counter_values(meters: PageMeters) -> dict[ber.Oid, bytes]:
    """The key table and the impression and image counters of every key, counting `meters`."""
    values: dict[ber.Oid, bytes] = {}
    for key, service, subunit in KEYS:
        values[(*ber.parse_oid(pwg.icKeyServiceType), key)] = _i(service)
        values[(*ber.parse_oid(pwg.icKeySubunitIndex), key)] = _i(subunit)
        values[(*ber.parse_oid(f"{pwg.icKeyEntry}.4"), key)] = _i(MARKER if subunit else 1)
        for column, count in _counts(service, subunit, meters).items():
            for work, persistence, share in ((pwg.WORK_TOTALS, pwg.LIFETIME, 1),
                                             (pwg.WORK_TOTALS, _POWER_ON, 3),
                                             (_DATASTREAM, pwg.LIFETIME, 2)):
                oid = (*ber.parse_oid(column), key, work, persistence)
                values[oid] = _i(count // share)
    return values


def _counts(service: int, subunit: int, meters: PageMeters) -> dict[str, int]:
    """The lifetime work totals of one key, by counter column."""
    if subunit:  # the marker's impressions: a made-up figure no service counter has
        return {pwg.icImpressionTotalImps: meters.count(Meter()) + 17}
    if service == pwg.SCAN:
        return {pwg.icImageTotalImages: meters.count(Meter("scan"))}
    meter = _SERVICE_METERS.get(service)
    if meter is None:
        return {pwg.icImpressionTotalImps: 0}
    counts = {pwg.icImpressionTotalImps: meters.count(meter)}
    if service == pwg.SYSTEM_TOTALS:
        counts[pwg.icImpressionMonochromeImps] = meters.count(Meter(colour="mono"))
        counts[pwg.icImpressionFullColorImps] = meters.count(Meter(colour="color"))
        counts[pwg.icImpressionHighlightColorImps] = meters.count(Meter(colour="two_color"))
    return counts
