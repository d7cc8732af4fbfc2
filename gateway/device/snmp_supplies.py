"""The supplies of a printer, from the Printer-MIB's supplies and colorant tables
(`apply_supplies`): description and part number, kind, class, unit, level with its RFC 3805 special
values, and colour (colorant row first, the description's words otherwise)."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from gateway.device.fields import supply_class_by_kind
from gateway.device.model import DeviceStatus, Supply
from gateway.device.snmp_values import SnmpFields
from gateway.device.supply_parts import (
    apply_part,
    colour_from_description,
    drop_mono_colours,
    set_remaining_pages,
)
from protocols import colors
from protocols.snmp import oids
from protocols.snmp import textual_conventions as tc
from protocols.snmp.model import SnmpValue
from protocols.snmp.printer import PrinterReading

_XEROX_PART = re.compile(r"^(?P<desc>.*?),\s*PN\s+(?P<pn>[^;]+?)\s*(?:;\s*SN.*)?$")
_HP_PART = re.compile(r"\bHP\s+([A-Z0-9]*\d[A-Z0-9]*)$")
_TRAILING_PART = re.compile(r"\s(?=[A-Z0-9-]*\d)([A-Z]{1,4}\d*-[A-Z0-9]+)$")
"""A model code ending the description: `Black Toner Cartridge TN-210`, `… CX54-B`."""


@functools.lru_cache(maxsize=2048)
def _split_description(text: str | None) -> tuple[str | None, str | None]:
    """Description and part number: `"Black Toner, PN 006R01509;SN4817…"` (Xerox),
    `"Black Cartridge HP CF217A"` (HP) or `"Black Toner Cartridge TN-210"` (a letter-led code
    with a hyphen and a digit at the end)."""
    if not text:
        return None, None
    if match := _XEROX_PART.match(text):
        part = match.group("pn").strip()
        return match.group("desc").strip(), None if part.lower() == "unknown" else part
    if match := _HP_PART.search(text) or _TRAILING_PART.search(text):
        return text, match.group(1)
    return text, None


class _Row(NamedTuple):
    """One row's raw values: the supplies table's columns, and the colorant table's value for the
    row's colorant (`colorant_at`; None when it names none)."""

    description: SnmpValue
    type: SnmpValue
    supply_class: SnmpValue
    unit: SnmpValue
    max_capacity: SnmpValue
    level: SnmpValue
    colorant_at: str | None
    colorant: SnmpValue


_COLUMNS = (oids.prtMarkerSuppliesLevel, oids.prtMarkerSuppliesDescription,
            oids.prtMarkerSuppliesType, oids.prtMarkerSuppliesClass,
            oids.prtMarkerSuppliesSupplyUnit, oids.prtMarkerSuppliesMaxCapacity,
            oids.prtMarkerSuppliesColorantIndex)
"""The supplies table's columns read; a row is one that has a level, a description or a type."""


def apply_supplies(status: DeviceStatus, r: SnmpFields) -> None:
    colorant_values = r.column(oids.prtMarkerColorantValue)
    for index, (level, description, type_value, class_value, unit, capacity,
                colorant) in r.rows(_COLUMNS, keyed_by=3):
        colorant_at = colorant_value = None
        if isinstance(colorant, int) and colorant > 0:
            colorant_at = _colorant_at(index, colorant)
            colorant_value = colorant_values.get(colorant_at)
        traits = _traits(description, type_value, class_value, unit, colorant_value)
        status.supplies.append(
            _supply(status, r, index, _Row(description, type_value, class_value, unit, capacity,
                                           level, colorant_at, colorant_value))
            if traits is None else _known_supply(status, r, index, capacity, level, traits))
    drop_mono_colours(status.supplies)


@functools.lru_cache(maxsize=1024, typed=True)
def _colorant_at(index: str, colorant: int) -> str:
    """The colorant table's row of a supply's colorant: the same few at every reading."""
    return f"{index.split('.', 1)[0]}.{colorant}"


@functools.lru_cache(maxsize=1024, typed=True)
def _traits(description: SnmpValue, type_value: SnmpValue, class_value: SnmpValue,
            unit_value: SnmpValue, colorant: SnmpValue) -> Supply | None:
    """What a row's description, type, class, unit and colorant make of a supply (`_supply`
    without level and capacity), or None when one of them is a problem: the printers of a model
    send the same ones at every reading, so they are worked out once.  Not to be changed: a
    template for `_known_supply`."""
    scratch = DeviceStatus(host="")
    row = _Row(description, type_value, class_value, unit_value, None, None, "", colorant)
    supply = _supply(scratch, SnmpFields(PrinterReading(), scratch), "", row)
    return None if scratch.problems else supply


def _known_supply(status: DeviceStatus, r: SnmpFields, index: str, capacity: SnmpValue,
                  level: SnmpValue, traits: Supply) -> Supply:
    """`_supply` of a row whose `_traits` are known: only its level and capacity are read."""
    supply = Supply(index=index, description=traits.description, kind=traits.kind,
                    color=traits.color, part_number=traits.part_number, unit=traits.unit,
                    supply_class=traits.supply_class, part=traits.part)
    _read_level(status, r, supply, index, capacity, level)
    set_remaining_pages(supply)
    return supply


def _supply(status: DeviceStatus, r: SnmpFields, index: str, row: _Row) -> Supply:
    """One supply from its row, each value checked (what does not fit is a problem)."""
    where = f"supply {index}"
    description, part_number = _split_description(
        r.text(f"{where} description", row.description))
    type_value = r.int(f"{where} type", row.type, 1)
    kind = tc.PrtMarkerSuppliesTypeTC.get(type_value) if type_value is not None else None
    if kind in ("other", "unknown"):
        kind = None
    supply = Supply(index=index, description=description, kind=kind, part_number=part_number)

    class_value = r.int(f"{where} class", row.supply_class, 1)
    supply.supply_class = {3: "consumed", 4: "filled"}.get(class_value or 0)
    if supply.supply_class is None:
        supply.supply_class = supply_class_by_kind(kind, description)
    unit_value = r.int(f"{where} unit", row.unit, 1)
    if unit_value is not None:
        supply.unit = tc.PrtMarkerSuppliesSupplyUnitTC.get(unit_value)

    _read_level(status, r, supply, index, row.max_capacity, row.level)
    if row.colorant is not None:
        supply.color = colors.normalise_name(r.text(f"colorant {row.colorant_at}", row.colorant))
    if supply.color is None:
        supply.color = colour_from_description(description)
    apply_part(supply)
    return supply


def _read_level(status: DeviceStatus, r: SnmpFields, supply: Supply, index: str,
                capacity: SnmpValue, level: SnmpValue) -> None:
    # Integer32 both (the MIB: level -3..2^31-1, max capacity -2..2^31-1): a wider
    # INTEGER is a problem and the level unknown, never a special value
    where, capacity_where, level_where = _level_places(index)
    supply.max_capacity = r.int(capacity_where, capacity)
    supply.raw_level = r.int(level_where, level)
    _level(status, supply, where)


@functools.lru_cache(maxsize=1024)
def _level_places(index: str) -> tuple[str, str, str]:
    """Where a supply's problems are told: the supply, its max capacity, its level (the same
    rows at every reading)."""
    where = f"supply {index}"
    return where, f"{where} max capacity", f"{where} level"


def _level(status: DeviceStatus, supply: Supply, where: str) -> None:
    """Printer-MIB level semantics: -1 unrestricted, -2 unknown, -3 some remaining: states,
    never numbers; a max capacity ≤ 0 means no percent can be computed."""
    level, capacity = supply.raw_level, supply.max_capacity
    if level is None:
        supply.level_state = "unknown"
    elif level == -1:
        supply.level_state = "unrestricted"
    elif level == -2:
        supply.level_state = "unknown"
    elif level == -3:
        supply.level_state = "some-remaining"
    elif level < 0:
        supply.level_state = "unknown"
        status.problem("snmp", f"{where} level", f"undefined negative level {level}")
    elif capacity is None or capacity <= 0:
        supply.level_state = "unknown"
    else:
        supply.level_state = "known"
        if level > capacity:
            supply.over_capacity = True
            status.problem("snmp", f"{where} level",
                           f"level {level} above max capacity {capacity}: clamped to 100 %")
            level = capacity
        supply.level_percent = (level * 100 + capacity // 2) // capacity
