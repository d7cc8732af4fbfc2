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

import functools
from dataclasses import dataclass

from gateway.device.model import DeviceStatus
from gateway.device.snmp_values import SnmpFields, index_key
from protocols.snmp import oids, pwg_counters
from protocols.snmp.vendor_counters import (
    FIELD_METERS,
    CounterName,
    Meter,
    VendorCounters,
    normal_name,
)

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
    if pwg:
        for name, number in _FIELD_NUMBERS:
            if number in pwg:
                status.set(status.counters, name, pwg[number].value,
                           f"{PWG_SOURCE}:{pwg[number].oid}")


@dataclass(frozen=True)
class _Plan:
    """What a vendor's counter objects can give, worked out once per `VendorCounters`; each
    `Meter` by a number of the plan's (a `Meter` hashes in Python: a reading would hash dozens)."""

    objects: tuple[tuple[str, int], ...]
    """(instance OID, the number of what it counts) of each counter object."""
    wanted: dict[str, int]
    """The counter table's rows by `normal_name`: the number of what each counts."""
    fields: tuple[tuple[CounterName, int, tuple[int, ...]], ...]
    """(field, the number of its meter, those of the meters it is the documented sum of) of the
    fields the vendor's objects can fill: the others are not looked for at every reading."""

    @classmethod
    def of(cls, meters: VendorCounters) -> _Plan:
        numbers: dict[Meter, int] = {}

        def number(meter: Meter) -> int:
            return numbers.setdefault(meter, len(numbers))

        table_rows = meters.table.rows if meters.table is not None else ()
        objects = tuple((obj.oid, number(obj.meter)) for obj in meters.objects)
        wanted = {normal_name(row.name): number(row.meter) for row in table_rows}
        given = set(numbers)
        sums = {s.counter: s.parts for s in meters.sums}
        return cls(objects=objects, wanted=wanted, fields=tuple(
            (name, number(meter), tuple(number(part) for part in sums.get(name, ())))
            for name, meter in FIELD_METERS.items() if name in sums or meter in given))


_PLANS: dict[int, tuple[VendorCounters, _Plan]] = {}
"""`_Plan`s by the id of their `VendorCounters` (kept with it, so that the id is not another's):
`VendorCounters` hashes all its objects, and a reading has the module's own."""
_MAX_PLANS = 64


def _plan(meters: VendorCounters) -> _Plan:
    found = _PLANS.get(id(meters))
    if found is None or found[0] is not meters:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        found = _PLANS[id(meters)] = (meters, _Plan.of(meters))
    return found[1]


_normal_name = functools.lru_cache(maxsize=1024)(normal_name)
"""`normal_name`, kept: a model's counter table names its rows alike at every reading."""


def _apply_vendor(status: DeviceStatus, r: SnmpFields, meters: VendorCounters) -> None:
    plan = _plan(meters)
    counts = _vendor_counts(r, meters, plan)
    if not counts:
        return
    for name, meter, sum_of in plan.fields:
        parts = [counts.get(part) for part in sum_of]
        if parts and all(parts):
            status.set(status.counters, name, sum(p.value for p in parts if p),
                       f"snmp:{meters.vendor}:" + "+".join(p.oid for p in parts if p))
        elif meter in counts:
            status.set(status.counters, name, counts[meter].value,
                       f"snmp:{meters.vendor}:{counts[meter].oid}")


def _vendor_counts(r: SnmpFields, meters: VendorCounters, plan: _Plan) -> dict[int, _Count]:
    """The vendor objects the reading holds, each checked as a page count, by (the plan's number
    of) what it counts."""
    counts: dict[int, _Count] = {}
    for oid, meter in plan.objects:
        value = r.pages(oid, r.reading.scalar(oid))
        if value is not None:
            counts[meter] = _Count(oid, value)
    table = meters.table
    if table is None:
        return counts
    wanted = plan.wanted
    values = r.column(table.value_column)
    units = r.column(table.unit_column) if table.unit_column else {}
    for index, raw_name in sorted(r.column(table.name_column).items(),
                                  key=lambda item: index_key(item[0])):
        name = r.text(f"{table.name_column}.{index}", raw_name)
        found = wanted.get(_normal_name(name)) if name else None
        if found is None or found in counts or index not in values:
            continue
        if table.unit_column and units.get(index) != table.unit:
            continue  # counted in another unit (sheets, not sides)
        oid = f"{table.value_column}.{index}"
        value = r.pages(oid, values[index])
        if value is not None:
            counts[found] = _Count(oid, value)
    return counts


def _numbered(meters: list[Meter]) -> dict[Meter, int]:
    return {meter: number for number, meter in enumerate(dict.fromkeys(meters))}


_PWG_NUMBERS = _numbered([*FIELD_METERS.values(), *(c.meter for c in pwg_counters.PWG_COUNTERS)])
_FIELD_NUMBERS = tuple((name, _PWG_NUMBERS[meter]) for name, meter in FIELD_METERS.items())
"""Each field with the number of its meter among the PWG counters' (`_pwg_counts`)."""
_PWG_COUNTERS = tuple((counter, _PWG_NUMBERS[counter.meter])
                      for counter in pwg_counters.PWG_COUNTERS)


def _pwg_counts(r: SnmpFields) -> dict[int, _Count]:
    """The PWG counters the reading holds, by (the number of) what they count: each from the one
    key of its service (a service with several keys, its instances, is not summed: the MIB does
    not say their sum is the service's count)."""
    keys = _service_keys(r)
    counts: dict[int, _Count] = {}
    if not keys:
        return counts
    for counter, meter in _PWG_COUNTERS:
        key = keys.get(counter.service)
        if key is None:
            continue
        oid = pwg_counters.instance(counter, key)
        value = r.pages(oid, r.reading.scalar(oid))
        if value is not None:
            counts[meter] = _Count(oid, value)
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
