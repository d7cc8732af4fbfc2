"""Page counters from SNMP (`apply_counters`): the Printer-MIB's marker life count and the
vendor's counter objects."""

from __future__ import annotations

from gateway.device.model import DeviceStatus
from gateway.device.snmp_values import SnmpFields, index_key
from protocols.snmp import oids


def apply_counters(status: DeviceStatus, r: SnmpFields) -> None:
    life_counts = r.column(oids.prtMarkerLifeCount)
    if life_counts:
        first = min(life_counts, key=index_key)
        status.set(status.counters, "total",
                   r.pages(f"prtMarkerLifeCount.{first}", life_counts[first]),
                   "snmp:prtMarkerLifeCount")
    for kind, oid in r.reading.vendor.counters.items():
        status.set(status.counters, kind, r.pages(oid, r.reading.scalar(oid)), f"snmp:{oid}")
