"""The normalised device status: what the gateway knows about one printer after one poll.

It is built from SNMP and IPP readings together (SNMP first where both answer, IPP fills the gaps)
and knows nothing of either wire format.  `DeviceStatus.to_json()` is a public interface: the
`printgw poll --json` output and the form a reading is stored in (the uplink keeps each device's
previous reading for event detection); `DeviceStatus.from_json()` reads it back.  A document
stored by an older version may lack fields added since: they take their defaults.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from gateway.device.supply_forecast import SupplyForecast

LevelState = Literal["known", "some-remaining", "unknown", "unrestricted", "unavailable"]
SupplyClass = Literal["consumed", "filled"]
CartridgeType = Literal["contract", "commercial"]


@dataclass
class Supply:
    """One consumable or replaceable unit: a toner, an ink, a drum, a waste toner box, a fuser…"""

    index: str
    """`"hrDeviceIndex.prtMarkerSuppliesIndex"` for SNMP rows (e.g. `"1.3"`), `"ipp.N"` for IPP."""
    description: str | None = None
    kind: str | None = None
    """The Printer-MIB `PrtMarkerSuppliesTypeTC` name (`toner`, `wasteToner`, `opc`…), or None."""
    color: str | None = None
    part_number: str | None = None
    level_percent: int | None = None
    level_state: LevelState = "unknown"
    raw_level: int | None = None
    max_capacity: int | None = None
    unit: str | None = None
    supply_class: SupplyClass | None = None
    over_capacity: bool = False
    """The device reported a level above its maximum capacity; the percent was clamped to 100."""
    low_percent: int | None = None
    source: str = "snmp"
    cartridge_type: CartridgeType | None = None
    """From the contract MIB: a contract cartridge (flat-rate printing) or a commercial one."""
    cartridge_id: str | None = None
    """From the contract MIB: the installed cartridge's identifier (changes on replacement)."""
    cartridge_new: bool | None = None
    """From the contract MIB: installed and not yet printed with."""
    part: str | None = None
    """What part it is (`gateway.device.supply_parts`): toner, ink, drum, developer, fuser,
    transfer, feed, waste, cleaner, finisher, maintenance-kit, other; None when nothing tells."""
    remaining_pages: int | None = None
    """Life left in pages, where the device counts the level in impressions or sheets."""

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "description": self.description,
            "kind": self.kind,
            "color": self.color,
            "part_number": self.part_number,
            "level_percent": self.level_percent,
            "level_state": self.level_state,
            "raw_level": self.raw_level,
            "max_capacity": self.max_capacity,
            "unit": self.unit,
            "class": self.supply_class,
            "over_capacity": self.over_capacity,
            "low_percent": self.low_percent,
            "source": self.source,
            "cartridge_type": self.cartridge_type,
            "cartridge_id": self.cartridge_id,
            "cartridge_new": self.cartridge_new,
            "part": self.part,
            "remaining_pages": self.remaining_pages,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Supply:
        values = {**document, "supply_class": document.get("class")}
        return _build(cls, values)


@dataclass
class Identity:
    serial: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    mac: str | None = None
    hostname: str | None = None
    uuid: str | None = None
    sys_object_id: str | None = None
    sys_descr: str | None = None
    location: str | None = None
    device_id: str | None = None
    """The raw IEEE 1284 device ID (from IPP `printer-device-id` or the HP/Printer-MIB OIDs)."""


@dataclass
class Counters:
    """Page counters (meter reads), each where the device tells; `DeviceStatus.sources` names
    the object and vendor each came from (`counters.NAME` → `snmp:Sharp:1.3.6.1.4.1.2385…`)."""

    total: int | None = None
    """All impressions (prtMarkerLifeCount of the first marker, or the vendor's total)."""
    color: int | None = None
    """Full-colour impressions."""
    mono: int | None = None
    """Black-and-white impressions."""
    two_color: int | None = None
    """Two-colour (and single-colour other than black) impressions, where reported."""
    print: int | None = None
    """Impressions of print jobs (from the network, USB, memory)."""
    copy: int | None = None
    """Impressions of copy jobs."""
    fax: int | None = None
    """Impressions of received faxes printed."""
    scan: int | None = None
    """Pages scanned (or, where a device counts those instead, list and report pages)."""
    large: int | None = None
    """Impressions on large media (A3/ledger class), each as the device counts it."""
    small: int | None = None
    """Impressions on small media (A4/letter class and below)."""
    duplex: int | None = None
    """Sheets printed on both sides."""
    contract: int | None = None
    cartridge_replacements: int | None = None


@dataclass
class Alert:
    index: str
    severity: str | None = None
    group: str | None = None
    code: str | None = None
    description: str | None = None
    training_level: str | None = None


PrinterState = Literal["idle", "processing", "stopped", "warmup", "offline", "unknown"]


@dataclass
class State:
    printer_state: PrinterState = "unknown"
    reasons: list[str] = field(default_factory=list)
    """IPP-style `printer-state-reasons` keywords, also derived from SNMP error bits."""
    message: str | None = None
    alerts: list[Alert] = field(default_factory=list)
    abnormal: bool = False


@dataclass
class Contract:
    """Contract-mode state read from the project's contract MIB; `supported=False` without it."""

    supported: bool = False
    mode: str | None = None
    printing_prohibited: bool | None = None
    panel_message: str | None = None


@dataclass
class Problem:
    """Something the reader could not use: reported, never raised."""

    source: str
    where: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "where": self.where, "message": self.message}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Problem:
        return cls(source=document["source"], where=document["where"],
                   message=document["message"])


@dataclass
class DeviceStatus:
    host: str
    identity: Identity = field(default_factory=Identity)
    supplies: list[Supply] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)
    state: State = field(default_factory=State)
    contract: Contract = field(default_factory=Contract)
    sources: dict[str, str] = field(default_factory=dict)
    """Where each field came from, e.g. `{"identity.serial": "snmp:prtGeneralSerialNumber"}`."""
    reachable: dict[str, bool] = field(default_factory=dict)
    """Per protocol (`snmp`, `ipp`): did it answer?"""
    functions: dict[str, str] = field(default_factory=dict)
    """What the device showed it can do (`print`, `scan`, `fax`, `copy`, `large-format`) → the
    first evidence of it, e.g. `{"scan": "snmp:hrDeviceType.3=hrDeviceScanner"}`
    (`gateway.device.device_type` decides the device type from it)."""
    problems: list[Problem] = field(default_factory=list)
    forecasts: list[SupplyForecast] = field(default_factory=list)
    """Per supply, when it runs out (`gateway.fleet.forecast`, set as the reading is recorded)."""
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def problem(self, source: str, where: str, message: str) -> None:
        self.problems.append(Problem(source, where, message))

    def set(self, section: object, name: str, value: Any, source: str) -> bool:
        """Set `section.name` to `value` if it is still empty, and remember where it came from.

        Returns True when the value was taken.  This is how "SNMP first, IPP fills the gaps" works:
        the first reader to provide a field wins.
        """
        if value is None or value == "" or getattr(section, name) is not None:
            return False
        setattr(section, name, value)
        self.sources[f"{_SECTION_NAMES[type(section)]}.{name}"] = source
        return True

    def show_function(self, function: str, source: str) -> None:
        """Record that the device can `function`; the first evidence found is kept."""
        self.functions.setdefault(function, source)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "read_at": self.read_at.isoformat(),
            "reachable": dict(self.reachable),
            "identity": vars(self.identity).copy(),
            "supplies": [s.to_json() for s in self.supplies],
            "counters": vars(self.counters).copy(),
            "state": {
                "printer_state": self.state.printer_state,
                "reasons": list(self.state.reasons),
                "message": self.state.message,
                "alerts": [vars(a).copy() for a in self.state.alerts],
                "abnormal": self.state.abnormal,
            },
            "contract": vars(self.contract).copy(),
            "sources": dict(self.sources),
            "functions": dict(self.functions),
            "problems": [p.to_json() for p in self.problems],
            "forecasts": [f.to_json() for f in self.forecasts],
        }

    def copy(self) -> DeviceStatus:
        """A deep copy, equal to this reading and sharing nothing mutable with it: through its
        document, several times faster than `copy.deepcopy` (which walks every value with its
        memo)."""
        return DeviceStatus.from_json(self.to_json())

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> DeviceStatus:
        """The reading `to_json()` wrote (`read_at` and `host` are required)."""
        state = document.get("state") or {}
        return cls(
            host=document["host"],
            read_at=datetime.fromisoformat(document["read_at"]),
            reachable=dict(document.get("reachable") or {}),
            identity=_build(Identity, document.get("identity") or {}),
            supplies=[Supply.from_json(s) for s in document.get("supplies") or ()],
            counters=_build(Counters, document.get("counters") or {}),
            state=_build(State, {
                **state, "reasons": list(state.get("reasons") or ()),
                "alerts": [_build(Alert, a) for a in state.get("alerts") or ()]}),
            contract=_build(Contract, document.get("contract") or {}),
            sources=dict(document.get("sources") or {}),
            functions=dict(document.get("functions") or {}),
            problems=[Problem.from_json(p) for p in document.get("problems") or ()],
            forecasts=[SupplyForecast.from_json(f) for f in document.get("forecasts") or ()],
        )


_Section = TypeVar("_Section")


def _build(cls: type[_Section], values: Mapping[str, Any]) -> _Section:
    """`cls` from those of `values` that are its fields; missing fields keep their defaults."""
    names = _field_names(cls)
    return cls(**{name: value for name, value in values.items() if name in names})


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    """The names of a dataclass's fields (asked at every section of every reading decoded)."""
    return frozenset(f.name for f in fields(cls))


_SECTION_NAMES: dict[type, str] = {
    Identity: "identity",
    Counters: "counters",
    State: "state",
    Contract: "contract",
}
