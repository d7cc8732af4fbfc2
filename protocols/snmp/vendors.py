"""Vendor MIB objects that real fleets need where the standard MIBs fall short.

Keyed by the IANA enterprise number of the device's sysObjectID.  Only objects whose meaning is
well established across devices are listed; everything else comes from the standard MIBs.
"""

from __future__ import annotations

from dataclasses import dataclass

ENTERPRISES = "1.3.6.1.4.1"

# The IEEE 1284 device ID in HP's MIB: implemented by HP, and by OKI, Lexmark and others.
HP_DEVICE_ID = "1.3.6.1.4.1.11.2.3.9.1.1.7.0"


@dataclass(frozen=True)
class Vendor:
    name: str
    serial: tuple[str, ...] = ()
    model: tuple[str, ...] = ()
    firmware: tuple[str, ...] = ()
    device_id: tuple[str, ...] = ()
    contexts: tuple[str, ...] = ()
    """SNMP contexts where the device keeps printer data the default context lacks."""

    def oids(self) -> list[str]:
        """Identity objects; the page counters are in `vendor_counters`."""
        return [*self.serial, *self.model, *self.firmware, *self.device_ids()]

    def device_ids(self) -> tuple[str, ...]:
        """Where to look for the IEEE 1284 device ID: the vendor's own object first, then HP's,
        which devices of many makers implement (asking a device without it costs nothing)."""
        return self.device_id if HP_DEVICE_ID in self.device_id else (
            *self.device_id, HP_DEVICE_ID)


VENDORS: dict[int, Vendor] = {
    11: Vendor(
        "HP",
        serial=("1.3.6.1.4.1.11.2.3.9.4.2.1.1.3.3.0",),
        device_id=(HP_DEVICE_ID,),
        contexts=("Jetdirect",),
    ),
    236: Vendor(
        "Samsung",
        serial=("1.3.6.1.4.1.236.11.5.1.1.1.4.0",),
        model=("1.3.6.1.4.1.236.11.5.1.1.1.1.0",),
        firmware=("1.3.6.1.4.1.236.11.5.1.1.1.2.0",),
    ),
    253: Vendor(
        "Xerox",
        serial=("1.3.6.1.4.1.253.8.53.3.2.1.3.1",),
        device_id=("1.3.6.1.4.1.253.8.51.1.2.1.20.1",),
    ),
    297: Vendor("Fujifilm"),
    367: Vendor(
        "Ricoh",
        serial=("1.3.6.1.4.1.367.3.2.1.2.1.4.0",),
        model=("1.3.6.1.4.1.367.3.2.1.1.1.1.0",),
        firmware=("1.3.6.1.4.1.367.3.2.1.1.1.2.0",),
    ),
    641: Vendor("Lexmark", serial=("1.3.6.1.4.1.641.2.1.2.1.6.1",), device_id=(HP_DEVICE_ID,)),
    674: Vendor("Dell", serial=("1.3.6.1.4.1.674.10898.100.2.1.2.1.6.1",)),
    1248: Vendor("Epson"),
    1347: Vendor(
        "Kyocera",
        serial=("1.3.6.1.4.1.1347.43.5.1.1.28.1",),
        model=("1.3.6.1.4.1.1347.43.5.1.1.1.1",),
    ),
    1602: Vendor(
        "Canon",
        serial=("1.3.6.1.4.1.1602.1.2.1.4.0",),
        model=("1.3.6.1.4.1.1602.1.1.1.1.0",),
        firmware=("1.3.6.1.4.1.1602.1.1.1.4.0",),
    ),
    2001: Vendor("OKI", device_id=(HP_DEVICE_ID,)),
    2385: Vendor("Sharp"),
    2435: Vendor(
        "Brother",
        serial=("1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.1.0",),
        model=("1.3.6.1.4.1.2435.2.4.3.2435.5.13.3.0",),
        # BROTHER-MIB brInfoDeviceID (Brother's copy of HP's object under its own enterprise)
        device_id=("1.3.6.1.4.1.2435.2.3.9.1.1.7.0",),
    ),
    18334: Vendor("Konica Minolta", model=("1.3.6.1.4.1.18334.1.1.1.1.6.2.1.0",)),
}

UNKNOWN_VENDOR = Vendor("")


def enterprise_number(sys_object_id: str | None) -> int | None:
    """`1.3.6.1.4.1.2435.2.3.9.1` → 2435; None for anything outside the enterprises subtree."""
    if not sys_object_id or not sys_object_id.startswith(ENTERPRISES + "."):
        return None
    rest = sys_object_id[len(ENTERPRISES) + 1:].split(".", 1)[0]
    return int(rest) if rest.isdigit() else None


def vendor_for(sys_object_id: str | None) -> Vendor:
    number = enterprise_number(sys_object_id)
    return VENDORS.get(number, UNKNOWN_VENDOR) if number is not None else UNKNOWN_VENDOR
