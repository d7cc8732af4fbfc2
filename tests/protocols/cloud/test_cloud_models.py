"""The typed requests and answers of the cloud API (`protocols/cloud/models.py`,
`protocols/cloud/registration.py`): each reads the document's examples and writes them back as
they were, and what the gateway sends is valid against the document."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.cloud import load_schema
from protocols.cloud.models import (
    ChangePage,
    CommandAcknowledgement,
    CommandIssued,
    CommandStatus,
    EventDetail,
    PrinterChanged,
    PushHello,
    Reason,
    StatusBatchResult,
    StatusEntry,
    push_message_from_json,
    statuses_json,
)
from protocols.cloud.registration import (
    Activation,
    ActivationResults,
    ApplicationInformation,
    DeviceControlInformation,
    PrinterRegistration,
    TransmissionDataTypesReport,
    UnavailableDataType,
)
from protocols.cloud.validation import mismatch, response_validator, schema_validator

DOC = load_schema()
PRINTER = "9b2e4c71-0f3d-4a8e-b6c5-1d7a2e9f4b30"
ENTRY: dict[str, Any] = {
    "entry_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "printer_id": PRINTER,
    "read_at": "2025-07-01T10:15:02.125+00:00", "event": "threshold-crossed",
    "event_detail": {"supply_index": "1.1", "threshold_percent": 10},
    "application_ids": ["abc123"],
    "data": {"counters.total": {"total": 152334}}}


def examples(path: str, method: str, status: str) -> list[dict[str, Any]]:
    content = DOC["paths"][path][method]["responses"][status]["content"]["application/json"]
    return [example["value"] for example in content["examples"].values()]


def test_a_status_entry_is_todays_wire_dict_both_ways() -> None:
    entry = StatusEntry.from_json(ENTRY)
    assert entry.event_detail == EventDetail(supply_index="1.1", threshold_percent=10)
    assert entry.application_ids == ("abc123",)
    assert entry.to_json() == ENTRY
    assert mismatch(schema_validator("StatusEntry"), entry.to_json()) is None
    periodic = {k: v for k, v in ENTRY.items() if k not in ("event_detail", "application_ids")}
    assert StatusEntry.from_json(periodic).to_json() == periodic, "absent optionals stay absent"
    assert statuses_json([entry]) == {"statuses": [ENTRY]}


def test_the_upload_answer_is_read_per_entry() -> None:
    for answer in examples("/v1/statuses", "post", "200"):
        result = StatusBatchResult.from_json(answer)
        assert result.counts.accepted + result.counts.duplicate + result.counts.rejected == \
            len(result.results)
        assert StatusBatchResult.from_json(result.to_json()) == result
        rejected = [r for r in result.results if r.status == "rejected"]
        assert all(isinstance(r.reason, Reason) for r in rejected)


@pytest.mark.parametrize(("model", "path", "method", "operation"), [
    (ApplicationInformation, "/v1/printers/{printer_id}/applications", "get",
     "getApplicationInformation"),
    (ActivationResults, "/v1/printers/{printer_id}/activations", "post", "notifyActivation"),
    (DeviceControlInformation, "/v1/printers/{printer_id}/control-information", "get",
     "getDeviceControlInformation"),
    (ChangePage, "/v1/changes", "get", "pollChanges"),
])
def test_answers_read_the_documents_examples_and_write_them_back(
        model: Any, path: str, method: str, operation: str) -> None:
    """Written back valid and read again the same (an optional field the example leaves out is
    written as null)."""
    found = examples(path, method, "200")
    assert found
    validator = response_validator(operation, 200)
    assert validator is not None
    for example in found:
        parsed = model.from_json(example)
        assert mismatch(validator, parsed.to_json()) is None
        assert model.from_json(parsed.to_json()) == parsed


def test_push_messages_by_type() -> None:
    for example in DOC["components"]["schemas"]["PushHello"]["examples"]:
        assert isinstance(push_message_from_json(example), PushHello)
    changed, = DOC["components"]["schemas"]["ControlInfoChanged"]["examples"]
    message = push_message_from_json(changed)
    assert isinstance(message, PrinterChanged) and message.to_json() == changed
    issued, = DOC["components"]["schemas"]["CommandIssued"]["examples"]
    command = push_message_from_json(issued)
    assert isinstance(command, CommandIssued) and command.to_json() == issued


def test_requests_are_valid_against_the_document() -> None:
    registration = PrinterRegistration(serial="CNB7K12345", product_name="M479fdw",
                                       manufacturer="HP", shipping_destination="JP",
                                       time_zone="Asia/Tokyo", device_type="mfp")
    report = TransmissionDataTypesReport(("supplies.level",), based_on_revision=3,
                                         unavailable=(UnavailableDataType("alerts", "No."),))
    ack = CommandAcknowledgement(printer_id=PRINTER, stage="completed", result="refused",
                                 at="2025-07-01T12:00:05Z",
                                 reason=Reason("invalid-mode", "not in contract mode"),
                                 contract_state={"supported": True, "mode": "non-contract",
                                                 "printing_prohibited": False,
                                                 "panel_message": None})
    for name, body in [("PrinterRegistration", registration.to_json()),
                       ("TransmissionDataTypesReport", report.to_json()),
                       ("CommandAcknowledgement", ack.to_json()),
                       ("ActivationNotice", {"activations": [
                           Activation("toner-delivery", "abc123").to_json(),
                           Activation("toner-delivery", "abc123", "deactivate").to_json()]})]:
        assert mismatch(schema_validator(name), body) is None, name
    assert CommandAcknowledgement.from_json(ack.to_json()) == ack
    received = CommandAcknowledgement(printer_id=PRINTER, stage="received", at="2025-07-01Z")
    assert set(received.to_json()) == {"printer_id", "stage", "at"}


def test_a_command_status_is_its_command_and_its_state() -> None:
    issued, = DOC["components"]["schemas"]["CommandIssued"]["examples"]
    body = {**issued["command"], "state": "refused", "received_at": "2025-07-01T12:00:02Z",
            "completed_at": "2025-07-01T12:00:05Z",
            "reason": {"code": "invalid-mode", "detail": "not in contract mode"},
            "contract_state": None}
    assert mismatch(schema_validator("CommandStatus"), body) is None
    status = CommandStatus.from_json(body)
    assert status.command.command_id == issued["command"]["command_id"]
    assert status.reason == Reason("invalid-mode", "not in contract mode")
    assert status.to_json() == body
