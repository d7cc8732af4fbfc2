"""The supplies of a printer, from the Printer-MIB's supplies and colorant tables
(`apply_supplies`): description and part number, kind, class, unit, level with its RFC 3805 special
values, and colour (colorant row first, the description's words otherwise)."""

from __future__ import annotations

import functools
import re

from gateway.device.fields import supply_class_by_kind
from gateway.device.model import DeviceStatus, Supply
from gateway.device.snmp_values import SnmpFields, index_key
from gateway.device.supply_parts import apply_part, colour_from_description, drop_mono_colours
from protocols import colors
from protocols.snmp import oids
from protocols.snmp import textual_conventions as tc
from protocols.snmp.model import SnmpValue

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


def apply_supplies(status: DeviceStatus, r: SnmpFields) -> None:
    levels = r.column(oids.prtMarkerSuppliesLevel)
    descriptions = r.column(oids.prtMarkerSuppliesDescription)
    types = r.column(oids.prtMarkerSuppliesType)
    classes = r.column(oids.prtMarkerSuppliesClass)
    units = r.column(oids.prtMarkerSuppliesSupplyUnit)
    capacities = r.column(oids.prtMarkerSuppliesMaxCapacity)
    colorant_indexes = r.column(oids.prtMarkerSuppliesColorantIndex)
    colorant_values = r.column(oids.prtMarkerColorantValue)

    rows = set(levels) | set(descriptions) | set(types)
    for index in sorted(rows, key=index_key):
        where = f"supply {index}"
        description, part_number = _split_description(
            r.text(f"{where} description", descriptions.get(index)))
        type_value = r.int(f"{where} type", types.get(index), 1)
        kind = tc.PrtMarkerSuppliesTypeTC.get(type_value) if type_value is not None else None
        if kind in ("other", "unknown"):
            kind = None
        supply = Supply(index=index, description=description, kind=kind, part_number=part_number)

        class_value = r.int(f"{where} class", classes.get(index), 1)
        supply.supply_class = {3: "consumed", 4: "filled"}.get(class_value or 0)
        if supply.supply_class is None:
            supply.supply_class = supply_class_by_kind(kind, description)
        unit_value = r.int(f"{where} unit", units.get(index), 1)
        if unit_value is not None:
            supply.unit = tc.PrtMarkerSuppliesSupplyUnitTC.get(unit_value)

        # Integer32 both (the MIB: level -3..2^31-1, max capacity -2..2^31-1): a wider
        # INTEGER is a problem and the level unknown, never a special value
        supply.max_capacity = r.int(f"{where} max capacity", capacities.get(index))
        supply.raw_level = r.int(f"{where} level", levels.get(index))
        _level(status, supply, where)

        supply.color = _colorant(r, index, colorant_indexes, colorant_values)
        if supply.color is None:
            supply.color = colour_from_description(description)
        apply_part(supply)
        status.supplies.append(supply)
    drop_mono_colours(status.supplies)


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


def _colorant(r: SnmpFields, supply_index: str, colorant_indexes: dict[str, SnmpValue],
              colorant_values: dict[str, SnmpValue]) -> str | None:
    colorant = colorant_indexes.get(supply_index)
    if not isinstance(colorant, int) or colorant <= 0:
        return None
    device = supply_index.split(".", 1)[0]
    value = r.text(f"colorant {device}.{colorant}", colorant_values.get(f"{device}.{colorant}"))
    return colors.normalise_name(value)
