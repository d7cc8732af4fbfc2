"""Page counters from SNMP (`apply_counters`): the Printer-MIB's marker life count for the total,
then the vendor's own counter objects (`protocols.snmp.vendor_counters`) for every field, then the
PWG Imaging System Counter MIB (`protocols.snmp.pwg_counters`) for what the vendor's objects left
empty.

Each value keeps its source in `DeviceStatus.sources`: `snmp:prtMarkerLifeCount`,
`snmp:VENDOR:OID` (`snmp:VENDOR:OID+OID` for a sum the vendor documents as exact), or
`snmp:pwg-imaging-counter:OID`.  A value that is no page count (negative, a sentinel, the wrong
type) is a problem and costs that counter only; a sum lacking one of its parts is not made.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.device.model import DeviceStatus
from gateway.device.snmp_values import SnmpFields, index_key
from protocols.snmp import oids, pwg_counters
from protocols.snmp.vendor_counters import FIELD_METERS, Meter, VendorCounters, normal_name

PWG_SOURCE = "snmp:pwg-imaging-counter"


@dataclass(frozen=True)
class _Count:
    """One vendor object's usable value and the instance OID it came from."""

    oid: str
    value: int


def apply_counters(status: DeviceStatus, r: SnmpFields) -> None:
    life_counts = r.column(oids.prtMarkerLifeCount)
    if life_counts:
        first = min(life_counts, key=index_key)
        status.set(status.counters, "total",
                   r.pages(f"prtMarkerLifeCount.{first}", life_counts[first]),
                   "snmp:prtMarkerLifeCount")
    meters = r.reading.meters
    if meters is not None:
        _apply_vendor(status, r, meters)
    pwg = _pwg_counts(r)
    for name, meter in FIELD_METERS.items():
        if meter in pwg:
            status.set(status.counters, name, pwg[meter].value, f"{PWG_SOURCE}:{pwg[meter].oid}")


def _apply_vendor(status: DeviceStatus, r: SnmpFields, meters: VendorCounters) -> None:
    counts = _vendor_counts(r, meters)
    sums = {s.counter: s.parts for s in meters.sums}
    for name, meter in FIELD_METERS.items():
        parts = [counts.get(part) for part in sums.get(name, ())]
        if parts and all(parts):
            status.set(status.counters, name, sum(p.value for p in parts if p),
                       f"snmp:{meters.vendor}:" + "+".join(p.oid for p in parts if p))
        elif meter in counts:
            status.set(status.counters, name, counts[meter].value,
                       f"snmp:{meters.vendor}:{counts[meter].oid}")


def _vendor_counts(r: SnmpFields, meters: VendorCounters) -> dict[Meter, _Count]:
    """The vendor objects the reading holds, each checked as a page count, by what it counts."""
    counts: dict[Meter, _Count] = {}
    for obj in meters.objects:
        value = r.pages(obj.oid, r.reading.scalar(obj.oid))
        if value is not None:
            counts[obj.meter] = _Count(obj.oid, value)
    table = meters.table
    if table is None:
        return counts
    wanted = {normal_name(row.name): row.meter for row in table.rows}
    values = r.column(table.value_column)
    units = r.column(table.unit_column) if table.unit_column else {}
    for index, raw_name in sorted(r.column(table.name_column).items(),
                                  key=lambda item: index_key(item[0])):
        name = r.text(f"{table.name_column}.{index}", raw_name)
        meter = wanted.get(normal_name(name)) if name else None
        if meter is None or meter in counts or index not in values:
            continue
        if table.unit_column and units.get(index) != table.unit:
            continue  # counted in another unit (sheets, not sides)
        oid = f"{table.value_column}.{index}"
        value = r.pages(oid, values[index])
        if value is not None:
            counts[meter] = _Count(oid, value)
    return counts


def _pwg_counts(r: SnmpFields) -> dict[Meter, _Count]:
    """The PWG counters the reading holds, by what they count: each from the one key of its
    service (a service with several keys, its instances, is not summed: the MIB does not say
    their sum is the service's count)."""
    keys = _service_keys(r)
    counts: dict[Meter, _Count] = {}
    for counter in pwg_counters.PWG_COUNTERS:
        key = keys.get(counter.service)
        if key is None:
            continue
        oid = pwg_counters.instance(counter, key)
        value = r.pages(oid, r.reading.scalar(oid))
        if value is not None:
            counts[counter.meter] = _Count(oid, value)
    return counts


def _service_keys(r: SnmpFields) -> dict[int, str]:
    """{IcServiceTypeTC: icKeyIndex} of the services with exactly one key that names the service
    itself (no subunit: icKeySubunitIndex 0 or absent)."""
    subunits = r.column(pwg_counters.icKeySubunitIndex)
    found: dict[int, list[str]] = {}
    for key, raw in r.column(pwg_counters.icKeyServiceType).items():
        where = f"{pwg_counters.icKeyServiceType}.{key}"
        service = r.int(where, raw, 1, 2**31 - 1)
        if service is not None and subunits.get(key, 0) == 0:
            found.setdefault(service, []).append(key)
    return {service: keys[0] for service, keys in found.items() if len(keys) == 1}
