"""Map an SNMP reading (Printer-MIB, HOST-RESOURCES-MIB, system group, vendor objects) onto the
normalised `DeviceStatus`.

Every value is read defensively: a device that answers with a wrong type, a huge or negative
number or garbage bytes costs that one field (reported in `status.problems`), never the reading.
Integers are range-checked against their MIB type (Integer32 unless said otherwise: a supply
level beyond it is a problem, not a state), counters for plausibility, and identity values as
`gateway.device.fields` describes (lengths, control characters, a serial that is not text).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Callable
from typing import TypeVar

from gateway.device.fields import (
    IdentityField,
    clean_serial,
    identity_text,
    page_count,
    supply_class_by_kind,
)
from gateway.device.function_evidence import show_identity_functions, show_snmp_functions
from gateway.device.model import Alert, CartridgeType, DeviceStatus, Supply
from gateway.device.strings import decode_text, format_mac
from protocols import colors
from protocols.device_id import (
    device_id_manufacturer,
    device_id_model,
    device_id_serial,
    parse_device_id,
)
from protocols.snmp import contract_mib as cm
from protocols.snmp import oids
from protocols.snmp import textual_conventions as tc
from protocols.snmp.contract import decode_contract_state
from protocols.snmp.model import SnmpValue
from protocols.snmp.printer import PrinterReading

T = TypeVar("T")

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
COUNTER64_MAX = 2**64 - 1

_SERIAL_IN_TEXT = re.compile(
    r"(?:^|[,;\s])(?:SN|S/N|SERIAL(?:\s*NUMBER)?)\s*[:=#]\s*([A-Za-z0-9-]{4,})", re.IGNORECASE)
_NIC_WORDS = re.compile(r"ethernet|print ?server|jetdirect|built-in|\bNC-|network", re.IGNORECASE)
_XEROX_PART = re.compile(r"^(?P<desc>.*?),\s*PN\s+(?P<pn>[^;]+?)\s*(?:;\s*SN.*)?$")
_HP_PART = re.compile(r"\bHP\s+([A-Z0-9]*\d[A-Z0-9]*)$")
_TRAILING_PART = re.compile(r"\s(?=[A-Z0-9-]*\d)([A-Z]{1,4}\d*-[A-Z0-9]+)$")
"""A model code ending the description: `Black Toner Cartridge TN-210`, `… CX54-B`."""

# hrPrinterDetectedErrorState bit → IPP printer-state-reasons keyword with its severity suffix
_ERROR_REASONS = {
    "lowPaper": "media-low-warning",
    "noPaper": "media-empty-error",
    "lowToner": "toner-low-warning",
    "noToner": "toner-empty-error",
    "doorOpen": "door-open-error",
    "jammed": "media-jam-error",
    "offline": "offline-report",
    "serviceRequested": "other-warning",
    "inputTrayMissing": "input-tray-missing-error",
    "outputTrayMissing": "output-tray-missing-error",
    "markerSupplyMissing": "marker-supply-missing-error",
    "outputNearFull": "output-area-almost-full-warning",
    "outputFull": "output-area-full-error",
    "inputTrayEmpty": "media-empty-warning",
    "overduePreventMaint": "other-warning",
}


class _Reader:
    """Typed access to a reading's values that reports, instead of raising, what does not fit."""

    def __init__(self, reading: PrinterReading, status: DeviceStatus) -> None:
        self.reading = reading
        self.status = status
        self._oids = sorted(reading.values)
        """The reading's OIDs as text in sorted order: a column's OIDs are one run of them."""

    def _typed(self, where: str, value: SnmpValue, kind: type[T],
               check: Callable[[T], bool] | None = None) -> T | None:
        if value is None:
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.status.problem("snmp", where, f"expected {kind.__name__}, got "
                                f"{type(value).__name__} {value!r:.60}")
            return None
        if check is not None and not check(value):
            self.status.problem("snmp", where, f"value out of range: {value!r:.60}")
            return None
        return value

    def int(self, where: str, value: SnmpValue, minimum: int = INT32_MIN,
            maximum: int = INT32_MAX) -> int | None:
        """An INTEGER within [minimum, maximum] (Integer32 by default), else None (reported)."""
        return self._typed(where, value, int, lambda v: minimum <= v <= maximum)

    def pages(self, where: str, value: SnmpValue) -> int | None:
        """A page counter (Counter32 or Counter64) a device could have printed."""
        return page_count(self.status, "snmp", where, self.int(where, value, 0, COUNTER64_MAX))

    def identity(self, name: IdentityField, where: str, value: SnmpValue) -> str | None:
        """An identity value checked as `fields.identity_text` says."""
        return identity_text(self.status, "snmp", where, name, value)

    def scalar_identity(self, name: IdentityField, oid: str) -> str | None:
        return self.identity(name, oid, self.reading.scalar(oid))

    def text(self, where: str, value: SnmpValue) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str):
            return decode_text(value)
        raw = self._typed(where, value, bytes)
        return decode_text(raw) if raw is not None else None

    def column(self, column_oid: str) -> dict[str, SnmpValue]:
        """`PrinterReading.column`, found by bisection: the mapping asks for some 30 columns."""
        prefix = column_oid + "."
        values = self.reading.values
        rows: dict[str, SnmpValue] = {}
        for oid in itertools.islice(self._oids, bisect.bisect_left(self._oids, prefix), None):
            if not oid.startswith(prefix):
                break
            rows[oid[len(prefix):]] = values[oid]
        return rows


def apply_snmp(status: DeviceStatus, reading: PrinterReading) -> None:
    """Fill `status` from `reading` (SNMP is applied first: its values win over IPP's)."""
    status.reachable["snmp"] = True
    for problem in reading.problems:
        status.problem("snmp", "read", problem)
    r = _Reader(reading, status)
    _identity(status, r)
    _supplies(status, r)
    _counters(status, r)
    _contract(status, r)
    _state(status, r)
    show_snmp_functions(status, r.column(oids.hrDeviceType), {
        index: r.text(f"hrDeviceDescr.{index}", value)
        for index, value in r.column(oids.hrDeviceDescr).items()})
    show_identity_functions(status)


def _first_row(column: dict[str, SnmpValue]) -> SnmpValue:
    if not column:
        return None
    return column[min(column, key=_index_key)]


def _index_key(index: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in index.split("."))
    except ValueError:
        return (2**31,)


def _printer_device_index(r: _Reader) -> str | None:
    """The hrDeviceIndex of the printer in hrDeviceTable (an MFP lists scanners, disks, NICs…)."""
    types = r.column(oids.hrDeviceType)
    for index in sorted(types, key=_index_key):
        if types[index] == oids.hrDevicePrinter:
            return index
    descriptions = r.column(oids.hrDeviceDescr)
    return min(descriptions, key=_index_key) if descriptions else None


def _identity(status: DeviceStatus, r: _Reader) -> None:
    ident = status.identity
    vendor = r.reading.vendor
    sys_descr = r.scalar_identity("sys_descr", f"{oids.sysDescr}.0")
    status.set(ident, "sys_descr", sys_descr, "snmp:sysDescr")
    sys_object_id = r.reading.scalar(f"{oids.sysObjectID}.0")
    if isinstance(sys_object_id, str):
        status.set(ident, "sys_object_id", sys_object_id, "snmp:sysObjectID")
    status.set(ident, "hostname", r.scalar_identity("hostname", f"{oids.sysName}.0"),
               "snmp:sysName")
    status.set(ident, "location", r.scalar_identity("location", f"{oids.sysLocation}.0"),
               "snmp:sysLocation")

    device_id_text = None
    for oid in vendor.device_id:
        device_id_text = r.scalar_identity("device_id", oid)
        if device_id_text:
            status.set(ident, "device_id", device_id_text, f"snmp:{oid}")
            break
    device_id = parse_device_id(device_id_text or "")

    serials = r.column(oids.prtGeneralSerialNumber)
    for index in sorted(serials, key=_index_key):
        serial = clean_serial(r.identity("serial", f"prtGeneralSerialNumber.{index}",
                                         serials[index]))
        if status.set(ident, "serial", serial, "snmp:prtGeneralSerialNumber"):
            break
    for oid in vendor.serial:
        status.set(ident, "serial", clean_serial(r.scalar_identity("serial", oid)),
                   f"snmp:{oid}")
    if sys_descr and (match := _SERIAL_IN_TEXT.search(sys_descr)):
        status.set(ident, "serial", clean_serial(match.group(1)), "snmp:sysDescr")
    status.set(ident, "serial", clean_serial(
        r.identity("serial", "device-id SN", device_id_serial(device_id))), "snmp:device-id")

    status.set(ident, "model", r.identity("model", "device-id MDL", device_id_model(device_id)),
               "snmp:device-id")
    printer_index = _printer_device_index(r)
    if printer_index is not None:
        descr = r.identity("model", f"hrDeviceDescr.{printer_index}",
                           r.column(oids.hrDeviceDescr).get(printer_index))
        status.set(ident, "model", descr, "snmp:hrDeviceDescr")
    for oid in vendor.model:
        status.set(ident, "model", r.scalar_identity("model", oid), f"snmp:{oid}")
    status.set(ident, "model", r.identity("model", "sysDescr", _model_from_sys_descr(sys_descr)),
               "snmp:sysDescr")

    status.set(ident, "manufacturer", r.identity(
        "manufacturer", "device-id MFG", device_id_manufacturer(device_id)), "snmp:device-id")
    status.set(ident, "manufacturer", vendor.name or None, "snmp:sysObjectID")
    for oid in vendor.firmware:
        status.set(ident, "firmware", r.scalar_identity("firmware", oid), f"snmp:{oid}")

    macs = r.column(oids.ifPhysAddress)
    for index in sorted(macs, key=_index_key):
        if status.set(ident, "mac", format_mac(macs[index]), "snmp:ifPhysAddress"):
            break


def _model_from_sys_descr(sys_descr: str | None) -> str | None:
    """Last resort: `"FUJIFILM Apeos C7580"`, `"Xerox AltaLink C8045; SS 100…"` → the first part,
    unless it names the network interface rather than the printer."""
    if not sys_descr:
        return None
    first = re.split(r"[;,]", sys_descr, maxsplit=1)[0].strip()
    if not first or _NIC_WORDS.search(first):
        return None
    return first


def _first_nonempty(r: _Reader, column: dict[str, SnmpValue]) -> str | None:
    for index in sorted(column, key=_index_key):
        text = r.text(f"row {index}", column[index])
        if text:
            return text
    return None


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


_colour_from_description = functools.lru_cache(maxsize=1024)(colors.from_description)
"""Some 150 patterns tried per description; a fleet has few distinct descriptions."""


def _supplies(status: DeviceStatus, r: _Reader) -> None:
    levels = r.column(oids.prtMarkerSuppliesLevel)
    descriptions = r.column(oids.prtMarkerSuppliesDescription)
    types = r.column(oids.prtMarkerSuppliesType)
    classes = r.column(oids.prtMarkerSuppliesClass)
    units = r.column(oids.prtMarkerSuppliesSupplyUnit)
    capacities = r.column(oids.prtMarkerSuppliesMaxCapacity)
    colorant_indexes = r.column(oids.prtMarkerSuppliesColorantIndex)
    colorant_values = r.column(oids.prtMarkerColorantValue)

    rows = set(levels) | set(descriptions) | set(types)
    for index in sorted(rows, key=_index_key):
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
            supply.color = _colour_from_description(description)
        status.supplies.append(supply)


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


def _colorant(r: _Reader, supply_index: str, colorant_indexes: dict[str, SnmpValue],
              colorant_values: dict[str, SnmpValue]) -> str | None:
    colorant = colorant_indexes.get(supply_index)
    if not isinstance(colorant, int) or colorant <= 0:
        return None
    device = supply_index.split(".", 1)[0]
    value = r.text(f"colorant {device}.{colorant}", colorant_values.get(f"{device}.{colorant}"))
    return colors.normalise_name(value)


def _counters(status: DeviceStatus, r: _Reader) -> None:
    life_counts = r.column(oids.prtMarkerLifeCount)
    if life_counts:
        first = min(life_counts, key=_index_key)
        status.set(status.counters, "total",
                   r.pages(f"prtMarkerLifeCount.{first}", life_counts[first]),
                   "snmp:prtMarkerLifeCount")
    for kind, oid in r.reading.vendor.counters.items():
        status.set(status.counters, kind, r.pages(oid, r.reading.scalar(oid)), f"snmp:{oid}")


def _contract(status: DeviceStatus, r: _Reader) -> None:
    """The project's contract MIB: contract state, its counters, and the cartridge in each supply.

    The contract state is decoded as the command relay reads it (`decode_contract_state`); the
    panel message is then cleaned for display like any text.  Counters the vendor objects already
    gave are not replaced.  Per-supply rows are matched to the Printer-MIB supplies by their
    shared index (hrDeviceIndex.prtMarkerSuppliesIndex).
    """
    state = decode_contract_state(
        r.reading.values, lambda where, problem: status.problem("snmp", where, problem))
    if not state.supported:
        return
    contract = status.contract
    contract.supported = True
    status.set(contract, "mode", state.mode, "snmp:pgwContractMode")
    status.set(contract, "printing_prohibited", state.printing_prohibited,
               "snmp:pgwContractPrintingProhibited")
    message = _bounded(status, "pgwPanelMessage", decode_text(state.panel_message), 255)
    status.set(contract, "panel_message", message, "snmp:pgwPanelMessage")
    for name, counter in (("contract", "pgwContractPageCount"),
                          ("cartridge_replacements", "pgwCartridgeReplacementCount"),
                          ("color", "pgwColorPageCount"), ("mono", "pgwMonochromePageCount")):
        value = r.pages(counter, r.reading.scalar(f"{getattr(cm, counter)}.0"))
        status.set(status.counters, name, value, f"snmp:{counter}")

    types = r.column(cm.pgwSupplyCartridgeType)
    ids = r.column(cm.pgwSupplyCartridgeId)
    new_flags = r.column(cm.pgwSupplyNewFlag)
    supplies = {supply.index: supply for supply in status.supplies if supply.source == "snmp"}
    for index in sorted(set(types) | set(ids) | set(new_flags), key=_index_key):
        supply = supplies.get(index)
        where = f"contract supply {index}"
        if supply is None:
            status.problem("snmp", where, "no such row in prtMarkerSuppliesTable")
            continue
        cartridge_type = r.int(f"{where} cartridge type", types.get(index), 1, 2)
        supply.cartridge_type = _CARTRIDGE_TYPES.get(cartridge_type or 0)
        supply.cartridge_id = _bounded(
            status, f"{where} cartridge ID", r.text(f"{where} cartridge ID", ids.get(index)), 64)
        new_flag = r.int(f"{where} new flag", new_flags.get(index), 1, 2)
        if new_flag is not None:
            supply.cartridge_new = cm.TRUTH_VALUES[new_flag]


_CARTRIDGE_TYPES: dict[int, CartridgeType] = {1: "contract", 2: "commercial"}
"""pgwSupplyCartridgeType (`contract_mib.CARTRIDGE_TYPE_VALUES`), typed for `Supply`."""


def _bounded(status: DeviceStatus, where: str, text: str | None, limit: int) -> str | None:
    """A DisplayString within its MIB size, else nothing (reported): empty means none."""
    if text is not None and len(text) > limit:
        status.problem("snmp", where, f"longer than the MIB's {limit} characters: {text!r:.80}")
        return None
    return text or None


def _state(status: DeviceStatus, r: _Reader) -> None:
    state = status.state
    device_index = _printer_device_index(r)
    printer_status = _value_for(r, oids.hrPrinterStatus, device_index)
    device_status = _value_for(r, oids.hrDeviceStatus, device_index)
    printer_name = (tc.hrPrinterStatus.get(printer_status)
                    if isinstance(printer_status, int) else None)
    device_name = tc.hrDeviceStatus.get(device_status) if isinstance(device_status, int) else None

    if device_name == "down":
        state.printer_state = "stopped"
    elif printer_name == "idle":
        state.printer_state = "idle"
    elif printer_name == "printing":
        state.printer_state = "processing"
    elif printer_name == "warmup":
        state.printer_state = "warmup"
    elif printer_name is None and device_name in ("running", "warning"):
        state.printer_state = "idle"  # no hrPrinterStatus: a running device is ready
    if printer_name or device_name:
        status.sources["state.printer_state"] = "snmp:hrPrinterStatus"

    bits = _value_for(r, oids.hrPrinterDetectedErrorState, device_index)
    if isinstance(bits, bytes):
        for position, name in enumerate(tc.hrPrinterDetectedErrorState):
            octet, bit = divmod(position, 8)
            if octet < len(bits) and bits[octet] & (0x80 >> bit):
                reason = _ERROR_REASONS[name]
                if reason not in state.reasons:
                    state.reasons.append(reason)
    elif bits is not None:
        status.problem("snmp", "hrPrinterDetectedErrorState", f"expected bytes, got {bits!r:.60}")

    message = _first_nonempty(r, r.column(oids.prtConsoleDisplayBufferText))
    state.message = state.message or message
    _alerts(status, r)
    state.abnormal = (
        state.printer_state == "stopped"
        or any(reason.endswith("-error") for reason in state.reasons)
        or any(alert.severity == "critical" for alert in state.alerts)
    )


def _value_for(r: _Reader, column_oid: str, device_index: str | None) -> SnmpValue:
    column = r.column(column_oid)
    if device_index is not None and device_index in column:
        return column[device_index]
    return _first_row(column)


def _alerts(status: DeviceStatus, r: _Reader) -> None:
    severities = r.column(oids.prtAlertSeverityLevel)
    descriptions = r.column(oids.prtAlertDescription)
    groups = r.column(oids.prtAlertGroup)
    codes = r.column(oids.prtAlertCode)
    trainings = r.column(oids.prtAlertTrainingLevel)
    for index in sorted(set(severities) | set(descriptions), key=_index_key):
        where = f"alert {index}"
        severity = r.int(f"{where} severity", severities.get(index), 0)
        group = r.int(f"{where} group", groups.get(index), 0)
        code = r.int(f"{where} code", codes.get(index), 0)
        training = r.int(f"{where} training level", trainings.get(index), 0)
        status.state.alerts.append(Alert(
            index=index,
            severity=tc.PrtAlertSeverityLevelTC.get(severity or 0),
            group=tc.PrtAlertGroupTC.get(group or 0),
            code=tc.PrtAlertCodeTC.get(code or 0, str(code) if code is not None else None),
            description=r.text(f"{where} description", descriptions.get(index)),
            training_level=tc.PrtAlertTrainingLevelTC.get(training or 0),
        ))
