"""What the SNMP and the IPP mapping conclude alike from what a printer says, and how both
check what a printer says of itself before it is believed.

Identity fields (`Identity`) are the keys the inventory and the cloud know a printer by, so a
value that does not fit is dropped and reported in `status.problems`, never repaired into
another identity:

- lengths are capped to what the cloud accepts (`PrinterRegistration` in
  `protocols/cloud/openapi.yaml`: serial and manufacturer 128 characters, product name (the
  model) 256, firmware 128) or, for what is only shown, to the MIB's or IPP's size; a longer value
  is dropped, never truncated;
- control and other invisible characters are removed from what is only shown (reported for the
  registration fields); a serial that holds any, or text after a NUL byte, is dropped;
- a serial sent as an INTEGER is dropped: serials are text (prtGeneralSerialNumber is a
  SnmpAdminString, printer-serial-number a text attribute), an INTEGER has lost the leading zeros
  of the label and may have been cut to 64 bits by the decoder, so its digits are not the serial;
  the next source (a vendor object, the device ID's `SN:`) is asked instead;
- `printer-uuid` must be an RFC 4122 UUID (`urn:uuid:` form or bare, any case; stored lowercase,
  without the prefix); the nil UUID means none.

Counters are checked for plausibility: a page count above `MAX_PLAUSIBLE_PAGES` is no device's,
and the all-ones values of 32 and 64 bits are agents' "unknown" sentinels.
"""

from __future__ import annotations

import functools
import re
from typing import Literal

from gateway.device.model import DeviceStatus, SupplyClass
from gateway.device.strings import decode_checked, without_invisible
from protocols.device_id import parse_device_id

IdentityField = Literal["serial", "manufacturer", "model", "firmware", "hostname", "location",
                        "sys_descr", "device_id"]
IDENTITY_LIMITS: dict[IdentityField, int] = {
    "serial": 128,  # PrinterRegistration.serial
    "manufacturer": 128,  # PrinterRegistration.manufacturer
    "model": 256,  # PrinterRegistration.product_name
    "firmware": 128,  # PrinterRegistration.firmware
    "hostname": 255,  # a DNS name; sysName is a DisplayString (255)
    "location": 255,  # sysLocation (DisplayString); printer-location is text(127)
    "sys_descr": 1023,  # a DisplayString (255) in the MIB, longer on real devices
    "device_id": 1023,  # printer-device-id is text(1023)
}
"""The longest value of each identity field that is used (characters)."""
_REPORTED: frozenset[IdentityField] = frozenset({"serial", "manufacturer", "model", "firmware"})
"""The fields the cloud registers a printer with: cleaning one of them is reported."""

MAX_PLAUSIBLE_PAGES = 10**9
"""A lifetime page count above this is not a count: a busy production printer prints some 10^7
pages in its life."""
_SENTINELS = {2**32 - 1: "2^32-1", 2**64 - 1: "2^64-1", 2**31 - 1: "2^31-1", 2**63 - 1: "2^63-1"}

_UUID = re.compile(
    r"^(?:urn:uuid:)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
_NIL_UUID = "00000000-0000-0000-0000-000000000000"

_WASTE_KINDS = frozenset({"wasteToner", "wasteInk", "wasteWax", "wasteWater", "wastePaper"})
_NO_SERIAL = frozenset({"unknown", "none", "n/a", "na", "null", "0", "-"})


def clean_serial(value: str | None) -> str | None:
    """A serial number, or None: serials arrive padded, quoted, or as placeholders that mean
    "none"."""
    value = (value or "").strip().strip('"').strip()
    if not value or value.lower() in _NO_SERIAL:
        return None
    if value.isalnum():  # the common case: letters and digits, a serial unless all zeros
        return value if value.strip("0") else None
    if not any(ch.isalnum() for ch in value) or set(value) <= {"0", " "}:
        return None
    return value


def supply_class_by_kind(kind: str | None, description: str | None) -> SupplyClass:
    """The class of a supply that does not tell it: a waste receptacle is filled, anything else
    consumed."""
    is_waste = kind in _WASTE_KINDS or "waste" in (description or "").lower()
    return "filled" if is_waste else "consumed"


def identity_text(status: DeviceStatus, source: str, where: str, name: IdentityField,
                  raw: bytes | str | int | None) -> str | None:
    """A printer's value for the identity field `name`, as text fit to be used, or None; what
    does not fit is reported as a problem of `status` (`source`, `where`)."""
    if raw is None:
        return None
    if raw.__class__ is str or raw.__class__ is bytes:  # the common case: printable, short
        text, damage = decode_checked(raw)
        if not damage and (text is None or (text.isprintable()
                                            and len(text) <= IDENTITY_LIMITS[name])):
            return text
    if isinstance(raw, bool) or not isinstance(raw, bytes | str | int):
        status.problem(source, where, f"expected text, got {type(raw).__name__} {raw!r:.60}")
        return None
    if isinstance(raw, int):
        if name == "serial":
            status.problem(source, where, f"a serial sent as the INTEGER {raw!r:.40}: not used "
                           "(an INTEGER loses leading zeros and may be cut short)")
            return None
        raw = str(raw)
    text, damage = decode_checked(raw)
    if text is not None:
        text, changed = without_invisible(text)
        if changed and "control characters" not in damage:
            damage += ("invisible characters",)
        text = text or None
    if damage and name == "serial":
        status.problem(source, where, f"{' and '.join(damage)} in the serial {raw!r:.60}: not "
                       "used (an altered serial is another printer's)")
        return None
    if damage and name in _REPORTED:
        status.problem(source, where, f"{' and '.join(damage)} removed: {text!r:.60}")
    limit = IDENTITY_LIMITS[name]
    if text is not None and len(text) > limit:
        status.problem(source, where, f"{len(text)} characters, more than the {limit} a {name} "
                       f"may have: not used ({text[:40]!r}…)")
        return None
    return text


def parse_uuid(value: str | None) -> str | None:
    """An RFC 4122 UUID as `0f1e…-…` in lowercase (from the bare or the `urn:uuid:` form, any
    case); None for anything else, and for the nil UUID (it names no printer)."""
    if not isinstance(value, str):
        return None
    match = _UUID.match(value.strip().lower())
    if match is None or match.group(1) == _NIL_UUID:
        return None
    return match.group(1)


def checked_uuid(status: DeviceStatus, source: str, where: str, value: str | None) -> str | None:
    """`parse_uuid`, reporting a value that is there but not a UUID."""
    if value is None or not value.strip():
        return None
    parsed = parse_uuid(value)
    if parsed is None:
        status.problem(source, where, f"not a UUID: {value!r:.60}")
    return parsed


def page_count(status: DeviceStatus, source: str, where: str, value: int | None) -> int | None:
    """A page counter if it is one a device could have printed; else None, reported."""
    if value is None:
        return None
    if value < 0:
        status.problem(source, where, f"a negative page count {value}: not used")
        return None
    if value > MAX_PLAUSIBLE_PAGES:
        sentinel = _SENTINELS.get(value)
        what = f"the sentinel {sentinel}" if sentinel else f"{value:.3g} pages"
        status.problem(source, where, f"{what} is no device's page count "
                       f"(more than {MAX_PLAUSIBLE_PAGES:.0e}): not used")
        return None
    return value


parsed_device_id = functools.lru_cache(maxsize=256)(parse_device_id)
"""`protocols.device_id.parse_device_id`, kept for the texts parsed last: one reading parses its
device ID more than once (the identity, then the functions it shows).  The dict is shared: read
it, never change it."""
