"""Map an SNMP reading (Printer-MIB, HOST-RESOURCES-MIB, system group, vendor objects) onto the
normalised `DeviceStatus`.

Every value is read defensively: a device that answers with a wrong type, a huge or negative
number or garbage bytes costs that one field (reported in `status.problems`), never the reading.
Integers are range-checked against their MIB type (Integer32 unless said otherwise: a supply
level beyond it is a problem, not a state), counters for plausibility, and identity values as
`gateway.device.fields` describes (lengths, control characters, a serial that is not text).
"""

from __future__ import annotations

import functools

from gateway.device.function_evidence import show_identity_functions, show_snmp_functions
from gateway.device.model import Alert, CartridgeType, DeviceStatus
from gateway.device.snmp_counters import apply_counters
from gateway.device.snmp_identity import apply_identity
from gateway.device.snmp_supplies import apply_supplies
from gateway.device.snmp_values import SnmpFields, first_row, index_key
from gateway.device.strings import decode_text
from protocols.snmp import contract_mib as cm
from protocols.snmp import oids
from protocols.snmp import textual_conventions as tc
from protocols.snmp.contract import decode_contract_state
from protocols.snmp.model import SnmpValue
from protocols.snmp.printer import PrinterReading

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


def apply_snmp(status: DeviceStatus, reading: PrinterReading) -> None:
    """Fill `status` from `reading` (SNMP is applied first: its values win over IPP's)."""
    status.reachable["snmp"] = True
    for problem in reading.problems:
        status.problem("snmp", "read", problem)
    r = SnmpFields(reading, status)
    apply_identity(status, r)
    apply_supplies(status, r)
    apply_counters(status, r)
    _contract(status, r)
    _state(status, r)
    show_snmp_functions(status, r.column(oids.hrDeviceType), {
        index: r.text(f"hrDeviceDescr.{index}", value)
        for index, value in r.column(oids.hrDeviceDescr).items()})
    show_identity_functions(status)


def _first_nonempty(r: SnmpFields, column: dict[str, SnmpValue]) -> str | None:
    for index in sorted(column, key=index_key):
        text = r.text(f"row {index}", column[index])
        if text:
            return text
    return None


def _contract(status: DeviceStatus, r: SnmpFields) -> None:
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
    for name, counter, oid, source in _CONTRACT_COUNTERS:
        status.set(status.counters, name, r.pages(counter, r.reading.scalar(oid)), source)

    rows = r.rows(_CARTRIDGE_COLUMNS, keyed_by=3)
    supplies = {supply.index: supply for supply in status.supplies if supply.source == "snmp"}
    for index, (cartridge_type_value, cartridge_id, new_flag_value) in rows:
        supply = supplies.get(index)
        where, type_where, id_where, flag_where = _cartridge_places(index)
        if supply is None:
            status.problem("snmp", where, "no such row in prtMarkerSuppliesTable")
            continue
        cartridge_type = r.int(type_where, cartridge_type_value, 1, 2)
        supply.cartridge_type = _CARTRIDGE_TYPES.get(cartridge_type or 0)
        supply.cartridge_id = _bounded(status, id_where, r.text(id_where, cartridge_id), 64)
        new_flag = r.int(flag_where, new_flag_value, 1, 2)
        if new_flag is not None:
            supply.cartridge_new = cm.TRUTH_VALUES[new_flag]


@functools.lru_cache(maxsize=256)
def _cartridge_places(index: str) -> tuple[str, str, str, str]:
    """Where a contract supply row's problems are told: the row, its cartridge type, ID and new
    flag (the same few rows at every reading)."""
    where = f"contract supply {index}"
    return where, f"{where} cartridge type", f"{where} cartridge ID", f"{where} new flag"


_CONTRACT_COUNTERS = tuple(
    (name, counter, f"{getattr(cm, counter)}.0", f"snmp:{counter}")
    for name, counter in (("contract", "pgwContractPageCount"),
                          ("cartridge_replacements", "pgwCartridgeReplacementCount"),
                          ("color", "pgwColorPageCount"), ("mono", "pgwMonochromePageCount")))
"""The contract MIB's counters: (`Counters` field, object, its instance OID, its source)."""
_CARTRIDGE_COLUMNS = (cm.pgwSupplyCartridgeType, cm.pgwSupplyCartridgeId, cm.pgwSupplyNewFlag)


_CARTRIDGE_TYPES: dict[int, CartridgeType] = {1: "contract", 2: "commercial"}
"""pgwSupplyCartridgeType (`contract_mib.CARTRIDGE_TYPE_VALUES`), typed for `Supply`."""


def _bounded(status: DeviceStatus, where: str, text: str | None, limit: int) -> str | None:
    """A DisplayString within its MIB size, else nothing (reported): empty means none."""
    if text is not None and len(text) > limit:
        status.problem("snmp", where, f"longer than the MIB's {limit} characters: {text!r:.80}")
        return None
    return text or None


def _state(status: DeviceStatus, r: SnmpFields) -> None:
    state = status.state
    device_index = r.printer_index
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
        state.reasons.extend(reason for reason in _error_reasons(bits)
                             if reason not in state.reasons)
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


@functools.lru_cache(maxsize=256)
def _error_reasons(bits: bytes) -> tuple[str, ...]:
    """The reasons hrPrinterDetectedErrorState's bits tell, each once, in the bits' order: a
    fleet's printers send a few of the possible values."""
    reasons: list[str] = []
    for position, name in enumerate(tc.hrPrinterDetectedErrorState):
        octet, bit = divmod(position, 8)
        if octet < len(bits) and bits[octet] & (0x80 >> bit):
            reason = _ERROR_REASONS[name]
            if reason not in reasons:
                reasons.append(reason)
    return tuple(reasons)


def _value_for(r: SnmpFields, column_oid: str, device_index: str | None) -> SnmpValue:
    column = r.column(column_oid)
    if device_index is not None and device_index in column:
        return column[device_index]
    return first_row(column)


_ALERT_COLUMNS = (oids.prtAlertSeverityLevel, oids.prtAlertDescription, oids.prtAlertGroup,
                  oids.prtAlertCode, oids.prtAlertTrainingLevel)
"""The alert table's columns read; a row is one that has a severity or a description."""


def _alerts(status: DeviceStatus, r: SnmpFields) -> None:
    for index, (severity_value, description, group_value, code_value,
                training_value) in r.rows(_ALERT_COLUMNS, keyed_by=2):
        where = f"alert {index}"
        severity = r.int(f"{where} severity", severity_value, 0)
        group = r.int(f"{where} group", group_value, 0)
        code = r.int(f"{where} code", code_value, 0)
        training = r.int(f"{where} training level", training_value, 0)
        status.state.alerts.append(Alert(
            index=index,
            severity=tc.PrtAlertSeverityLevelTC.get(severity or 0),
            group=tc.PrtAlertGroupTC.get(group or 0),
            code=tc.PrtAlertCodeTC.get(code or 0, str(code) if code is not None else None),
            description=r.text(f"{where} description", description),
            training_level=tc.PrtAlertTrainingLevelTC.get(training or 0),
        ))
