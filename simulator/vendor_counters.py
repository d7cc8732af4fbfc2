"""A virtual printer's vendor counter objects, served from the reader's own table
(`protocols.snmp.vendor_counters`) with the values its `PageMeters` hold: the objects of the
vendor the profile's sysObjectID names, a counter table's rows with their names (and units)
where the documented device keeps them."""

from __future__ import annotations

from protocols.snmp.vendor_counters import VENDOR_COUNTERS
from protocols.snmp.vendors import enterprise_number
from simulator import ber
from simulator.meters import PageMeters


def _counter(value: int) -> bytes:
    return ber.enc_unsigned(value & 0xFFFFFFFF, ber.COUNTER32)


def vendor_counter_values(sys_object_id: str, meters: PageMeters) -> dict[ber.Oid, bytes]:
    """The vendor counter objects of a device with `sys_object_id`, counting `meters`."""
    number = enterprise_number(sys_object_id)
    vendor = VENDOR_COUNTERS.get(number) if number is not None else None
    if vendor is None:
        return {}
    values = {ber.parse_oid(obj.oid): _counter(meters.count(obj.meter))
              for obj in vendor.objects}
    if vendor.table is not None:
        for row in vendor.table.rows:
            index = ber.parse_oid(row.index)
            values[(*ber.parse_oid(vendor.table.name_column), *index)] = (
                ber.enc_int(row.name) if isinstance(row.name, int) else ber.enc_octets(row.name))
            values[(*ber.parse_oid(vendor.table.value_column), *index)] = _counter(
                meters.count(row.meter))
            if vendor.table.unit_column and vendor.table.unit is not None:
                values[(*ber.parse_oid(vendor.table.unit_column), *index)] = ber.enc_int(
                    vendor.table.unit)
    return values
