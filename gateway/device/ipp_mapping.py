"""Map an IPP Get-Printer-Attributes reading onto the normalised `DeviceStatus`.

IPP is applied after SNMP: `status.set` keeps what SNMP found and IPP fills the gaps, and the
source of every field IPP provides is recorded as `ipp:<attribute>`.  Every attribute is read
defensively: a printer that sends a wrong type, a list for a scalar, a huge or negative number or
garbage costs that one attribute (reported in `status.problems`), never the reading.  Identity
attributes are checked as `gateway.device.fields` describes (`printer-uuid` parsed as a UUID,
lengths, control characters, a serial that is not text), page counters for plausibility.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.device import model_name
from gateway.device.fields import (
    IdentityField,
    checked_uuid,
    clean_serial,
    identity_text,
    page_count,
    parsed_device_id,
    supply_class_by_kind,
)
from gateway.device.function_evidence import show_identity_functions, show_ipp_functions
from gateway.device.model import Alert, DeviceStatus, LevelState, PrinterState, Supply, SupplyClass
from gateway.device.supply_parts import apply_part, colour_from_description, drop_mono_colours
from protocols import colors
from protocols.device_id import (
    device_id_manufacturer,
    device_id_model,
    device_id_serial,
)
from protocols.ipp.model import IppReading, parse_printer_supply
from protocols.snmp.textual_conventions import PrtMarkerSuppliesTypeTC

_INT32_MAX = 2**31 - 1
_PRINTER_STATES: dict[int, PrinterState] = {3: "idle", 4: "processing", 5: "stopped"}

# IPP marker-types keywords (`ink-cartridge`) and printer-supply types (`inkCartridge`) → the
# Printer-MIB name; matched without case and punctuation.  "other"/"unknown" tell nothing: None.
_KINDS: dict[str, str] = {
    re.sub(r"[^a-z0-9]", "", name.lower()): name
    for name in PrtMarkerSuppliesTypeTC.values() if name not in ("other", "unknown")
} | {"drum": "opc", "drumunit": "opc", "photoconductor": "opc"}

# marker-levels special values (CUPS): these are states, never numbers.
_MARKER_LEVEL_STATES: dict[int, LevelState] = {
    -1: "unavailable", -2: "unknown", -3: "some-remaining"}
# printer-supply `level` follows the Printer-MIB: -1 means "no restriction".
_SUPPLY_LEVEL_STATES: dict[int, LevelState] = {
    -1: "unrestricted", -2: "unknown", -3: "some-remaining"}
_SUPPLY_CLASSES: dict[str, SupplyClass] = {
    "supplythatisconsumed": "consumed", "receptaclethatisfilled": "filled"}

_TEXT_EDGES = " \t\r\n\x00"
"""Padding around a text attribute's value."""
_KNOWN_MAKERS = ("Brother", "Canon", "Dell", "Epson", "Fujifilm", "Fuji Xerox", "HP",
                 "Hewlett-Packard", "Konica Minolta", "Kyocera", "Lexmark", "OKI", "Panasonic",
                 "Ricoh", "Samsung", "Sharp", "Toshiba", "Xerox")


class _Attributes:
    """Typed access to a reading's attributes that reports, instead of raising, what does not fit.

    A list where one value is expected gives its first value; a single value where a list is
    expected gives a one-element list.
    """

    def __init__(self, attributes: object, status: DeviceStatus, prefix: str = "") -> None:
        self._status = status
        self._prefix = prefix
        if not isinstance(attributes, dict):
            self.problem("attributes", f"expected a dict, got {_show(attributes)}")
            attributes = {}
        self._attributes: dict[Any, Any] = attributes

    def problem(self, name: str, message: str) -> None:
        self._status.problem("ipp", self._prefix + name, message)

    def values(self, name: str) -> list[Any]:
        value = self._attributes.get(name)
        if value is None:
            return []
        return list(value) if isinstance(value, list | tuple) else [value]

    def one(self, name: str) -> Any:
        value = self._attributes.get(name)
        if not isinstance(value, list | tuple):
            return value
        if len(value) > 1:
            self.problem(name, f"expected one value, got {len(value)}: using the first")
        return value[0] if value else None

    def text(self, name: str) -> str | None:
        return self._as_text(name, self.one(name))

    def texts(self, name: str) -> list[str | None]:
        return [(value.strip(_TEXT_EDGES) or None) if value.__class__ is str
                else self._as_text(name, value) for value in self.values(name)]

    def int(self, name: str, minimum: int = 0, maximum: int = _INT32_MAX) -> int | None:
        return self._as_int(name, self.one(name), minimum, maximum)

    def identity(self, field: IdentityField, name: str) -> str | None:
        """The attribute's one value as the identity field `field` (`fields.identity_text`)."""
        return self.identity_of(field, name, self.one(name))

    def identity_of(self, field: IdentityField, name: str, value: Any) -> str | None:
        return identity_text(self._status, "ipp", self._prefix + name, field, value)

    def pages(self, name: str) -> int | None:
        """A page counter a device could have printed (`fields.page_count`)."""
        return page_count(self._status, "ipp", self._prefix + name, self.int(name))

    def ints(self, name: str, minimum: int, maximum: int) -> list[int | None]:
        return [self._as_int(name, value, minimum, maximum) for value in self.values(name)]

    def octets(self, name: str) -> list[dict[str, str]]:
        """An octetString 1setOf of `key=value;` items (printer-supply, printer-alert)."""
        parsed = []
        for value in self.values(name):
            if not isinstance(value, str | bytes):
                self.problem(name, f"expected text, got {_show(value)}")
            parsed.append(parse_printer_supply(value))
        return parsed

    def _as_text(self, name: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(name, f"expected text, got {_show(value)}")
            return None
        return value.strip(_TEXT_EDGES) or None

    def _as_int(self, name: str, value: Any, minimum: int, maximum: int) -> int | None:
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem(name, f"expected an integer, got {_show(value)}")
            return None
        if not minimum <= value <= maximum:
            self.problem(name, f"value out of range [{minimum}, {maximum}]: {value}")
            return None
        return value


def _show(value: Any) -> str:
    return f"{type(value).__name__} {value!r:.60}"


def apply_ipp(status: DeviceStatus, reading: IppReading) -> None:
    """Fill the gaps SNMP left in `status` from an IPP reading."""
    status.reachable["ipp"] = True
    for problem in reading.problems:
        status.problem("ipp", "response", problem)
    attributes = _Attributes(reading.attributes, status)
    _identity(status, attributes)
    _state(status, attributes)
    _alerts(status, attributes)
    if status.supplies:
        _fill_supply_colours(status, attributes)
    else:
        status.supplies.extend(_supplies(attributes))
    _counters(status, attributes)
    if isinstance(reading.attributes, dict):
        show_ipp_functions(status, reading.attributes)
    show_identity_functions(status)


# --------------------------------------------------------------------------------------------
# Identity


def _identity(status: DeviceStatus, a: _Attributes) -> None:
    ident = status.identity
    device_id_text = a.identity("device_id", "printer-device-id")
    device_id = parsed_device_id(device_id_text or "")
    make_and_model = a.identity("model", "printer-make-and-model")

    status.set(ident, "serial", clean_serial(a.identity("serial", "printer-serial-number")),
               "ipp:printer-serial-number")
    status.set(ident, "serial", clean_serial(
        a.identity_of("serial", "printer-device-id SN", device_id_serial(device_id))),
        "ipp:printer-device-id")
    status.set(ident, "manufacturer", a.identity_of(
        "manufacturer", "printer-device-id MFG", device_id_manufacturer(device_id)),
        "ipp:printer-device-id")
    status.set(ident, "manufacturer", _maker(make_and_model), "ipp:printer-make-and-model")
    _offer_models(status, [
        ("ipp:printer-device-id", a.identity_of("model", "printer-device-id MDL",
                                                device_id_model(device_id))),
        ("ipp:printer-make-and-model", make_and_model),
        ("ipp:printer-device-id DES", device_id.get("DES") or None)])
    # printer-firmware-version is an opaque octetString; the string version is the readable one.
    firmware = (a.identity_of("firmware", "printer-firmware-string-version", value)
                for value in a.values("printer-firmware-string-version"))
    status.set(ident, "firmware", next((f for f in firmware if f), None),
               "ipp:printer-firmware-string-version")
    status.set(ident, "uuid", checked_uuid(status, "ipp", "printer-uuid", a.text("printer-uuid")),
               "ipp:printer-uuid")
    status.set(ident, "device_id", device_id_text, "ipp:printer-device-id")
    status.set(ident, "location", a.identity("location", "printer-location"),
               "ipp:printer-location")


def _offer_models(status: DeviceStatus, texts: list[tuple[str, str | None]]) -> None:
    """IPP's names of the model replace SNMP's only where they name the device better
    (`gateway.device.model_name`)."""
    offers = [c for source, text in texts if (c := model_name.clean_model(text, source))]
    ident = status.identity
    winner = model_name.better_model(ident.model, status.sources.get("identity.model"), offers)
    if winner is not None:
        ident.model = None
        status.set(ident, "model", winner.name, winner.source)


@functools.lru_cache(maxsize=256)
def _maker(make_and_model: str | None) -> str | None:
    """The manufacturer at the start of `printer-make-and-model`, for well-known makers only:
    the first word alone is often a product line (`ECOSYS M2540dn`)."""
    if not make_and_model:
        return None
    lowered = make_and_model.lower()
    for maker in _KNOWN_MAKERS:
        if lowered == maker.lower() or lowered.startswith(maker.lower() + " "):
            return make_and_model[:len(maker)]
    return None


# --------------------------------------------------------------------------------------------
# State and alerts


def _state(status: DeviceStatus, a: _Attributes) -> None:
    state = status.state
    code = a.int("printer-state", 0, _INT32_MAX)
    if code is not None and code not in _PRINTER_STATES:
        a.problem("printer-state", f"not a printer-state enum value: {code}")
    if code in _PRINTER_STATES and state.printer_state == "unknown":
        state.printer_state = _PRINTER_STATES[code]
        status.sources["state.printer_state"] = "ipp:printer-state"

    reasons = [r for r in a.texts("printer-state-reasons") if r and r != "none"]
    if reasons and not state.reasons:
        status.sources["state.reasons"] = "ipp:printer-state-reasons"
    state.reasons.extend(r for r in dict.fromkeys(reasons) if r not in state.reasons)

    status.set(state, "message", a.text("printer-state-message"), "ipp:printer-state-message")
    state.abnormal = state.abnormal or code == 5 or any(r.endswith("-error") for r in reasons)


def _alerts(status: DeviceStatus, a: _Attributes) -> None:
    """printer-alert (PWG 5100.9): `code=…;severity=…;group=…` items, with the text of each in
    printer-alert-description.  Taken only when SNMP gave no alert table."""
    if status.state.alerts:
        return
    descriptions = a.texts("printer-alert-description")
    for position, alert in enumerate(a.octets("printer-alert")):
        if not alert:
            continue
        status.state.alerts.append(Alert(
            index=f"ipp.{position + 1}",
            severity=alert.get("severity") or None,
            group=alert.get("group") or None,
            code=alert.get("code") or None,
            description=descriptions[position] if position < len(descriptions) else None,
            training_level=alert.get("training") or None,
        ))
    if any(alert.severity == "critical" for alert in status.state.alerts):
        status.state.abnormal = True


# --------------------------------------------------------------------------------------------
# Supplies


@dataclass
class _Markers:
    """The parallel marker-* lists and the printer-supply items, read once."""

    names: list[str | None]
    types: list[str | None]
    colors: list[str | None]
    levels: list[int | None]
    lows: list[int | None]
    supplies: list[dict[str, str]] = field(default_factory=list)
    supply_descriptions: list[str | None] = field(default_factory=list)

    @classmethod
    def read(cls, a: _Attributes) -> _Markers:
        markers = cls(
            names=a.texts("marker-names"),
            types=a.texts("marker-types"),
            colors=a.texts("marker-colors"),
            # Anything below -3 or above 100 is out of range; > 100 is clamped, not dropped.
            levels=a.ints("marker-levels", -3, _INT32_MAX),
            lows=a.ints("marker-low-levels", 0, 100),
            supplies=a.octets("printer-supply"),
            supply_descriptions=a.texts("printer-supply-description"),
        )
        lengths = {len(v) for v in (markers.names, markers.types, markers.colors,
                                    markers.levels, markers.lows) if v}
        if len(lengths) > 1:
            a.problem("marker-names", f"marker-* lists differ in length {sorted(lengths)}: "
                      "matched by position")
        return markers

    def count(self) -> int:
        marker_count = max(map(len, (self.names, self.types, self.colors, self.levels)))
        return marker_count or len(self.supplies)

    def supply_for(self, position: int) -> dict[str, str]:
        """The printer-supply item of a marker: by position when the lists match, else by the
        item's own 1-based `index`."""
        if len(self.supplies) == self.count():
            return self.supplies[position]
        wanted = str(position + 1)
        return next((s for s in self.supplies if s.get("index") == wanted), {})


def _at(values: Sequence[Any], position: int) -> Any:
    return values[position] if position < len(values) else None


def _supplies(a: _Attributes) -> list[Supply]:
    markers = _Markers.read(a)
    supplies = [_supply(a, markers, position) for position in range(markers.count())]
    drop_mono_colours(supplies)
    return supplies


def _supply(a: _Attributes, markers: _Markers, position: int) -> Supply:
    item = markers.supply_for(position)
    description = _at(markers.names, position) or _at(markers.supply_descriptions, position)
    kind = _kind(_at(markers.types, position)) or _kind(item.get("type"))
    supply = Supply(
        index=f"ipp.{position + 1}",
        description=description,
        kind=kind,
        color=(_marker_colour(_at(markers.colors, position))
               or colors.normalise_name(item.get("colorantname"))
               or colour_from_description(description)),
        low_percent=_at(markers.lows, position),
        unit=item.get("unit") or None,
        supply_class=_SUPPLY_CLASSES.get(item.get("class", "").lower()),
        source="ipp",
    )
    if supply.supply_class is None:
        supply.supply_class = supply_class_by_kind(kind, description)
    _supply_level(a, supply, item)
    marker_level = _at(markers.levels, position)
    if marker_level is not None:
        _marker_level(a, supply, marker_level)
    apply_part(supply)
    return supply


_marker_colour = functools.lru_cache(maxsize=256)(colors.from_ipp_marker_color)
"""`marker-colors` values are a handful of `#RRGGBB` strings across a fleet."""


@functools.lru_cache(maxsize=256)
def _kind(value: str | None) -> str | None:
    """A marker type or supply type as the Printer-MIB spells it; unknown spellings → `other`."""
    if not value:
        return None
    key = re.sub(r"[^a-z0-9]", "", value.lower())
    if key in ("other", "unknown", ""):
        return None
    return _KINDS.get(key, "other")


def _marker_level(a: _Attributes, supply: Supply, level: int) -> None:
    """marker-levels: a percent, or -1 unavailable, -2 unknown, -3 some remaining."""
    supply.level_percent = None
    if supply.raw_level is None:
        supply.raw_level = level
    if level in _MARKER_LEVEL_STATES:
        supply.level_state = _MARKER_LEVEL_STATES[level]
        return
    supply.level_state = "known"
    supply.over_capacity = level > 100
    if supply.over_capacity:
        a.problem("marker-levels", f"{supply.index}: level {level} above 100 %: clamped")
    supply.level_percent = min(level, 100)


def _supply_level(a: _Attributes, supply: Supply, item: dict[str, str]) -> None:
    """printer-supply `level` and `maxcapacity`: Printer-MIB semantics (a capacity ≤ 0 means no
    percent can be computed).  marker-levels, where present, decides the percent afterwards."""
    level = _supply_int(a, supply, item, "level")
    capacity = _supply_int(a, supply, item, "maxcapacity")
    supply.raw_level, supply.max_capacity = level, capacity
    if level is None:
        return
    if level in _SUPPLY_LEVEL_STATES:
        supply.level_state = _SUPPLY_LEVEL_STATES[level]
    elif level >= 0 and capacity is not None and capacity > 0:
        supply.level_state = "known"
        supply.over_capacity = level > capacity
        supply.level_percent = (min(level, capacity) * 100 + capacity // 2) // capacity


def _supply_int(a: _Attributes, supply: Supply, item: dict[str, str], key: str) -> int | None:
    text = item.get(key)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        a.problem("printer-supply", f"{supply.index}: {key}={text!r:.40} is not a number")
        return None
    if not -3 <= value <= _INT32_MAX:
        a.problem("printer-supply", f"{supply.index}: {key}={value} out of range")
        return None
    return value


def _fill_supply_colours(status: DeviceStatus, a: _Attributes) -> None:
    """SNMP found the supplies: give a colour to those without one, from the IPP marker with the
    same name, or else from the marker at the same position when the lists are as long."""
    names, marker_colors = _marker_names_and_colours(tuple(a.texts("marker-names")),
                                                     tuple(a.texts("marker-colors")))
    same_length = len(names) == len(status.supplies) == len(marker_colors)
    for position, supply in enumerate(status.supplies):
        if supply.color is not None:
            continue
        description = (supply.description or "").lower()
        match = names.index(description) if description and description in names else None
        if match is None and same_length:
            match = position
        color = _at(marker_colors, match) if match is not None else None
        if color is not None:
            supply.color = color
            status.sources[f"supplies.{supply.index}.color"] = "ipp:marker-colors"


@functools.lru_cache(maxsize=256)
def _marker_names_and_colours(names: tuple[str | None, ...], colours: tuple[str | None, ...],
                              ) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    """The markers' names in lower case and their colours: the same at every reading."""
    return tuple((name or "").lower() for name in names), tuple(map(_marker_colour, colours))


# --------------------------------------------------------------------------------------------
# Counters


def _counters(status: DeviceStatus, a: _Attributes) -> None:
    """PWG 5100.22 `printer-impressions-completed` (total) and its `-col` (monochrome, full-colour,
    highlight-colour impressions), where SNMP left the field empty.

    Not read, as no `Counters` field is what they count: `printer-media-sheets-completed(-col)`
    counts sheets (a duplex sheet once), the fields count impressions; `printer-pages-completed
    (-col)` counts pages, several to an impression with n-up; the `-two-sided` members of the
    `-col` forms count impressions on two-sided sheets, and halving them is `duplex` (sheets)
    only where a blank back is counted as an impression, which PWG leaves to the device."""
    counters = status.counters
    status.set(counters, "total", a.pages("printer-impressions-completed"),
               "ipp:printer-impressions-completed")
    by_color = a.one("printer-impressions-completed-col")
    if by_color is None:
        return
    if not isinstance(by_color, dict):
        a.problem("printer-impressions-completed-col", f"expected a collection, got "
                  f"{_show(by_color)}")
        return
    member = _Attributes(by_color, status, "printer-impressions-completed-col.")
    for name, keyword, source in _COUNTERS_BY_COLOUR:
        status.set(counters, name, member.pages(keyword), source)


_COUNTERS_BY_COLOUR = tuple(
    (name, keyword, f"ipp:printer-impressions-completed-col.{keyword}")
    for name, keyword in (("color", "full-color"), ("mono", "monochrome"),
                          ("two_color", "highlight-color")))
"""(`Counters` field, `printer-impressions-completed-col` member, source)."""
