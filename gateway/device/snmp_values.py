"""Typed access to an SNMP reading for the mapping modules (`snmp_mapping` and the parts it
calls): what does not fit its MIB type is reported in `status.problems`, never raised."""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable
from typing import TypeVar

from gateway.device.fields import IdentityField, identity_text, page_count
from gateway.device.model import DeviceStatus
from gateway.device.strings import decode_text
from protocols.snmp import oids
from protocols.snmp.model import SnmpValue
from protocols.snmp.printer import PrinterReading

T = TypeVar("T")

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
COUNTER64_MAX = 2**64 - 1


class SnmpFields:
    """Typed access to a reading's values that reports, instead of raising, what does not fit."""

    def __init__(self, reading: PrinterReading, status: DeviceStatus) -> None:
        self.reading = reading
        self.status = status
        self._oids = sorted(reading.values)
        """The reading's OIDs as text in sorted order: a column's OIDs are one run of them."""

    def _typed(self, where: str, value: SnmpValue, kind: type[T],
               check: Callable[[T], bool] | None = None) -> T | None:
        if value is None:
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.status.problem("snmp", where, f"expected {kind.__name__}, got "
                                f"{type(value).__name__} {value!r:.60}")
            return None
        if check is not None and not check(value):
            self.status.problem("snmp", where, f"value out of range: {value!r:.60}")
            return None
        return value

    def int(self, where: str, value: SnmpValue, minimum: int = INT32_MIN,
            maximum: int = INT32_MAX) -> int | None:
        """An INTEGER within [minimum, maximum] (Integer32 by default), else None (reported)."""
        return self._typed(where, value, int, lambda v: minimum <= v <= maximum)

    def pages(self, where: str, value: SnmpValue) -> int | None:
        """A page counter (Counter32 or Counter64) a device could have printed."""
        return page_count(self.status, "snmp", where, self.int(where, value, 0, COUNTER64_MAX))

    def identity(self, name: IdentityField, where: str, value: SnmpValue) -> str | None:
        """An identity value checked as `fields.identity_text` says."""
        return identity_text(self.status, "snmp", where, name, value)

    def scalar_identity(self, name: IdentityField, oid: str) -> str | None:
        return self.identity(name, oid, self.reading.scalar(oid))

    def text(self, where: str, value: SnmpValue) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return decode_text(value)
        raw = self._typed(where, value, bytes)
        return decode_text(raw) if raw is not None else None

    def column(self, column_oid: str) -> dict[str, SnmpValue]:
        """`PrinterReading.column`, found by bisection: the mapping asks for some 30 columns."""
        # The column's OIDs sort from `column_oid + "."` to just before `column_oid + "/"`
        # ("/" follows "." in ASCII).
        oids_, values, start = self._oids, self.reading.values, len(column_oid) + 1
        first = bisect.bisect_left(oids_, column_oid + ".")
        end = bisect.bisect_left(oids_, column_oid + "/", first)
        return {oid[start:]: values[oid] for oid in oids_[first:end]}


def first_row(column: dict[str, SnmpValue]) -> SnmpValue:
    if not column:
        return None
    return column[min(column, key=index_key)]


@functools.lru_cache(maxsize=4096)
def index_key(index: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in index.split("."))
    except ValueError:
        return (2**31,)


def printer_device_index(r: SnmpFields) -> str | None:
    """The hrDeviceIndex of the printer in hrDeviceTable (an MFP lists scanners, disks, NICs…)."""
    types = r.column(oids.hrDeviceType)
    for index in sorted(types, key=index_key):
        if types[index] == oids.hrDevicePrinter:
            return index
    descriptions = r.column(oids.hrDeviceDescr)
    return min(descriptions, key=index_key) if descriptions else None
