"""The IPP part of a support recording: the Get-Printer-Attributes answer as the printer sent it
(its body's bytes), asked for `all` and, by name, every attribute printgw reads (some printers
only send e.g. `printer-serial-number` when it is named), optionally masked.

Masking replaces values in the body without decoding it again: every stand-in has the length of
what it replaces (`protocols.masking`), so each value's length prefix stays right.
"""

from __future__ import annotations

from typing import Any

from yarl import URL

from protocols.device_id import device_id_serial, parse_device_id
from protocols.ipp.model import REQUESTED_ATTRIBUTES, IppReading
from protocols.masking import Masker

RECORDED_ATTRIBUTES: tuple[str, ...] = ("all", *REQUESTED_ATTRIBUTES)


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def learn_secrets(reading: IppReading, masker: Masker) -> None:
    """Tell `masker` the serials and the URIs' hosts the answer holds (`reading`: it decoded)."""
    attributes = reading.attributes
    for name in ("printer-serial-number", "printer-device-id"):
        for value in map(_text, _values(attributes.get(name))):
            if value is None:
                continue
            serial = (device_id_serial(parse_device_id(value)) if name == "printer-device-id"
                      else value)
            if serial:
                masker.add_serial(serial)
    for values in attributes.values():
        for value in map(_text, _values(values)):
            if value and "://" in value:
                try:
                    host = URL(value).host
                except ValueError:
                    continue
                if host:
                    masker.add_address(host)


def mask_answer(body: bytes, masker: Masker) -> bytes:
    """`body` with serial numbers, UUIDs, MACs and addresses masked, once `masker` learnt the
    recording's secrets (`learn_secrets`)."""
    return masker.text(body)
