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
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cloud import times
from cloud.contract_actions import MESSAGES
from cloud.server import CloudServer
from protocols.cloud.times import rfc3339
from tests.support.cloud_helpers import Gateway, Operator, running_cloud, sqlite_url
from tests.support.contract_helpers import OrderService, order_service

pytest_plugins = ("tests.support.cloud_helpers",)

SERVICE = "contract-printing"
THRESHOLD = 10
MEMBER = "member-0042"


# -- the scripted gateway --------------------------------------------------------------------------

@dataclass
class Device:
    """A printer's contract MIB state and its cartridge, as the scripted gateway keeps them."""

    mode: str = "non-contract"
    prohibited: bool = False
    panel: str | None = None
    contract_cartridge: bool = False
    level: int = 100

    def apply(self, kind: str, parameters: dict[str, Any]) -> None:
        if kind == "contract-transition":
            self.mode = parameters["mode"]
        elif kind == "withdrawal":
            self.mode = "non-contract"
        elif kind == "billing-start":
            self.mode = "contract-billing"
        elif kind == "prohibit-contract-printing":
            self.prohibited = True
        elif kind == "permit-contract-printing":
            self.prohibited = False
        else:
            self.panel = parameters["message"] or None

    def contract_state(self) -> dict[str, Any]:
        return {"supported": True, "mode": self.mode, "printing_prohibited": self.prohibited,
                "panel_message": self.panel}

    @property
    def contract_printing(self) -> bool:
        return self.mode != "non-contract" and not self.prohibited


class ScriptedGateway:
    def __init__(self, gateway: Gateway, names: dict[str, str]) -> None:
        self.gateway = gateway
        self.names = names  # printer ID → "old" / "new"
        self.devices = {printer_id: Device() for printer_id in names}
        self.log: list[tuple[str, str]] = []
        """(printer name, command kind) in the order applied."""

    async def acknowledge(self, result: str = "done") -> int:
        """Apply and acknowledge every pending command (`done`), or answer `result`."""
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
                ack["reason"] = {"code": "device-unreachable", "detail": "No answer."}
            ack["contract_state"] = device.contract_state()
            await self.gateway.ok("acknowledgeCommand", path=path, json_body=ack)
            self.check_invariant()
        return len(pending)

    def check_invariant(self) -> None:
        printing = [name for pid, name in self.names.items()
                    if self.devices[pid].contract_printing]
        assert len(printing) <= 1, f"contract printing enabled on {printing}"

    async def upload(self, printer_id: str, *, cartridge: bool | None = None,
                     level: int | None = None, event: str = "periodic") -> None:
        device = self.devices[printer_id]
        if cartridge is not None:
            device.contract_cartridge = cartridge
        if level is not None:
            device.level = level
        await self.gateway.upload([{
            "entry_id": str(uuid.uuid4()), "printer_id": printer_id,
            "read_at": rfc3339(times.now()), "event": event,
            "data": {
                "supplies.cartridge": [{
                    "index": "1.1",
                    "cartridge_type": "contract" if device.contract_cartridge else "commercial",
                    "cartridge_id": "C-1", "cartridge_new": False}],
                "supplies.level": [{
                    "index": "1.1", "level_percent": device.level, "level_state": "known",
                    "raw_level": device.level, "max_capacity": 100, "unit": "percent",
                    "class": "consumed", "over_capacity": False, "low_percent": 10}],
                "contract": device.contract_state()}}])


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
                     result: str = "done") -> dict[str, Any]:
        """Acknowledge commands until the process satisfies `until` (at most 10 s)."""
        for _ in range(200):
            process = await self.process(process_id)
            if until(process):
                return process
            if not await self.gateway.acknowledge(result):
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
    await operator.put_service(SERVICE, ["supplies.level", "supplies.cartridge", "contract"])
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
                             contract_poll_seconds=0.2) as cloud:
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
        assert contract["device_contract"]["mode"] == "contract-non-billing"  # last upload
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
                                     ("new", "panel-message")]
    assert (old.mode, old.panel) == ("non-contract", MESSAGES["plan-ends"])
    assert new.panel == MESSAGES["install"]
    old_contract = await fleet.contract(fleet.old)
    assert (old_contract["flag"], old_contract["mode"]) == ("unconfirmed", "non-contract")

    await fleet.gateway.upload(fleet.new, cartridge=True, event="contract-cartridge-installed")
    done = await fleet.settle(process_id, lambda p: p["outcome"] == "completed")
    assert fleet.gateway.log[5:] == [("new", "panel-message"),
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
                                     ("new", "panel-message"), ("new", "permit-contract-printing"),
                                     ("new", "billing-start")]
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
                               "contract_retry_seconds": 0, "contract_poll_seconds": 0.2}
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
                                     ("new", "permit-contract-printing"),
                                     ("new", "billing-start")]
    assert done["order"]["state"] == "delivered" and len(orders.received) == 1


async def test_the_webhook_is_retried_with_the_same_key(tmp_path: Path,
                                                        http: aiohttp.ClientSession) -> None:
    async with order_service() as orders, running_cloud(
            sqlite_url(tmp_path), order_webhook=orders.url, contract_retry_seconds=0,
            contract_poll_seconds=0.2) as cloud:
        fleet = await start_fleet(cloud, http, orders)
        orders.failures = 1
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
