"""One virtual printer's state machine: supplies, counters, errors, sleep, contract.

Everything the SNMP agent, the IPP server and mDNS tell is derived from this object, so the three
always tell the same story.  Every mutation bumps `version`; views rebuild lazily when it changed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from protocols.snmp.vendor_counters import Function
from simulator.meters import JOB_FUNCTIONS, PageMeters

CONTRACT_MODES = ("non-contract", "contract-non-billing", "contract-billing")
"""Contract MIB `pgwContractMode` values 1, 2, 3 in this order."""

ERRORS = ("paper-jam", "cover-open", "toner-empty", "offline", "paper-empty")
"""Errors the control API can raise; `toner-empty` also comes by itself when a toner runs out."""

CARTRIDGE_KINDS = ("toner", "ink", "tonerCartridge", "inkCartridge")
WEAR_KINDS = ("opc", "fuser", "developer", "transferUnit", "transferBelt", "cleanerUnit")

CartridgeType = Literal["contract", "commercial"]


class PrinterError(Exception):
    """A control request the printer refuses (unknown supply, unknown error name…)."""


@dataclass
class SupplyState:
    index: int
    """prtMarkerSuppliesIndex (the row is `hrDeviceIndex.index`)."""
    kind: str
    """Printer-MIB `PrtMarkerSuppliesTypeTC` name: toner, ink, opc, wasteToner, fuser…"""
    description: str
    color: str | None = None
    """Canonical colour name (protocols.colors.CANONICAL) or None."""
    max_capacity: int = 100
    level: float = 100.0
    unit: int = 19
    """PrtMarkerSuppliesSupplyUnitTC: 19 percent, 7 impressions, 13 tenthsOfGrams…"""
    yield_pages: int = 10000
    """Pages at 5 % coverage a full unit lasts (or impressions for wear parts / waste fill)."""
    part_number: str = ""
    colorant_index: int = 0
    marker_index: int = 1
    special_level: int | None = None
    """When set (-1/-2/-3), the device reports this instead of a number while the unit is not empty
    (real devices do: e.g. -3 "some remaining" for a waste toner box)."""
    cartridge_type: CartridgeType = "commercial"
    cartridge_id: str = ""
    new: bool = True
    replacements: int = 0
    low_percent: int = 10
    reported_max: int | None = None
    """What the device reports as max capacity when it differs (-1/-2: capacity unknown)."""
    contract_part: bool = False
    """A part (not a cartridge) the contract MIB lists with its cartridge type and ID, as the
    cartridges: the contract drum of the `contract-laser` profile."""

    @property
    def is_receptacle(self) -> bool:
        return self.kind in ("wasteToner", "wasteInk", "wasteWater", "wasteWax", "wastePaper")

    @property
    def is_cartridge(self) -> bool:
        return self.kind in CARTRIDGE_KINDS

    @property
    def in_contract_mib(self) -> bool:
        """Listed in the contract MIB's supply table (type, ID, new flag)."""
        return self.is_cartridge or self.contract_part

    @property
    def is_ink(self) -> bool:
        return self.kind in ("ink", "inkCartridge")

    @property
    def reported_capacity(self) -> int:
        """The max capacity the device reports (SNMP prtMarkerSuppliesMaxCapacity, IPP)."""
        return self.reported_max if self.reported_max is not None else self.max_capacity

    @property
    def level_int(self) -> int:
        return max(0, min(self.max_capacity, math.floor(self.level + 1e-9)))

    @property
    def percent(self) -> int:
        if self.max_capacity <= 0:
            return 0
        # half up, as printers show it (Python's round() would take 72.5 to 72)
        return (self.level_int * 200 + self.max_capacity) // (2 * self.max_capacity)

    @property
    def empty(self) -> bool:
        return self.level_int <= 0

    @property
    def low(self) -> bool:
        return not self.empty and self.percent <= self.low_percent


@dataclass
class Alert:
    index: int
    severity: int
    """prtAlertSeverityLevel: 3 critical, 4 warning."""
    group: int
    """PrtAlertGroupTC: 5 generalPrinter, 6 cover, 8 input, 11 markerSupplies, 13 mediaPath."""
    group_index: int
    code: int
    """PrtAlertCodeTC."""
    description: str
    key: str
    training: int = 3
    time_ticks: int = 0


@dataclass
class PrinterState:
    """State of one virtual printer: the profile gives the fixed identity, this what changes."""

    name: str
    serial: str
    manufacturer: str
    model: str
    firmware: str
    uuid: str
    mac: bytes
    supplies: list[SupplyState]
    color: bool
    hr_device_index: int = 1
    has_contract_mib: bool = True
    total_pages: int = 0
    color_pages: int = 0
    mono_pages: int = 0
    contract_pages: int = 0
    cartridge_replacements: int = 0
    meters: PageMeters = field(default_factory=PageMeters)
    """The same impressions by function, colour and size (the vendor counter objects)."""
    contract_mode: int = 1
    contract_printing_prohibited: bool = False
    panel_message: str = ""
    errors: set[str] = field(default_factory=set)
    asleep: bool = False
    unreachable: bool = False
    processing_until: float = 0.0
    started: float = field(default_factory=time.monotonic)
    version: int = 0
    alert_serial: int = 0
    _alert_index: dict[str, int] = field(default_factory=dict)
    sys_name: str = ""
    sys_location: str = "Virtual office"
    sys_contact: str = "it@example.com"
    _cartridge_seq: int = 0

    # -- helpers -------------------------------------------------------------------------------

    def touch(self) -> None:
        self.version += 1

    def uptime_ticks(self) -> int:
        """TimeTicks (1/100 s) since the printer started."""
        return int((time.monotonic() - self.started) * 100) & 0xFFFFFFFF

    def supply(self, ref: int | str) -> SupplyState:
        """A supply by index, by colour (`black`) or by kind (`wasteToner`, `opc`)."""
        for s in self.supplies:
            if str(s.index) == str(ref):
                return s
        matches = [s for s in self.supplies if s.is_cartridge and s.color == ref]
        matches = matches or [s for s in self.supplies if s.kind == ref]
        if len(matches) >= 1:
            return matches[0]
        raise PrinterError(f"no supply {ref!r} (indexes: {[s.index for s in self.supplies]})")

    def reported_level(self, s: SupplyState, number: int) -> int:
        """What the device reports as the level of `s`: -2 (unknown) while asleep, the supply's
        special value while it is not empty, else `number` (its level in units, or percent)."""
        if self.asleep:
            return -2
        if s.special_level is not None and not s.empty:
            return s.special_level
        return number

    @property
    def make_and_model(self) -> str:
        if self.model.lower().startswith(self.manufacturer.lower()):
            return self.model
        return f"{self.manufacturer} {self.model}"

    # -- derived state -------------------------------------------------------------------------

    def active_errors(self) -> set[str]:
        errors = set(self.errors)
        if any(s.empty for s in self.supplies if s.is_cartridge):
            errors.add("toner-empty")
        return errors

    def printer_state(self) -> str:
        """IPP-style: idle, processing, stopped."""
        if self.active_errors() & {"paper-jam", "cover-open", "offline", "paper-empty"}:
            return "stopped"
        black = [s for s in self.supplies if s.is_cartridge and s.color in ("black", None)]
        if black and all(s.empty for s in black):
            return "stopped"
        if time.monotonic() < self.processing_until:
            return "processing"
        return "idle"

    def alerts(self) -> list[Alert]:
        """The current alert table: one row per condition, indexes stable while it lasts."""
        out: list[Alert] = []
        errors = self.active_errors()
        for key, sev, group, gidx, code, text in self._conditions(errors):
            idx = self._alert_index.get(key)
            if idx is None:
                self.alert_serial += 1
                idx = self._alert_index[key] = self.alert_serial
            out.append(Alert(idx, sev, group, gidx, code, text, key))
        live = {a.key for a in out}
        for key in list(self._alert_index):
            if key not in live:
                del self._alert_index[key]
        out.sort(key=lambda a: a.index)
        return out

    def _conditions(self, errors: set[str]) -> list[tuple[str, int, int, int, int, str]]:
        conds: list[tuple[str, int, int, int, int, str]] = []
        if "paper-jam" in errors:
            conds.append(("paper-jam", 3, 13, 1, 8, "Paper jam"))
        if "cover-open" in errors:
            conds.append(("cover-open", 3, 6, 1, 3, "Cover open"))
        if "paper-empty" in errors:
            conds.append(("paper-empty", 3, 8, 1, 808, "Tray 1 empty: load paper"))
        if "offline" in errors:
            conds.append(("offline", 3, 5, 1, 22, "Printer offline"))
        for s in self.supplies:
            if s.is_cartridge and s.empty:
                conds.append((f"empty-{s.index}", 3, 11, s.index, 1102 if s.is_ink else 1101,
                              f"{s.description} empty: replace"))
            elif s.is_cartridge and s.low:
                conds.append((f"low-{s.index}", 4, 11, s.index, 1105 if s.is_ink else 1104,
                              f"{s.description} low"))
            elif s.is_receptacle and s.empty:
                conds.append((f"full-{s.index}", 3, 11, s.index, 1109, f"{s.description} full"))
            elif s.kind == "opc" and s.empty:
                conds.append((f"wear-{s.index}", 4, 11, s.index, 1112,
                              f"{s.description} life over"))
        if "toner-empty" in self.errors and not any(c[0].startswith("empty-") for c in conds):
            conds.append(("toner-empty", 3, 11, 1, 1101, "Toner empty"))
        return conds

    def reasons(self) -> list[str]:
        """IPP printer-state-reasons."""
        errors = self.active_errors()
        out = []
        for name, reason in (("paper-jam", "media-jam-error"), ("cover-open", "cover-open-error"),
                             ("paper-empty", "media-empty-error"), ("offline", "offline-report")):
            if name in errors:
                out.append(reason)
        cart = [s for s in self.supplies if s.is_cartridge]
        ink = any(s.is_ink for s in cart)
        if "toner-empty" in errors:
            out.append("marker-supply-empty-error" if ink else "toner-empty-error")
        elif any(s.low for s in cart):
            out.append("marker-supply-low-warning" if ink else "toner-low-warning")
        if any(s.is_receptacle and s.empty for s in self.supplies):
            out.append("marker-waste-full-error")
        if self.asleep:
            out.append("sleep")
        return out or ["none"]

    def detected_error_bits(self) -> bytes:
        """hrPrinterDetectedErrorState (bit 0 = MSB of the first octet), two octets."""
        errors = self.active_errors()
        bits = 0
        cart = [s for s in self.supplies if s.is_cartridge]
        if any(s.low for s in cart):
            bits |= 1 << (15 - 2)  # lowToner
        if "toner-empty" in errors:
            bits |= 1 << (15 - 3)  # noToner
        if "cover-open" in errors:
            bits |= 1 << (15 - 4)  # doorOpen
        if "paper-jam" in errors:
            bits |= 1 << (15 - 5)  # jammed
        if "offline" in errors:
            bits |= 1 << (15 - 6)  # offline
        if "paper-empty" in errors:
            bits |= 1 << (15 - 1)  # noPaper
            bits |= 1 << (15 - 13)  # inputTrayEmpty
        if any(s.is_receptacle and s.empty for s in self.supplies):
            bits |= 1 << (15 - 12)  # outputFull
        return bits.to_bytes(2, "big")

    def hr_printer_status(self) -> int:
        """hrPrinterStatus: 1 other, 3 idle, 4 printing, 5 warmup."""
        state = self.printer_state()
        return {"idle": 3, "processing": 4}.get(state, 1)

    def hr_device_status(self) -> int:
        """hrDeviceStatus: 2 running, 3 warning, 5 down."""
        if self.printer_state() == "stopped":
            return 5
        if self.active_errors() or any(a.severity == 4 for a in self.alerts()):
            return 3
        return 2

    # -- actions -------------------------------------------------------------------------------

    def contract_cartridge_installed(self) -> bool:
        return any(s.is_cartridge and s.cartridge_type == "contract" for s in self.supplies)

    def print_pages(self, pages: int, color: bool = False, coverage: float = 5.0,
                    function: Function = "print", large: bool = False,
                    duplex: bool = False) -> int:
        """Print up to `pages` pages of a `function` job (print, copy, fax received), on large
        media or small, duplex or not; returns how many were printed (stops at an error)."""
        if pages < 0 or pages > 10_000_000:
            raise PrinterError("pages must be 0..10000000")
        if function not in JOB_FUNCTIONS:
            raise PrinterError(f"function must be one of {', '.join(JOB_FUNCTIONS)}")
        if not 0 < coverage <= 100:
            raise PrinterError("coverage must be in (0, 100]")
        if self.unreachable:
            raise PrinterError("printer is unreachable")
        if self.contract_cartridge_installed() and (
                self.contract_mode == 1 or self.contract_printing_prohibited):
            raise PrinterError("contract cartridge installed but contract printing is not allowed")
        color = color and self.color
        self.asleep = False
        printed = 0
        cart = [s for s in self.supplies if s.is_cartridge]
        used = [s for s in cart if (s.color in ("black", None) or color)]
        contract = self.contract_mode in (2, 3) and bool(used) and all(
            s.cartridge_type == "contract" for s in used)
        for _ in range(pages):
            if self.printer_state() == "stopped" or any(s.empty for s in used):
                break
            for s in used:
                s.level -= s.max_capacity * (coverage / 5.0) / s.yield_pages
                s.new = False
            for s in self.supplies:
                if s.is_receptacle:
                    s.level -= s.max_capacity * (coverage / 5.0) * (len(used)) / s.yield_pages
                elif s.kind in WEAR_KINDS and (s.color is None or color or s.color == "black"):
                    s.level -= s.max_capacity / s.yield_pages
                if s.level < 0:
                    s.level = 0.0
            printed += 1
        self.total_pages += printed
        if color:
            self.color_pages += printed
        else:
            self.mono_pages += printed
        self.meters.add(printed, function, "color" if color else "mono",
                        "large" if large else "small", duplex)
        if contract:
            self.contract_pages += printed
        if printed:
            self.processing_until = time.monotonic() + min(5.0, printed * 0.05)
        self.touch()
        return printed

    def scan_pages(self, pages: int) -> int:
        """Scan `pages` pages: nothing printed, the scan counters count them."""
        if not 0 <= pages <= 10_000_000:
            raise PrinterError("pages must be 0..10000000")
        self.meters.scanned += pages
        self.touch()
        return pages

    def replace(self, ref: int | str, cartridge_type: CartridgeType | None = None,
                cartridge_id: str | None = None) -> SupplyState:
        """Put in a new unit: level full, new ID, new flag; cartridges count a replacement."""
        s = self.supply(ref)
        if cartridge_type not in (None, "contract", "commercial"):
            raise PrinterError("cartridge_type must be 'contract' or 'commercial'")
        s.level = float(s.max_capacity)
        s.new = True
        s.replacements += 1
        self._cartridge_seq += 1
        if s.is_cartridge:
            self.cartridge_replacements += 1
        if s.in_contract_mib:
            s.cartridge_type = cartridge_type or s.cartridge_type
            s.cartridge_id = cartridge_id or f"{self.serial}-{s.index}-{self._cartridge_seq:04d}"
        self.errors.discard("toner-empty")
        self.touch()
        return s

    def set_level(self, ref: int | str, percent: float) -> None:
        s = self.supply(ref)
        if not 0 <= percent <= 100:
            raise PrinterError("percent must be 0..100")
        s.level = s.max_capacity * percent / 100
        self.touch()

    def raise_error(self, name: str) -> None:
        if name not in ERRORS:
            raise PrinterError(f"unknown error {name!r}; one of {', '.join(ERRORS)}")
        self.errors.add(name)
        self.touch()

    def clear_error(self, name: str | None = None) -> None:
        if name is None:
            self.errors.clear()
        elif name not in ERRORS:
            raise PrinterError(f"unknown error {name!r}; one of {', '.join(ERRORS)}")
        else:
            self.errors.discard(name)
        self.touch()

    def set_sleep(self, asleep: bool) -> None:
        self.asleep = asleep
        self.touch()

    def set_unreachable(self, value: bool) -> None:
        self.unreachable = value
        self.touch()

    def set_contract_mode(self, mode: int) -> None:
        if mode not in (1, 2, 3):
            raise PrinterError("contract mode must be 1, 2 or 3")
        self.contract_mode = mode
        self.touch()

    # -- reporting -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "serial": self.serial,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "firmware": self.firmware,
            "uuid": self.uuid,
            "printer_state": self.printer_state(),
            "reasons": self.reasons(),
            "errors": sorted(self.active_errors()),
            "asleep": self.asleep,
            "unreachable": self.unreachable,
            "counters": {"total": self.total_pages, "color": self.color_pages,
                         "mono": self.mono_pages, "contract": self.contract_pages,
                         "cartridge_replacements": self.cartridge_replacements},
            "contract": {"supported": self.has_contract_mib,
                         "mode": CONTRACT_MODES[self.contract_mode - 1],
                         "printing_prohibited": self.contract_printing_prohibited,
                         "panel_message": self.panel_message},
            "supplies": [{"index": s.index, "kind": s.kind, "description": s.description,
                          "color": s.color, "level": s.level_int,
                          "max_capacity": s.max_capacity, "percent": s.percent,
                          "cartridge_type": s.cartridge_type if s.in_contract_mib else None,
                          "cartridge_id": s.cartridge_id if s.in_contract_mib else None,
                          "new": s.new, "replacements": s.replacements}
                         for s in self.supplies],
            "alerts": [{"index": a.index, "severity": a.severity, "group": a.group,
                        "code": a.code, "description": a.description}
                       for a in self.alerts()],
        }
