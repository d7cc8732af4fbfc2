"""What the SNMP and the IPP mapping conclude alike from what a printer says."""

from __future__ import annotations

from gateway.device.model import SupplyClass

_WASTE_KINDS = frozenset({"wasteToner", "wasteInk", "wasteWax", "wasteWater", "wastePaper"})
_NO_SERIAL = frozenset({"unknown", "none", "n/a", "na", "null", "0", "-"})


def clean_serial(value: str | None) -> str | None:
    """A serial number, or None: serials arrive padded, quoted, or as placeholders that mean
    "none"."""
    value = (value or "").strip().strip('"').strip()
    if not value or value.lower() in _NO_SERIAL:
        return None
    if not any(ch.isalnum() for ch in value) or set(value) <= {"0", " "}:
        return None
    return value


def supply_class_by_kind(kind: str | None, description: str | None) -> SupplyClass:
    """The class of a supply that does not tell it: a waste receptacle is filled, anything else
    consumed."""
    is_waste = kind in _WASTE_KINDS or "waste" in (description or "").lower()
    return "filled" if is_waste else "consumed"
