"""A tolerant IEEE 1284 device ID parser (`MFG:Brother;MDL:HL-L2350DW;SN:E78…;`).

Device IDs come from IPP `printer-device-id`, from SNMP (HP and Printer-MIB OIDs) and from USB, and
real ones are untidy: long and short key spellings, values that contain `:`, keys without values,
stray spaces, empty segments, a binary length prefix, NULs.  `parse_device_id` never raises; it
returns what it could read.  It is protocol-neutral: nothing here knows about IPP or SNMP.
"""

from __future__ import annotations

import re

# Long spellings → the canonical short key the helpers read.
_ALIASES: dict[str, str] = {
    "MANUFACTURER": "MFG",
    "MODEL": "MDL",
    "COMMAND SET": "CMD",
    "COMMANDSET": "CMD",
    "DESCRIPTION": "DES",
    "SERN": "SN",
    "SERIALNUMBER": "SN",
    "SERIAL NUMBER": "SN",
    "SERIAL-NUMBER": "SN",
    "SERIAL_NUMBER": "SN",
}

# Keys are ASCII by the standard; anything else in one (a length prefix, NULs) is noise.
_KEY_NOISE = re.compile(r"[^\x21-\x7e ]+")
_SPACES = re.compile(r"\s+")
# Control characters and NULs that pad values read from SNMP or USB.
_VALUE_EDGE_NOISE = "\x00\t\n\r\x0b\x0c "


def parse_device_id(text: str) -> dict[str, str]:
    """Parse an IEEE 1284 device ID into `{KEY: value}` with upper-cased keys.

    Every key is kept as the device spelt it (upper-cased, spaces collapsed); in addition the
    canonical short keys `MFG`, `MDL`, `CMD`, `DES` and `SN` are filled from their long spellings
    (`MANUFACTURER`, `MODEL`, `COMMAND SET`, `DESCRIPTION`, `SERN`, `SERIALNUMBER`, `SERIAL NUMBER`)
    when the short one is missing or empty.  A key without a value maps to `""`; where a key
    repeats, the first non-empty value wins.
    """
    if not isinstance(text, str):
        return {}
    result: dict[str, str] = {}
    for segment in _without_length_prefix(text).split(";"):
        key, _, value = segment.partition(":")
        if not (key.isascii() and key.isalnum()):  # a plain key (`MFG`) has nothing to clean
            key = _SPACES.sub(" ", _KEY_NOISE.sub("", key)).strip()
        key = key.upper()
        if not key:
            continue
        value = value.strip(_VALUE_EDGE_NOISE)
        if not result.get(key):
            result[key] = value
    if result.keys().isdisjoint(_ALIASES):  # no long spelling (the common case)
        return result
    for long_key, short_key in _ALIASES.items():
        if result.get(long_key) and not result.get(short_key):
            result[short_key] = result[long_key]
    return result


def _without_length_prefix(text: str) -> str:
    """Drop the 2-byte big-endian length that USB (and some SNMP agents) put before the ID.

    Its high byte is a control character for any ID shorter than 8 KiB, and a real ID never starts
    with one; its low byte may be printable (`\\x00M` for 77 bytes), so both are dropped.
    """
    if len(text) >= 2 and ord(text[0]) < 0x20 and text[0] not in "\t\n\r ":
        return text[2:]
    return text


def _value(device_id: dict[str, str], key: str) -> str | None:
    value = device_id.get(key) if isinstance(device_id, dict) else None
    return value if isinstance(value, str) and value else None


def device_id_serial(device_id: dict[str, str]) -> str | None:
    """The serial number (`SN`, `SERN`, `SERIALNUMBER`, `SERIAL NUMBER`), or None."""
    return _value(device_id, "SN")


def device_id_model(device_id: dict[str, str]) -> str | None:
    """The model (`MDL` / `MODEL`), or None."""
    return _value(device_id, "MDL")


def device_id_manufacturer(device_id: dict[str, str]) -> str | None:
    """The manufacturer (`MFG` / `MANUFACTURER`), or None."""
    return _value(device_id, "MFG")
