"""Typed access to an SNMP reading for the mapping modules (`snmp_mapping` and the parts it
calls): what does not fit its MIB type is reported in `status.problems`, never raised."""

from __future__ import annotations

import bisect
import functools
import operator
from collections.abc import Callable
from typing import TypeVar

from gateway.device.fields import (
    MAX_PLAUSIBLE_PAGES,
    IdentityField,
    identity_text,
    page_count,
)
from gateway.device.model import DeviceStatus
from gateway.device.strings import decode_text
from protocols.snmp import oids
from protocols.snmp.model import SnmpValue
from protocols.snmp.printer import PrinterReading

T = TypeVar("T")

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
COUNTER64_MAX = 2**64 - 1
_UNKNOWN = object()
"""Not worked out yet."""


class SnmpFields:
    """Typed access to a reading's values that reports, instead of raising, what does not fit."""

    def __init__(self, reading: PrinterReading, status: DeviceStatus) -> None:
        self.reading = reading
        self.status = status
        self._layout = _layout(tuple(reading.values))
        self._values = tuple(reading.values.values())
        self._columns: dict[str, dict[str, SnmpValue]] = {}
        """The columns asked for so far (several parts of the mapping ask for the same ones)."""
        self._printer_index: object = _UNKNOWN

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
        if value.__class__ is int and minimum <= value <= maximum:  # type: ignore[operator]
            return value  # type: ignore[return-value]
        return self._typed(where, value, int, lambda v: minimum <= v <= maximum)

    def pages(self, where: str, value: SnmpValue) -> int | None:
        """A page counter (Counter32 or Counter64) a device could have printed."""
        if value.__class__ is int and 0 <= value <= MAX_PLAUSIBLE_PAGES:  # type: ignore[operator]
            return value  # type: ignore[return-value]
        return page_count(self.status, "snmp", where, self.int(where, value, 0, COUNTER64_MAX))

    def identity(self, name: IdentityField, where: str, value: SnmpValue) -> str | None:
        """An identity value checked as `fields.identity_text` says."""
        return identity_text(self.status, "snmp", where, name, value)

    def scalar_identity(self, name: IdentityField, oid: str) -> str | None:
        return self.identity(name, oid, self.reading.scalar(oid))

    def text(self, where: str, value: SnmpValue) -> str | None:
        if value.__class__ is bytes:
            return decode_text(value)  # type: ignore[arg-type]
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return decode_text(value)
        raw = self._typed(where, value, bytes)
        return decode_text(raw) if raw is not None else None

    @property
    def printer_index(self) -> str | None:
        """The hrDeviceIndex of the printer in hrDeviceTable (an MFP lists scanners, disks,
        NICs…)."""
        if self._printer_index is _UNKNOWN:
            self._printer_index = self._find_printer_index()
        return self._printer_index  # type: ignore[return-value]

    def _find_printer_index(self) -> str | None:
        types = self.column(oids.hrDeviceType)
        for index in sorted(types, key=index_key):
            if types[index] == oids.hrDevicePrinter:
                return index
        descriptions = self.column(oids.hrDeviceDescr)
        return min(descriptions, key=index_key) if descriptions else None

    def column(self, column_oid: str) -> dict[str, SnmpValue]:
        """`PrinterReading.column` (in the order of the OIDs as text), kept: not to be changed by
        the caller."""
        column = self._columns.get(column_oid)
        if column is None:
            indexes, positions = self._layout.column(column_oid)
            if not indexes:
                column = {}
            else:
                values = (self._values[positions] if isinstance(positions, slice)
                          else map(self._values.__getitem__, positions))
                column = dict(zip(indexes, values, strict=False))  # as long, by construction
            self._columns[column_oid] = column
        return column

    def rows(self, columns: tuple[str, ...], keyed_by: int) -> list[tuple[str, tuple]]:
        """A table's rows: the indexes of its first `keyed_by` columns, in index order, each with
        its value in every column of `columns` (None where it has none)."""
        rows = self._layout.rows(columns, keyed_by)
        if not rows:
            return []
        values = (*self._values, None)
        return [(index, take(values)) for index, take in rows]


_TakeRow = Callable[[tuple[SnmpValue, ...]], tuple[SnmpValue, ...]]
"""Takes one row's values out of a reading's values (`operator.itemgetter`)."""


class _Layout:
    """Where a reading's columns are among its OIDs (in the order it holds them): the same for
    every reading of a printer, and of the printers of one model, as long as its tables keep their
    rows."""

    def __init__(self, oids_: tuple[str, ...]) -> None:
        order = sorted(range(len(oids_)), key=oids_.__getitem__)
        self._sorted = [oids_[position] for position in order]
        """The OIDs as text in sorted order: a column's OIDs are one run of them."""
        self._order = order
        self._columns: dict[str, tuple[tuple[str, ...], slice | tuple[int, ...]]] = {}
        self._rows: dict[tuple[tuple[str, ...], int], list[tuple[str, _TakeRow]]] = {}

    def column(self, column_oid: str) -> tuple[tuple[str, ...], slice | tuple[int, ...]]:
        """A column's row indexes, and the positions of their values in the reading (a slice
        where they follow each other in the same order, as a walk reads them)."""
        found = self._columns.get(column_oid)
        if found is None:
            # The column's OIDs sort from `column_oid + "."` to just before `column_oid + "/"`
            # ("/" follows "." in ASCII).
            sorted_, start = self._sorted, len(column_oid) + 1
            first = bisect.bisect_left(sorted_, column_oid + ".")
            end = bisect.bisect_left(sorted_, column_oid + "/", first)
            positions = tuple(self._order[first:end])
            if positions and positions == tuple(range(positions[0], positions[0] + len(positions))):
                positions = slice(positions[0], positions[0] + len(positions))
            found = (tuple(oid[start:] for oid in sorted_[first:end]), positions)
            self._columns[column_oid] = found
        return found

    def rows(self, columns: tuple[str, ...], keyed_by: int) -> list[tuple[str, _TakeRow]]:
        """`SnmpFields.rows`: each row's index, and what takes its values from the reading's
        values (with None appended: the position of a value the row lacks)."""
        found = self._rows.get((columns, keyed_by))
        if found is None:
            positions = []
            for column in columns:
                indexes, at = self.column(column)
                at = range(at.start, at.stop) if isinstance(at, slice) else at
                positions.append(dict(zip(indexes, at, strict=True)))
            indexes = set().union(*positions[:keyed_by])
            found = [(index, _taker(tuple(column.get(index, -1) for column in positions)))
                     for index in sorted(indexes, key=index_key)]
            self._rows[(columns, keyed_by)] = found
        return found


def _taker(positions: tuple[int, ...]) -> _TakeRow:
    """What takes the values at `positions`, as a tuple (`operator.itemgetter` gives one position's
    value alone)."""
    if len(positions) == 1:
        return lambda values: (values[positions[0]],)
    return operator.itemgetter(*positions)


@functools.lru_cache(maxsize=128)
def _layout(oids_: tuple[str, ...]) -> _Layout:
    """The `_Layout` of the OIDs a reading holds, in its order: a fleet has a few of them (one
    per model and table sizes; some 20 KB each)."""
    return _Layout(oids_)


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
