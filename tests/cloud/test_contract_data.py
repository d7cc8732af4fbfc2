"""The contract's own data in the reference cloud (issue 15): a printer under a contract or in a
contract process is asked for the data types the process needs whatever services exist (its
gateway told `control-info-changed` when that changes), with its contract's threshold; a
completed command's device state is the printer's reported contract state at once; the
registration's `contract_supported` is stored.  The gateway is played over HTTP here; the whole
system runs in `tests/commands/test_contract_data_e2e.py`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from cloud import times
from cloud.contracts import CONTRACT_DATA_TYPES, find_printer
from cloud.server import CloudServer
from protocols.cloud.times import rfc3339
from tests.support.cloud_helpers import Gateway, Operator

pytest_plugins = ("tests.support.cloud_helpers",)

CONTRACT = list(CONTRACT_DATA_TYPES)
REGISTRATION = {"product_name": "InkJet IJ-500", "manufacturer": "Example",
                "shipping_destination": "JP", "time_zone": "Asia/Tokyo", "device_type": "printer"}
MEMBER = "member-0001"


def device_state(mode: str = "non-contract", prohibited: bool = False,
                 panel: str | None = None) -> dict[str, Any]:
    return {"supported": True, "mode": mode, "printing_prohibited": prohibited,
            "panel_message": panel}


def after(state: dict[str, Any], command: dict[str, Any]) -> dict[str, Any]:
    """The device's contract state once `command` is applied."""
    kind, parameters = command["kind"], command["parameters"]
    if kind == "contract-transition":
        return {**state, "mode": parameters["mode"]}
    if kind == "billing-start":
        return {**state, "mode": "contract-billing"}
    if kind == "withdrawal":
        return {**state, "mode": "non-contract"}
    if kind in ("prohibit-contract-printing", "permit-contract-printing"):
        return {**state, "printing_prohibited": kind.startswith("prohibit")}
    return {**state, "panel_message": parameters.get("message")}


async def register(gateway: Gateway, serial: str, **fields: Any) -> str:
    body = await gateway.ok("registerPrinter", json_body={"serial": serial, **REGISTRATION,
                                                          **fields})
    return str(body["printer_id"])


async def changes(gateway: Gateway, cursor: str | None) -> tuple[list[tuple[str, str]], str]:
    page = await gateway.ok("pollChanges", params={"cursor": cursor} if cursor else None)
    return [(c["type"], c.get("printer_id")) for c in page["changes"]], page["next_cursor"]


def cartridge_entry(printer_id: str, contract_cartridge: bool, **extra: Any) -> dict[str, Any]:
    """An upload of the printer's cartridge data (and an unrequested type, `alerts`)."""
    return {"entry_id": str(uuid.uuid4()), "printer_id": printer_id,
            "read_at": rfc3339(times.now()), "event": "periodic", "data": {
                "supplies.cartridge": [{"index": "1.1", "cartridge_type": "contract"
                                        if contract_cartridge else "commercial",
                                        "cartridge_id": "C-1", "cartridge_new": None}],
                "alerts": []}, **extra}


async def acknowledge_all(gateway: Gateway, printer_id: str, state: dict[str, Any]
                          ) -> dict[str, Any]:
    """Acknowledge the printer's pending commands `done`, one at a time as a process issues
    them, until none comes within a second; the device's state after them."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 1.0
    while loop.time() < end:
        pending = (await gateway.ok("listPendingCommands", params={"printer_id": printer_id})
                   )["commands"]
        if not pending:
            await asyncio.sleep(0.05)
            continue
        command = pending[0]
        state = after(state, command)
        await gateway.ok("acknowledgeCommand", path={"command_id": command["command_id"]},
                         json_body={"printer_id": printer_id, "stage": "completed",
                                    "result": "done", "at": rfc3339(times.now()),
                                    "contract_state": state})
        end = loop.time() + 1.0
    return state


async def test_a_contract_asks_for_its_own_data_without_any_service(
        operator: Operator, gateway: Gateway) -> None:
    printer_id = await register(gateway, "SN-OWN-1", contract_supported=True)
    control = await gateway.ok("getDeviceControlInformation", path={"printer_id": printer_id})
    assert (control["requested_data_types"], control["by_contract"],
            control["contract_threshold_percent"]) == ([], None, None)
    _, cursor = await changes(gateway, None)
    revision = control["revision"]

    process = await operator.ok("requestContract", json_body={
        "member_id": MEMBER, "printer_id": printer_id, "model": "inkjet", "series": "IJ-500",
        "page_limit": 300, "threshold_percent": 15})
    seen, cursor = await changes(gateway, cursor)
    assert ("control-info-changed", printer_id) in seen
    control = await gateway.ok("getDeviceControlInformation", path={"printer_id": printer_id})
    assert control["requested_data_types"] == CONTRACT
    assert control["by_service"] == []
    assert control["by_contract"] == {"data_types": CONTRACT, "threshold_percent": 15,
                                      "process_id": process["process_id"]}
    assert control["contract_threshold_percent"] == 15 and control["revision"] > revision

    # The process's data is kept (not ignored); a type nobody asked for is.
    state = await acknowledge_all(gateway, printer_id, device_state())
    result = await gateway.upload([cartridge_entry(printer_id, contract_cartridge=True)])
    assert result["results"][0].get("ignored_data_types") == ["alerts"], result
    state = await acknowledge_all(gateway, printer_id, state)
    done = await operator.ok("getContractProcess",
                             path={"process_id": process["process_id"]})
    assert (done["outcome"], state["mode"]) == ("completed", "contract-billing"), done

    # Contracted: still asked for, no longer on a process's account (not a change for the
    # gateway: the same types and threshold).
    control = await gateway.ok("getDeviceControlInformation", path={"printer_id": printer_id})
    assert control["requested_data_types"] == CONTRACT
    assert control["by_contract"]["process_id"] is None
    view = await operator.ok("getPrinterContract", path={"printer_id": printer_id})
    assert (view["mode"], view["device_contract"]) == ("contract-billing", state)


async def test_a_contract_withdrawn_for_good_stops_asking(operator: Operator,
                                                          gateway: Gateway) -> None:
    """S111 no → S112: the old printer withdrawn, the process ended: its gateway is told, and
    the contract asks for nothing any more; the printer's views say what the device reported
    with the withdrawal's acknowledgement, without an upload."""
    printer_id = await register(gateway, "SN-OWN-2", contract_supported=True)
    first = await operator.ok("requestContract", json_body={
        "member_id": MEMBER, "printer_id": printer_id, "model": "inkjet", "series": "IJ-500",
        "page_limit": 300})
    await gateway.upload([cartridge_entry(printer_id, contract_cartridge=True)])
    state = await acknowledge_all(gateway, printer_id, device_state())
    assert (await operator.ok("getContractProcess", path={"process_id": first["process_id"]})
            )["outcome"] == "completed"
    _, cursor = await changes(gateway, None)

    change = await operator.ok("requestContractChange", json_body={
        "member_id": MEMBER, "old_printer_id": printer_id, "new_model": "inkjet",
        "new_series": "IJ-700"})
    [proposal] = (await operator.ok("listProposals", params={"member_id": MEMBER}))["proposals"]
    await operator.ok("answerProposal", path={"proposal_id": proposal["proposal_id"]},
                      json_body={"member_id": MEMBER, "answer": "no"})
    state = await acknowledge_all(gateway, printer_id, state)
    ended = await operator.ok("getContractProcess", path={"process_id": change["process_id"]})
    assert (ended["outcome"], state["mode"]) == ("cancelled", "non-contract"), ended

    seen, cursor = await changes(gateway, cursor)
    assert ("control-info-changed", printer_id) in seen
    control = await gateway.ok("getDeviceControlInformation", path={"printer_id": printer_id})
    assert (control["requested_data_types"], control["by_contract"],
            control["contract_threshold_percent"]) == ([], None, None)
    printer = await operator.ok("getPrinter", path={"printer_id": printer_id})
    record = await operator.ok("getPrinterContract", path={"printer_id": printer_id})
    assert printer["contract"] == record["device_contract"] == state
    assert (record["flag"], record["mode"]) == ("unconfirmed", "non-contract")


async def test_an_acknowledgement_does_not_override_a_later_reading(
        operator: Operator, gateway: Gateway) -> None:
    printer_id = await register(gateway, "SN-OWN-3", contract_supported=True)
    await operator.put_service("contract-watch", ["contract"])
    application = await operator.contract(printer_id, "contract-watch")
    await gateway.activate(printer_id, "contract-watch", application["application_id"])
    command = await operator.ok("createCommand", path={"printer_id": printer_id},
                                json_body={"kind": "panel-message",
                                           "parameters": {"message": "Hello"}})
    later = device_state(panel="Changed on the device")
    await gateway.upload([{"entry_id": str(uuid.uuid4()), "printer_id": printer_id,
                           "read_at": rfc3339(times.now()), "event": "periodic",
                           "data": {"contract": later}}])
    await gateway.ok("acknowledgeCommand", path={"command_id": command["command_id"]},
                     json_body={"printer_id": printer_id, "stage": "completed",
                                "result": "done", "contract_state": device_state(panel="Hello"),
                                "at": rfc3339(times.now() - timedelta(seconds=5))})
    assert (await operator.ok("getPrinter", path={"printer_id": printer_id}))["contract"] == later


async def test_the_registration_stores_the_contract_function(cloud: CloudServer,
                                                             gateway: Gateway) -> None:
    async def stored(printer_id: str) -> bool | None:
        async with cloud.state.db.read() as session:
            return (await find_printer(session, printer_id)).contract_supported

    unknown = await register(gateway, "SN-OWN-4")
    assert await stored(unknown) is None
    assert await register(gateway, "SN-OWN-4", contract_supported=False) == unknown
    assert await stored(unknown) is False
    assert await register(gateway, "SN-OWN-4", contract_supported=None) == unknown
    assert await stored(unknown) is False, "not told: what was known stays"
    assert await register(gateway, "SN-OWN-4", contract_supported=True) == unknown
    assert await stored(unknown) is True


async def test_only_an_acknowledgement_that_read_the_device_is_its_state(
        operator: Operator, gateway: Gateway) -> None:
    """`device-unreachable` reports `supported: false` with nulls — the state is not known: the
    printer's contract state stays; `contract-unsupported` read the device: it has no MIB."""
    printer_id = await register(gateway, "SN-OWN-5", contract_supported=True)
    unknown = {"supported": False, "mode": None, "printing_prohibited": None,
               "panel_message": None}

    async def refused(code: str) -> Any:
        command = await operator.ok("createCommand", path={"printer_id": printer_id},
                                    json_body={"kind": "panel-message",
                                               "parameters": {"message": "Hello"}})
        await gateway.ok("acknowledgeCommand", path={"command_id": command["command_id"]},
                         json_body={"printer_id": printer_id, "stage": "completed",
                                    "result": "refused", "at": rfc3339(times.now()),
                                    "reason": {"code": code, "detail": "No."},
                                    "contract_state": unknown})
        return (await operator.ok("getPrinter", path={"printer_id": printer_id}))["contract"]

    assert await refused("device-unreachable") is None
    assert await refused("contract-unsupported") == unknown
