"""Change of contract machine (Brother JP7545664B2 FIG. 5-7) on the running reference cloud, with a
scripted gateway over real HTTP: it polls the commands, applies them to two simulated printers'
contract state, acknowledges them as the document says, and uploads `supplies.cartridge` /
`supplies.level` / `contract` data.  The order webhook is a real aiohttp server on loopback.

Every path of FIG. 5 and FIG. 6 (plan accepted / declined / old cartridge already low,
re-proposal accepted / declined, cartridge missing in the new printer, S111/S112, patterns A, B
and C), asserting the commands issued in order, the cloud's records and the webhook; and a
restart of the cloud in the middle.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from cloud import times
from cloud.contract_actions import MESSAGES
from cloud.contract_readings import cartridge_reading
from cloud.server import CloudServer
from protocols.cloud.times import rfc3339
from tests.support.cloud_helpers import Gateway, Operator, running_cloud, sqlite_url
from tests.support.contract_device import Device
from tests.support.contract_helpers import OrderService, order_service

pytest_plugins = ("tests.support.cloud_helpers",)

SERVICE = "contract-printing"
DATA_TYPES = ["supplies.level", "supplies.kind", "supplies.model", "supplies.cartridge",
              "contract"]
THRESHOLD = 10
MEMBER = "member-0042"


# -- the scripted gateway --------------------------------------------------------------------------

class ScriptedGateway:
    def __init__(self, gateway: Gateway, names: dict[str, str]) -> None:
        self.gateway = gateway
        self.names = names  # printer ID → "old" / "new"
        self.devices = {printer_id: Device() for printer_id in names}
        self.log: list[tuple[str, str]] = []
        """(printer name, command kind) in the order applied."""

    async def acknowledge(self, result: str = "done", reason: str = "device-unreachable") -> int:
        """Apply and acknowledge every pending command (`done`), or answer `result` (with the
        `reason` code)."""
        pending = (await self.gateway.ok("listPendingCommands"))["commands"]
        for command in pending:
            device = self.devices[command["printer_id"]]
            path = {"command_id": command["command_id"]}
            await self.gateway.ok("acknowledgeCommand", path=path, json_body={
                "printer_id": command["printer_id"], "stage": "received",
                "at": rfc3339(times.now())})
            ack: dict[str, Any] = {"printer_id": command["printer_id"], "stage": "completed",
                                   "result": result, "at": rfc3339(times.now())}
            if result == "done":
                device.apply(command["kind"], command["parameters"])
                self.log.append((self.names[command["printer_id"]], command["kind"]))
            else:
                ack["reason"] = {"code": reason, "detail": "Not done."}
            ack["contract_state"] = device.contract_state()
            await self.gateway.ok("acknowledgeCommand", path=path, json_body=ack)
            self.check_invariant()
        return len(pending)

    def check_invariant(self) -> None:
        printing = [name for pid, name in self.names.items()
                    if self.devices[pid].contract_printing]
        assert len(printing) <= 1, f"contract printing enabled on {printing}"

    async def upload(self, printer_id: str, *, cartridge: bool | None = None,
                     level: int | None = None, event: str = "periodic",
                     event_detail: dict[str, Any] | None = None, levels: bool = True,
                     machine: tuple[str, str] | None = None) -> None:
        """An upload of the printer's cartridge (its level unless not `levels`, its supply kind
        and part number when `machine` (kind, part number) is given)."""
        device = self.devices[printer_id]
        if cartridge is not None:
            device.contract_cartridge = cartridge
        if level is not None:
            device.level = level
        entry = device.status_entry(printer_id, event, cartridge_id="C-1", low_percent=10)
        if event_detail is not None:
            entry["event_detail"] = event_detail
        if not levels:
            del entry["data"]["supplies.level"]
        if machine is not None:
            entry["data"]["supplies.kind"] = [{"index": "1.1", "kind": machine[0],
                                               "class": "consumed", "description": None}]
            entry["data"]["supplies.model"] = [{"index": "1.1", "part_number": machine[1],
                                                "description": None}]
        await self.gateway.upload([entry])


@dataclass
class Fleet:
    cloud: CloudServer
    operator: Operator
    gateway: ScriptedGateway
    orders: OrderService
    old: str
    new: str

    async def process(self, process_id: str) -> dict[str, Any]:
        return await self.operator.ok("getContractProcess", path={"process_id": process_id})

    async def contract(self, printer_id: str) -> dict[str, Any]:
        return await self.operator.ok("getPrinterContract", path={"printer_id": printer_id})

    async def settle(self, process_id: str, until: Callable[[dict[str, Any]], bool],
                     result: str = "done", reason: str = "device-unreachable") -> dict[str, Any]:
        """Acknowledge commands until the process satisfies `until` (at most 10 s)."""
        for _ in range(200):
            process = await self.process(process_id)
            if until(process):
                return process
            if not await self.gateway.acknowledge(result, reason):
                await asyncio.sleep(0.05)
        raise AssertionError(f"the process did not get there: {process}")

    async def at(self, process_id: str, step: str) -> dict[str, Any]:
        return await self.settle(process_id, lambda p: p["step"] == step
                                 and p["awaiting_command"] is None)

    async def proposal(self, kind: str) -> dict[str, Any]:
        proposals = (await self.operator.ok("listProposals",
                                            params={"member_id": MEMBER}))["proposals"]
        assert [p["kind"] for p in proposals] == [kind], proposals
        return proposals[0]

    async def answer(self, kind: str, answer: str) -> None:
        proposal = await self.proposal(kind)
        await self.operator.ok("answerProposal", path={"proposal_id": proposal["proposal_id"]},
                               json_body={"member_id": MEMBER, "answer": answer})

    async def change(self, new_model: str = "inkjet", new_series: str = "IJ-700", *,
                     named: bool = True) -> str:
        body = {"member_id": MEMBER, "old_printer_id": self.old, "new_model": new_model,
                "new_series": new_series}
        if named:
            body["new_printer_id"] = self.new
        process = await self.operator.ok("requestContractChange", json_body=body)
        assert process["kind"] == "change" and process["history"][0]["step"] == "S102"
        return str(process["process_id"])

    def devices(self) -> tuple[Device, Device]:
        return self.gateway.devices[self.old], self.gateway.devices[self.new]


async def start_fleet(cloud: CloudServer, http: aiohttp.ClientSession,
                      orders: OrderService) -> Fleet:
    """Two printers with the contract service; the old one under a contract in force (its
    first contract run through the cloud), with a contract cartridge at 80 %."""
    operator = Operator(http, cloud.url)
    gateway = await Gateway.enrol(http, cloud.url, operator)
    await operator.put_service(SERVICE, DATA_TYPES)
    old, new = await gateway.register(), await gateway.register()
    for printer_id in (old, new):
        application = await operator.contract(printer_id, SERVICE)
        await gateway.activate(printer_id, SERVICE, application["application_id"])
    fleet = Fleet(cloud, operator, ScriptedGateway(gateway, {old: "old", new: "new"}), orders,
                  old, new)
    await fleet.gateway.upload(old, cartridge=True, level=80)
    process = await operator.ok("requestContract", json_body={
        "member_id": MEMBER, "printer_id": old, "model": "inkjet", "series": "IJ-500",
        "page_limit": 300})
    await fleet.settle(process["process_id"], lambda p: p["outcome"] == "completed"
                       and p["order"]["state"] == "delivered")
    fleet.gateway.log.clear()
    orders.received.clear()
    return fleet


@pytest.fixture
async def orders() -> AsyncIterator[OrderService]:
    async with order_service() as service:
        yield service


@pytest.fixture
async def fleet(tmp_path: Path, http: aiohttp.ClientSession,
                orders: OrderService) -> AsyncIterator[Fleet]:
    async with running_cloud(sqlite_url(tmp_path), order_webhook=orders.url,
                             contract_threshold_percent=THRESHOLD, contract_retry_seconds=0,
                             contract_poll_seconds=0.2, contract_notice_lead_seconds=0) as cloud:
        yield await start_fleet(cloud, http, orders)


async def delivered(orders: OrderService, count: int = 1) -> None:
    for _ in range(100):
        if len(orders.received) >= count:
            break
        await asyncio.sleep(0.05)


# -- a first contract ------------------------------------------------------------------------------

async def test_a_first_contract(tmp_path: Path, http: aiohttp.ClientSession,
                                orders: OrderService) -> None:
    async with running_cloud(sqlite_url(tmp_path), order_webhook=orders.url,
                             contract_retry_seconds=0, contract_poll_seconds=0.2) as cloud:
        operator = Operator(http, cloud.url)
        gateway = await Gateway.enrol(http, cloud.url, operator)
        await operator.put_service(SERVICE, ["supplies.level", "supplies.cartridge", "contract"])
        printer = await gateway.register()
        application = await operator.contract(printer, SERVICE)
        await gateway.activate(printer, SERVICE, application["application_id"])
        fleet = Fleet(cloud, operator, ScriptedGateway(gateway, {printer: "printer"}), orders,
                      printer, printer)
        process = await operator.ok("requestContract", json_body={
            "member_id": MEMBER, "printer_id": printer, "model": "laser", "series": "LB-1",
            "page_limit": 500, "period": "month"})
        contract = await fleet.contract(printer)
        assert (contract["flag"], contract["mode"]) == ("unconfirmed", "non-contract")
        waiting = await fleet.at(process["process_id"], "S208")
        assert fleet.gateway.log == [("printer", "contract-transition"),
                                     ("printer", "panel-message")]
        assert fleet.gateway.devices[printer].panel == MESSAGES["install"]
        contract = await fleet.contract(printer)
        assert (contract["flag"], contract["mode"]) == ("confirmed", "contract-non-billing")
        await delivered(orders)
        assert [body["printer_id"] for _, body in orders.received] == [printer]
        assert waiting["order"]["order_id"] == orders.received[0][0]

        await fleet.gateway.upload(printer, cartridge=True, level=100,
                                   event="contract-cartridge-installed")
        done = await fleet.settle(process["process_id"], lambda p: p["outcome"] == "completed")
        assert fleet.gateway.log[2:] == [("printer", "panel-message"),
                                         ("printer", "billing-start")]
        contract = await fleet.contract(printer)
        assert (contract["flag"], contract["mode"], contract["page_limit"]) == (
            "confirmed", "contract-billing", 500)
        # What the device reported last: the billing start's acknowledgement (issue 15).
        assert contract["device_contract"]["mode"] == "contract-billing"
        assert done["order"]["state"] == "delivered" and len(orders.received) == 1


# -- FIG. 5: the change plan -----------------------------------------------------------------------

async def test_plan_accepted_old_runs_out_cartridge_missing_in_new(fleet: Fleet) -> None:
    """Pattern B; S105 yes → S107, S109 (prohibited first), S110; S201 until the old cartridge
    is at the threshold; S206; S207 no → S208 prompt; cartridge installed → S209, S210."""
    process_id = await fleet.change(new_series="IJ-700")
    proposal = await fleet.proposal("change-plan")
    assert proposal["strongly_recommended"] is True
    new_contract = await fleet.contract(fleet.new)
    assert (new_contract["flag"], new_contract["page_limit"]) == ("unconfirmed", 300)
    await fleet.answer("change-plan", "yes")
    watching = await fleet.at(process_id, "S201")
    assert (watching["pattern"], watching["plan_established"]) == ("B", True)
    assert fleet.gateway.log == [("new", "prohibit-contract-printing"),
                                 ("new", "contract-transition")]
    old, new = fleet.devices()
    assert old.contract_printing and new.mode == "contract-non-billing" and new.prohibited
    assert (await fleet.contract(fleet.new))["flag"] == "confirmed"
    await delivered(fleet.orders)
    assert [body["printer_id"] for _, body in fleet.orders.received] == [fleet.new]

    await fleet.gateway.upload(fleet.old, level=40)
    watching = await fleet.settle(process_id, lambda p: p["old_contract_level_percent"] == 40)
    assert watching["step"] == "S201"
    await fleet.gateway.upload(fleet.old, level=THRESHOLD)
    await fleet.at(process_id, "S208")
    assert fleet.gateway.log[2:] == [("old", "panel-message"), ("old", "withdrawal"),
                                     ("old", "panel-message"), ("new", "panel-message")]
    assert (old.mode, old.panel) == ("non-contract", None)  # the notice cleared after it
    assert new.panel == MESSAGES["install"]
    old_contract = await fleet.contract(fleet.old)
    assert (old_contract["flag"], old_contract["mode"]) == ("unconfirmed", "non-contract")

    await fleet.gateway.upload(fleet.new, cartridge=True, event="contract-cartridge-installed")
    done = await fleet.settle(process_id, lambda p: p["outcome"] == "completed")
    assert fleet.gateway.log[6:] == [("new", "panel-message"),
                                     ("new", "permit-contract-printing"),
                                     ("new", "billing-start")]
    assert (new.mode, new.prohibited, new.panel) == ("contract-billing", False, None)
    assert [h["step"] for h in done["history"]][-1] == "S210"
    assert len(fleet.orders.received) == 1


async def test_plan_declined(fleet: Fleet) -> None:
    """S106 no → S108 withdrawal first, then the transition without prohibition; the contract
    cartridge is already in the new printer (S207 yes → S209)."""
    await fleet.gateway.upload(fleet.new, cartridge=True)
    process_id = await fleet.change()
    await fleet.answer("change-plan", "no")
    done = await fleet.settle(process_id, lambda p: p["outcome"] == "completed")
    assert fleet.gateway.log == [("old", "withdrawal"), ("new", "contract-transition"),
                                 ("new", "billing-start")]
    assert done["plan_established"] is False
    assert [(await fleet.contract(p))["mode"] for p in (fleet.old, fleet.new)] == [
        "non-contract", "contract-billing"]
    await delivered(fleet.orders)
    assert len(fleet.orders.received) == 1


async def test_old_cartridge_already_low(fleet: Fleet) -> None:
    await fleet.gateway.upload(fleet.old, level=5)
    process_id = await fleet.change()
    process = await fleet.at(process_id, "S208")
    assert process["open_proposal"] is None
    assert (await fleet.operator.ok("listProposals", params={
        "member_id": MEMBER, "state": "all"}))["proposals"] == []
    assert fleet.gateway.log[:2] == [("old", "withdrawal"), ("new", "contract-transition")]
    assert any("already at or below the threshold" in h["detail"] for h in process["history"])


# -- FIG. 6: the re-proposal -----------------------------------------------------------------------

async def test_reproposal_accepted_then_declined(fleet: Fleet) -> None:
    process_id = await fleet.change()
    await fleet.answer("change-plan", "yes")
    await fleet.at(process_id, "S201")
    await fleet.gateway.upload(fleet.new, cartridge=True, event="contract-cartridge-installed")
    await fleet.settle(process_id, lambda p: p["step"] == "S204")
    await fleet.answer("re-proposal", "yes")
    await fleet.at(process_id, "S201")
    old, new = fleet.devices()
    assert fleet.gateway.log[2:] == [("new", "panel-message")]
    assert new.panel == MESSAGES["remove"] and new.prohibited and old.contract_printing

    # Removed and installed again: proposed again; this time declined (S204 no → S206).
    await fleet.gateway.upload(fleet.new, cartridge=False, event="contract-cartridge-removed")
    await fleet.gateway.upload(fleet.new, cartridge=True, event="contract-cartridge-installed")
    await fleet.settle(process_id, lambda p: p["step"] == "S204")
    await fleet.answer("re-proposal", "no")
    await fleet.settle(process_id, lambda p: p["outcome"] == "completed")
    assert fleet.gateway.log[3:] == [("old", "panel-message"), ("old", "withdrawal"),
                                     ("old", "panel-message"), ("new", "panel-message"),
                                     ("new", "permit-contract-printing"), ("new", "billing-start")]
    assert (old.mode, new.mode, new.prohibited) == ("non-contract", "contract-billing", False)


async def test_old_runs_out_while_the_reproposal_is_open(fleet: Fleet) -> None:
    process_id = await fleet.change()
    await fleet.answer("change-plan", "yes")
    await fleet.at(process_id, "S201")
    await fleet.gateway.upload(fleet.new, cartridge=True)
    proposal = (await fleet.settle(process_id, lambda p: p["step"] == "S204"))["open_proposal"]
    await fleet.gateway.upload(fleet.old, level=0)
    await fleet.settle(process_id, lambda p: p["outcome"] == "completed")
    late = await fleet.operator.call("answerProposal", path={"proposal_id": proposal},
                                     json_body={"member_id": MEMBER, "answer": "yes"})
    assert late.status == 409 and "withdrawn" in late.body["detail"]


# -- second embodiment: patterns -------------------------------------------------------------------

async def test_pattern_c_skips_the_proposal(fleet: Fleet) -> None:
    process_id = await fleet.change(new_model="inkjet", new_series="IJ-500")
    process = await fleet.at(process_id, "S208")
    assert process["pattern"] == "C" and process["plan_established"] is False
    assert fleet.gateway.log[:2] == [("old", "withdrawal"), ("new", "contract-transition")]
    assert "S123" in [h["step"] for h in process["history"]]


@pytest.mark.parametrize(("urgent", "first"), [("yes", ("old", "withdrawal")),
                                                ("no", ("new", "prohibit-contract-printing"))])
async def test_pattern_a_asks_about_urgency(fleet: Fleet, urgent: str,
                                            first: tuple[str, str]) -> None:
    process_id = await fleet.change(new_model="laser", new_series="LB-100")
    await fleet.answer("urgency", urgent)
    if urgent == "no":
        assert (await fleet.proposal("change-plan"))["strongly_recommended"] is False
        await fleet.answer("change-plan", "yes")
    process = await fleet.settle(process_id, lambda p: len(fleet.gateway.log) >= 2)
    assert process["pattern"] == "A" and fleet.gateway.log[0] == first


# -- S103 no: S111, S112 ---------------------------------------------------------------------------

async def test_new_printer_not_obtained_yet(fleet: Fleet) -> None:
    process_id = await fleet.change(named=False)
    await fleet.answer("cancel-after-new-device", "yes")
    assert (await fleet.process(process_id))["step"] == "S103-wait"
    assert fleet.gateway.log == []
    named = await fleet.operator.ok("nameNewPrinter", path={"process_id": process_id},
                                    json_body={"printer_id": fleet.new})
    assert (named["new_printer_id"], named["step"]) == (fleet.new, "S106")
    again = await fleet.operator.call("nameNewPrinter", path={"process_id": process_id},
                                      json_body={"printer_id": fleet.new})
    assert again.status == 409


async def test_cancel_without_a_new_printer(fleet: Fleet) -> None:
    process_id = await fleet.change(named=False)
    await fleet.answer("cancel-after-new-device", "no")
    done = await fleet.settle(process_id, lambda p: p["outcome"] is not None)
    assert done["outcome"] == "cancelled" and fleet.gateway.log == [("old", "withdrawal")]
    assert (await fleet.contract(fleet.old))["flag"] == "unconfirmed"
    assert fleet.orders.received == []


# -- faults and restarts ---------------------------------------------------------------------------

async def test_a_failed_command_is_issued_again(fleet: Fleet) -> None:
    process_id = await fleet.change()
    await fleet.answer("change-plan", "no")
    await fleet.settle(process_id, lambda p: p["awaiting_command"] is not None
                       and p["awaiting_command"]["command_id"] is not None)
    assert await fleet.gateway.acknowledge("failed") == 1
    process = await fleet.settle(process_id, lambda p: p["awaiting_command"]["attempts"] == 2
                                 and p["awaiting_command"]["command_id"] is not None,
                                 result="failed")
    assert process["awaiting_command"]["kind"] == "withdrawal"
    assert "device-unreachable" in process["history"][-1]["detail"]
    assert fleet.devices()[0].contract_printing


async def test_a_restart_resumes_the_process(tmp_path: Path, http: aiohttp.ClientSession,
                                             orders: OrderService) -> None:
    url = sqlite_url(tmp_path)
    options: dict[str, Any] = {"order_webhook": orders.url,
                               "contract_threshold_percent": THRESHOLD,
                               "contract_retry_seconds": 0, "contract_poll_seconds": 0.2,
                               "contract_notice_lead_seconds": 0}
    async with running_cloud(url, **options) as first:
        fleet = await start_fleet(first, http, orders)
        process_id = await fleet.change()
        await fleet.answer("change-plan", "yes")
        await fleet.at(process_id, "S201")
        # The old printer runs out, the cloud stores it and issues the plan-ends notice…
        await fleet.gateway.upload(fleet.old, level=0)
        await fleet.settle(process_id, lambda p: p["step"] == "S206")
    # …and is stopped before anyone acknowledges.  A new server on the same file goes on.
    async with running_cloud(url, **options) as second:
        fleet.cloud, fleet.operator = second, Operator(http, second.url)
        fleet.gateway.gateway = Gateway(http, second.url, fleet.gateway.gateway.token)
        fleet.gateway.gateway.gateway_id = ""
        await fleet.gateway.upload(fleet.new, cartridge=True)
        done = await fleet.settle(process_id, lambda p: p["outcome"] == "completed")
    assert fleet.gateway.log[2:] == [("old", "panel-message"), ("old", "withdrawal"),
                                     ("old", "panel-message"), ("new", "permit-contract-printing"),
                                     ("new", "billing-start")]
    assert done["order"]["state"] == "delivered" and len(orders.received) == 1


async def test_the_webhook_is_retried_with_the_same_key(tmp_path: Path,
                                                        http: aiohttp.ClientSession) -> None:
    async with order_service() as orders, running_cloud(
            sqlite_url(tmp_path), order_webhook=orders.url, contract_retry_seconds=0,
            contract_poll_seconds=0.2) as cloud:
        fleet = await start_fleet(cloud, http, orders)
        orders.answers.append(503)  # the first delivery of the change's order fails
        process_id = await fleet.change()
        await fleet.answer("change-plan", "no")
        await fleet.settle(process_id, lambda p: p["order"] is not None
                           and p["order"]["state"] == "delivered")
        keys = [key for key, _ in orders.received]
        assert len(keys) == 2 and len(set(keys)) == 1
        process = await fleet.process(process_id)
        assert process["order"]["attempts"] == 2 and process["order"]["last_error"] is None


async def test_member_api_rules(fleet: Fleet) -> None:
    same = await fleet.operator.call("requestContractChange", json_body={
        "member_id": MEMBER, "old_printer_id": fleet.old, "new_printer_id": fleet.old,
        "new_model": "inkjet", "new_series": "X"})
    assert same.status == 422
    not_confirmed = await fleet.operator.call("requestContractChange", json_body={
        "member_id": MEMBER, "old_printer_id": fleet.new, "new_model": "inkjet",
        "new_series": "X"})
    assert not_confirmed.status == 409
    other = await fleet.operator.call("requestContractChange", json_body={
        "member_id": "someone-else", "old_printer_id": fleet.old, "new_model": "inkjet",
        "new_series": "X"})
    assert other.status == 404
    await fleet.change()
    busy = await fleet.operator.call("requestContractChange", json_body={
        "member_id": MEMBER, "old_printer_id": fleet.old, "new_model": "inkjet",
        "new_series": "X"})
    assert busy.status == 409
    proposal = await fleet.proposal("change-plan")
    path = {"proposal_id": proposal["proposal_id"]}
    foreign = await fleet.operator.call("answerProposal", path=path,
                                        json_body={"member_id": "x", "answer": "yes"})
    assert foreign.status == 404
    first = await fleet.operator.ok("answerProposal", path=path,
                                    json_body={"member_id": MEMBER, "answer": "yes"})
    assert (first["state"], first["answer"]) == ("answered", "yes")
    assert await fleet.operator.ok("answerProposal", path=path, json_body={
        "member_id": MEMBER, "answer": "yes"}) == first
    contradicting = await fleet.operator.call("answerProposal", path=path, json_body={
        "member_id": MEMBER, "answer": "no"})
    assert contradicting.status == 409
    gateway_token = await fleet.gateway.gateway.call(
        "getContractProcess", path={"process_id": proposal["process_id"]})
    assert gateway_token.status == 403


# -- issue 15: every command ends, cancel, watch, fresh readings, the patent's steps -----------

@contextlib.asynccontextmanager
async def fleet_with(tmp_path: Path, http: aiohttp.ClientSession, orders: OrderService,
                     **options: Any) -> AsyncIterator[Fleet]:
    """The fixture's fleet on a cloud with other contract settings."""
    settings: dict[str, Any] = {
        "order_webhook": orders.url, "contract_threshold_percent": THRESHOLD,
        "contract_retry_seconds": 0, "contract_poll_seconds": 0.2,
        "contract_notice_lead_seconds": 0, **options}
    async with running_cloud(sqlite_url(tmp_path), **settings) as cloud:
        yield await start_fleet(cloud, http, orders)


async def notices(fleet: Fleet, kind: str | None = None) -> list[dict[str, Any]]:
    """The member's notices (payloads), of `kind` if given."""
    found = (await fleet.operator.ok("listMemberNotices", params={"member_id": MEMBER}))
    return [n["payload"] for n in found["notices"] if kind is None or n["kind"] == kind]


async def test_a_command_the_device_cannot_do_ends_the_process_once(fleet: Fleet) -> None:
    """The new printer refuses its transition (`contract-unsupported`): the process ends
    `failed` at once, the failure in its view and history, the member told once; nothing is
    issued again; the new printer, prohibited first while the old one printed, is permitted
    again, the old one keeps its contract."""
    process_id = await fleet.change()
    await fleet.answer("change-plan", "yes")
    await fleet.settle(process_id, lambda p: p["awaiting_command"] is not None
                       and p["awaiting_command"]["kind"] == "contract-transition"
                       and p["awaiting_command"]["command_id"] is not None)
    assert await fleet.gateway.acknowledge("refused", "contract-unsupported") == 1
    done = await fleet.settle(process_id, lambda p: p["outcome"] is not None)
    assert done["outcome"] == "failed" and done["step"] == "ended"
    assert done["failure"] == {"step": "S109", "kind": "contract-transition",
                               "printer_id": fleet.new, "reason": "contract-unsupported"}
    # Its transition was issued: withdrawn to be sure (a no-op here), then permitted.
    assert fleet.gateway.log == [("new", "prohibit-contract-printing"), ("new", "withdrawal"),
                                 ("new", "permit-contract-printing")]
    assert any("contract-unsupported; the process ends" in h["detail"] for h in done["history"])
    assert [n["reason"] for n in await notices(fleet, "process-failed")] == [
        "contract-unsupported"]
    old, new = fleet.devices()
    assert old.contract_printing and (new.mode, new.prohibited) == ("non-contract", False)
    assert (await fleet.contract(fleet.old))["mode"] == "contract-billing"
    await asyncio.sleep(0.5)  # several reconciliations: nothing more is issued
    assert await fleet.gateway.acknowledge() == 0


async def test_passing_failures_are_retried_up_to_the_limit(
        tmp_path: Path, http: aiohttp.ClientSession, orders: OrderService) -> None:
    async with fleet_with(tmp_path, http, orders, contract_max_attempts=3) as fleet:
        process_id = await fleet.change()
        await fleet.answer("change-plan", "no")
        done = await fleet.settle(process_id, lambda p: p["outcome"] is not None,
                                  result="failed")
        assert done["outcome"] == "failed"
        assert done["failure"] == {"step": "S108", "kind": "withdrawal",
                                   "printer_id": fleet.old, "reason": "device-unreachable"}
        issued_again = [h for h in done["history"] if h["detail"].endswith("issued again")]
        assert len(issued_again) == 2
        assert fleet.devices()[0].contract_printing  # the old printer keeps its contract
        assert len(await notices(fleet, "process-failed")) == 1


async def test_cancel_during_the_plan(fleet: Fleet) -> None:
    """The member cancels while the old printer prints under the plan and the new one is
    transitioned and prohibited: the new one is withdrawn, then permitted; the old one keeps
    its contract; the member told; cancelling again answers the same, another member 404."""
    process_id = await fleet.change()
    await fleet.answer("change-plan", "yes")
    await fleet.at(process_id, "S201")
    path = {"process_id": process_id}
    foreign = await fleet.operator.call("cancelMemberContractProcess", path=path,
                                        json_body={"member_id": "someone-else"})
    assert foreign.status == 404
    winding = await fleet.operator.ok("cancelMemberContractProcess", path=path,
                                      json_body={"member_id": MEMBER})
    assert winding["outcome"] is None and winding["step"] == "wind-down"
    done = await fleet.settle(process_id, lambda p: p["outcome"] is not None)
    assert done["outcome"] == "cancelled" and done["failure"] is None
    assert fleet.gateway.log[2:] == [("new", "withdrawal"), ("new", "permit-contract-printing")]
    old, new = fleet.devices()
    assert old.contract_printing and (new.mode, new.prohibited) == ("non-contract", False)
    assert (await fleet.contract(fleet.new))["flag"] == "unconfirmed"
    assert (await fleet.contract(fleet.old))["mode"] == "contract-billing"
    assert len(await notices(fleet, "process-cancelled")) == 1
    again = await fleet.operator.ok("cancelContractProcess", path=path)
    assert again["outcome"] == "cancelled"


async def test_cancel_withdraws_the_open_proposal(fleet: Fleet) -> None:
    process_id = await fleet.change()
    proposal = await fleet.proposal("change-plan")
    done = await fleet.operator.ok("cancelContractProcess", path={"process_id": process_id})
    assert done["outcome"] == "cancelled" and fleet.gateway.log == []
    proposals = (await fleet.operator.ok("listProposals", params={
        "member_id": MEMBER, "state": "all"}))["proposals"]
    assert [(p["proposal_id"], p["state"]) for p in proposals] == [
        (proposal["proposal_id"], "withdrawn")]
    assert [n["state"] for n in await notices(fleet, "proposal-closed")] == ["withdrawn"]
    # The printers are free again: a new change may start.
    assert (await fleet.operator.call("requestContractChange", json_body={
        "member_id": MEMBER, "old_printer_id": fleet.old})).status == 201


async def test_a_finished_process_cannot_be_cancelled(fleet: Fleet) -> None:
    await fleet.gateway.upload(fleet.new, cartridge=True)
    process_id = await fleet.change()
    await fleet.answer("change-plan", "no")
    await fleet.settle(process_id, lambda p: p["outcome"] == "completed")
    late = await fleet.operator.call("cancelContractProcess", path={"process_id": process_id})
    assert late.status == 409


async def test_processes_are_watched(tmp_path: Path, http: aiohttp.ClientSession,
                                     orders: OrderService) -> None:
    async with fleet_with(tmp_path, http, orders, contract_stall_after_seconds=0.3) as fleet:
        process_id = await fleet.change()
        waiting = await fleet.proposal("change-plan")
        listed = (await fleet.operator.ok("listContractProcesses"))["processes"]
        assert [p["process_id"] for p in listed] == [process_id]
        assert listed[0]["waiting_for"] == {"what": "answer", "proposal_kind": "change-plan"}
        assert listed[0]["waiting_since"] is not None
        await asyncio.sleep(0.5)
        stalled = (await fleet.operator.ok("listContractProcesses",
                                           params={"stalled": "true"}))["processes"]
        assert [p["process_id"] for p in stalled] == [process_id] and stalled[0]["stalled"]
        await fleet.operator.ok("answerProposal", path={"proposal_id": waiting["proposal_id"]},
                                json_body={"member_id": MEMBER, "answer": "yes"})
        watching = await fleet.at(process_id, "S201")
        assert watching["waiting_for"] == {"what": "old-cartridge", "printer_id": fleet.old}
        assert not watching["stalled"]
        assert (await fleet.operator.ok("listContractProcesses",
                                        params={"stalled": "true"}))["processes"] == []


async def test_a_printer_named_later_is_judged_on_its_reading(fleet: Fleet) -> None:
    """S111 yes, then the new printer is named: it already holds a contract cartridge, so the
    process goes to billing without prompting for one."""
    await fleet.gateway.upload(fleet.new, cartridge=True, level=100)
    process_id = await fleet.change(named=False)
    await fleet.answer("cancel-after-new-device", "yes")
    named = await fleet.operator.ok("nameNewPrinter", path={"process_id": process_id},
                                    json_body={"printer_id": fleet.new})
    assert named["new_contract_cartridge"] is True
    await fleet.answer("change-plan", "no")
    await fleet.settle(process_id, lambda p: p["outcome"] == "completed")
    assert fleet.gateway.log == [("old", "withdrawal"), ("new", "contract-transition"),
                                 ("new", "billing-start")]
    assert await notices(fleet, "prompt") == [{
        "process_id": process_id, "printer_id": fleet.old, "prompt": "remove-cartridge",
        "message": MESSAGES["remove-old"], **_envelope(await notices(fleet, "prompt"))}]


def _envelope(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The envelope fields of the first notice (they vary)."""
    return {k: found[0][k] for k in ("notice_id", "kind", "member_id", "occurred_at")}


async def test_s201_on_an_empty_event(fleet: Fleet) -> None:
    """The old printer's upload says `supply-empty` for its contract cartridge, no level."""
    process_id = await fleet.change()
    await fleet.answer("change-plan", "yes")
    await fleet.at(process_id, "S201")
    await fleet.gateway.upload(fleet.old, event="supply-empty", levels=False,
                               event_detail={"supply_index": "1.1"})
    process = await fleet.at(process_id, "S208")
    assert process["old_contract_level_percent"] == 0
    assert fleet.gateway.log[2:4] == [("old", "panel-message"), ("old", "withdrawal")]


async def test_the_contract_threshold_is_per_contract(fleet: Fleet) -> None:
    """The old contract's threshold is the server's (10); the change names 30 for the new
    contract; the process watches the old cartridge against 10."""
    body = {"member_id": MEMBER, "old_printer_id": fleet.old, "new_printer_id": fleet.new,
            "new_model": "inkjet", "new_series": "IJ-700", "threshold_percent": 30}
    process = await fleet.operator.ok("requestContractChange", json_body=body)
    assert process["threshold_percent"] == THRESHOLD
    assert (await fleet.contract(fleet.new))["threshold_percent"] == 30
    assert (await fleet.contract(fleet.old))["threshold_percent"] == THRESHOLD


async def test_patterns_come_from_the_printers_reports(fleet: Fleet) -> None:
    """Both printers report the same ink cartridge: pattern C whatever the member typed;
    recorded with its sources."""
    for printer_id in (fleet.old, fleet.new):
        await fleet.gateway.upload(printer_id, machine=("inkCartridge", "LC-3311BK"))
    process_id = await fleet.change(new_model="laser", new_series="LB-100")
    process = await fleet.process(process_id)
    assert process["pattern"] == "C"
    assert process["machines"]["new"] == {"model": "inkjet", "series": "LC-3311BK",
                                          "model_source": "reported",
                                          "series_source": "reported"}
    contract = await fleet.contract(fleet.new)
    assert (contract["model"], contract["series"], contract["model_source"]) == (
        "inkjet", "LC-3311BK", "reported")


async def test_patterns_from_a_toner_printer(fleet: Fleet) -> None:
    await fleet.gateway.upload(fleet.old, machine=("ink", "LC-1"))
    await fleet.gateway.upload(fleet.new, machine=("toner", "TN-1"))
    process_id = await fleet.change(new_model="inkjet", new_series="IJ-500")
    assert (await fleet.process(process_id))["pattern"] == "A"


async def test_s206_gives_a_dated_notice(tmp_path: Path, http: aiohttp.ClientSession,
                                         orders: OrderService) -> None:
    """S206: the old printer's panel names the end (in its time zone); the member is told;
    the withdrawal waits until then; the panel is cleared; the member is asked to take the
    contract cartridge out of the old printer."""
    async with fleet_with(tmp_path, http, orders, contract_notice_lead_seconds=1.5) as fleet:
        process_id = await fleet.change()
        await fleet.answer("change-plan", "yes")
        await fleet.at(process_id, "S201")
        await fleet.gateway.upload(fleet.old, level=0)
        waiting = await fleet.at(process_id, "S206-wait")
        ends_at = times.parse(waiting["plan_ends_at"])
        old, _ = fleet.devices()
        assert old.contract_printing and old.panel is not None
        local = ends_at.astimezone(ZoneInfo("Asia/Tokyo"))  # the printer's registered zone
        assert old.panel == MESSAGES["plan-ends"].format(
            ends=local.strftime("%Y-%m-%d %H:%M JST"))
        assert waiting["waiting_for"]["what"] == "notice-date"
        notice = await notices(fleet, "termination-notice")
        assert [(n["printer_id"], times.parse(n["ends_at"])) for n in notice] == [
            (fleet.old, ends_at)]
        await fleet.at(process_id, "S208")
        assert times.now() >= ends_at
        assert (old.mode, old.panel) == ("non-contract", None)
        prompts = [(n["printer_id"], n["prompt"]) for n in await notices(fleet, "prompt")]
        assert prompts == [(fleet.old, "remove-cartridge"), (fleet.new, "install-cartridge")]


def test_cartridge_reading() -> None:
    cartridges = [{"index": "1.1", "cartridge_type": "contract", "cartridge_id": "T",
                   "cartridge_new": False},
                  {"index": "1.2", "cartridge_type": "contract", "cartridge_id": "D",
                   "cartridge_new": False}]
    kinds = [{"index": "1.1", "kind": "tonerCartridge", "class": "consumed",
              "description": None},
             {"index": "1.2", "kind": "opc", "class": "consumed", "description": None}]
    levels = [{"index": i, "level_percent": p, "level_state": "known", "raw_level": p,
               "max_capacity": 100, "unit": "percent", "class": "consumed",
               "over_capacity": False, "low_percent": None} for i, p in (("1.1", 60), ("1.2", 5))]
    data = {"supplies.cartridge": cartridges, "supplies.level": levels}
    assert cartridge_reading(data) == (True, 5)  # kinds unknown: every contract supply
    data["supplies.kind"] = kinds
    assert cartridge_reading(data) == (True, 60)  # the drum is not the remaining amount
    assert cartridge_reading(data, "threshold-crossed", {"supply_index": "1.1",
                                                         "threshold_percent": 20}) == (True, 20)
    assert cartridge_reading(data, "supply-empty", {"supply_index": "1.2"}) == (True, 60)
    assert cartridge_reading(data, "supply-empty", {"supply_index": "1.1"}) == (True, 0)
    assert cartridge_reading({"supplies.level": levels}) == (None, None)
