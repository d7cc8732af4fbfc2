"""The cloud keeps the gateway's `unavailable` reasons (S0611) and the operator sees them; the
operator's `set-service-enabled` command is checked and its acknowledged setting kept.  Through
real HTTP on the reference cloud; every answer checked against the document by `Api.call`."""

from __future__ import annotations

from typing import Any

from tests.support.cloud_helpers import Gateway, Operator

pytest_plugins = ("tests.support.cloud_helpers",)

MONITORING = ["identity", "supplies.level", "state"]
CONTRACT = ["contract", "counters.contract"]


async def _contracted(operator: Operator, gateway: Gateway) -> dict[str, str]:
    await operator.put_service("contract-print", CONTRACT)
    printer_id = await gateway.register(contract_supported=False)
    app = await operator.contract(printer_id, "contract-print")
    await gateway.activate(printer_id, "contract-print", app["application_id"])
    return {"printer_id": printer_id}


async def test_reasons_are_kept_shown_and_replaced_by_each_report(
        operator: Operator, gateway: Gateway) -> None:
    printer = await _contracted(operator, gateway)
    view = await operator.ok("getPrinter", path=printer)
    assert view["unavailable_data_types"] == []  # nothing reported yet

    reason = "The device has no contract MIB."
    control = await gateway.ok("getDeviceControlInformation", path=printer)
    await gateway.ok("reportTransmissionDataTypes", path=printer, json_body={
        "based_on_revision": control["revision"], "transmission_data_types": [],
        "unavailable": [{"data_type": "contract", "reason": reason},
                        {"data_type": "counters.contract", "reason": reason}]})
    view = await operator.ok("getPrinter", path=printer)
    assert view["unavailable_data_types"] == [
        {"data_type": "contract", "reason": reason},
        {"data_type": "counters.contract", "reason": reason}]
    listed = await operator.ok("listPrinters", params={"gateway_id": gateway.gateway_id})
    assert listed["printers"][0]["unavailable_data_types"] == view["unavailable_data_types"]

    # The next report replaces them (here: everything deliverable again).
    await gateway.ok("reportTransmissionDataTypes", path=printer, json_body={
        "transmission_data_types": CONTRACT})
    assert (await operator.ok("getPrinter", path=printer))["unavailable_data_types"] == []


async def _command(operator: Operator, printer_id: str, parameters: Any) -> Any:
    return await operator.call("createCommand", path={"printer_id": printer_id}, json_body={
        "kind": "set-service-enabled", "parameters": parameters})


async def test_set_service_enabled_is_checked(operator: Operator, gateway: Gateway) -> None:
    printer = await _contracted(operator, gateway)
    printer_id = printer["printer_id"]
    for parameters in ({"service_id": "contract-print"}, {"enabled": False},
                       {"service_id": "contract-print", "enabled": "no"},
                       {"service_id": "", "enabled": False},
                       {"service_id": "contract-print", "enabled": False, "extra": 1}):
        answer = await _command(operator, printer_id, parameters)
        assert answer.status in (400, 422), (parameters, answer.status, answer.body)
    unknown = await _command(operator, printer_id, {"service_id": "nope", "enabled": False})
    assert unknown.status == 422
    assert unknown.body["errors"][0]["pointer"] == "/parameters/service_id"

    for enabled in (False, None, True):
        answer = await _command(operator, printer_id,
                                {"service_id": "contract-print", "enabled": enabled})
        assert answer.status == 201, answer.body
        assert answer.body["parameters"] == {"service_id": "contract-print", "enabled": enabled}
        assert answer.body["service_setting"] is None


async def test_the_acknowledged_setting_is_kept_not_as_contract_state(
        operator: Operator, gateway: Gateway) -> None:
    printer = await _contracted(operator, gateway)
    command = (await _command(operator, printer["printer_id"],
                              {"service_id": "contract-print", "enabled": False})).body
    setting = {"service_id": "contract-print", "enabled": False, "override": False,
               "config_enabled": True}
    acked = await gateway.ok("acknowledgeCommand", path={"command_id": command["command_id"]},
                             json_body={
                                 "printer_id": printer["printer_id"], "stage": "completed",
                                 "at": command["issued_at"], "result": "done",
                                 "contract_state": {"supported": False, "mode": None,
                                                    "printing_prohibited": None,
                                                    "panel_message": None},
                                 "service_setting": setting})
    assert acked["state"] == "done"
    assert acked["service_setting"] == setting
    assert acked["contract_state"] is None  # not the device's contract state
    view = await operator.ok("getPrinter", path=printer)
    assert view["contract"] is None
