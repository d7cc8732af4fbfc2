"""Map an SNMP reading (Printer-MIB, HOST-RESOURCES-MIB, system group, vendor objects) onto the
normalised `DeviceStatus`.

Every value is read defensively: a device that answers with a wrong type, a huge or negative
number or garbage bytes costs that one field (reported in `status.problems`), never the reading.
Integers are range-checked against their MIB type (Integer32 unless said otherwise: a supply
level beyond it is a problem, not a state), counters for plausibility, and identity values as
`gateway.device.fields` describes (lengths, control characters, a serial that is not text).
"""

from __future__ import annotations

from gateway.device.function_evidence import show_identity_functions, show_snmp_functions
from gateway.device.model import Alert, CartridgeType, DeviceStatus
from gateway.device.snmp_counters import apply_counters
from gateway.device.snmp_identity import apply_identity
from gateway.device.snmp_supplies import apply_supplies
from gateway.device.snmp_values import SnmpFields, first_row, index_key, printer_device_index
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
    for name, counter in (("contract", "pgwContractPageCount"),
                          ("cartridge_replacements", "pgwCartridgeReplacementCount"),
                          ("color", "pgwColorPageCount"), ("mono", "pgwMonochromePageCount")):
        value = r.pages(counter, r.reading.scalar(f"{getattr(cm, counter)}.0"))
        status.set(status.counters, name, value, f"snmp:{counter}")

    types = r.column(cm.pgwSupplyCartridgeType)
    ids = r.column(cm.pgwSupplyCartridgeId)
    new_flags = r.column(cm.pgwSupplyNewFlag)
    supplies = {supply.index: supply for supply in status.supplies if supply.source == "snmp"}
    for index in sorted(set(types) | set(ids) | set(new_flags), key=index_key):
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


def _state(status: DeviceStatus, r: SnmpFields) -> None:
    state = status.state
    device_index = printer_device_index(r)
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


def _value_for(r: SnmpFields, column_oid: str, device_index: str | None) -> SnmpValue:
    column = r.column(column_oid)
    if device_index is not None and device_index in column:
        return column[device_index]
    return first_row(column)


def _alerts(status: DeviceStatus, r: SnmpFields) -> None:
    severities = r.column(oids.prtAlertSeverityLevel)
    descriptions = r.column(oids.prtAlertDescription)
    groups = r.column(oids.prtAlertGroup)
    codes = r.column(oids.prtAlertCode)
    trainings = r.column(oids.prtAlertTrainingLevel)
    for index in sorted(set(severities) | set(descriptions), key=index_key):
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
