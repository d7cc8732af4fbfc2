"""The cloud's contract guard end to end (issue 15): virtual printers, the reference cloud and the
real `printgw run` relaying the cloud's commands as SNMP SETs.

- The issue's side door: once a change of contract machine with a change plan has withdrawn the
  old printer and the new one bills, the operator's `contract-transition` for the old printer is
  refused (409 `contract-conflict`, naming the new printer); nothing reaches the printer — its
  contract MIB, read over SNMP, stays non-contract — and contract printing was never enabled on
  both printers at any moment of the change (checked on the devices after every change of their
  state).
- A printer without the contract MIB (`legacy-laser`): the member's contract request is refused
  up front (409 `contract-unsupported`, with the reason); the operator's contract transition for
  it is refused by the gateway, ends `refused` with `contract-unsupported`, and is not issued
  again.

Tests use addresses 127.0.90.0-127.0.91.255.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

from gateway.store import DATABASE_NAME
from protocols.snmp import contract_mib as cm
from simulator.printer import VirtualPrinter
from tests.support.command_helpers import FAST, cloud_command, issue
from tests.support.contract_fleet import every_printer_registered, watch_contract_printing
from tests.support.contract_helpers import OrderService, order_service
from tests.support.sim_helpers import snmpget
from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SERVICE = "contract-printing"
DATA_TYPES = ["supplies.level", "supplies.cartridge", "contract"]
THRESHOLD = 10
WITHIN = 45.0
MEMBER = "member-side-door"
PROFILES = {"old": "inkjet", "new": "mono-laser", "legacy": "legacy-laser"}
ANSWERS = {"urgency": "no", "change-plan": "yes", "re-proposal": "no"}
"""How the member answers: not urgent, keep the old printer (a change plan), no second plan."""
MODE = f"{cm.pgwContractMode}.0"


@dataclass
class Site:
    h: Harness
    orders: OrderService
    printers: dict[str, VirtualPrinter]
    """By role: `old`, `new`, `legacy`."""
    ids: dict[str, str]
    """Printer ID by role."""
    violations: list[str] = field(default_factory=list)

    def watch(self, roles: tuple[str, ...]) -> None:
        """Record every moment (any change of either printer's state, SETs included) at which
        contract printing is enabled on both."""
        watch_contract_printing((self.printers[role] for role in roles), self.violations)

    async def process(self, process_id: str) -> dict[str, Any]:
        return dict(await self.h.operator.ok("getContractProcess",
                                             path={"process_id": process_id}))

    async def until_completed(self, process_id: str) -> dict[str, Any]:
        """Drive the process as the member would: answer each proposal (`ANSWERS`), let the old
        printer's contract cartridge run out while the plan watches it (S201), install the
        contract cartridge in the new printer when prompted; until the process ends."""
        loop = asyncio.get_running_loop()
        end = loop.time() + 4 * WITHIN
        while loop.time() < end:
            process = await self.process(process_id)
            if process["outcome"] is not None:
                return process
            proposals = (await self.h.operator.ok("listProposals", params={
                "member_id": MEMBER}))["proposals"]
            for proposal in proposals:
                await self.h.operator.ok(
                    "answerProposal", path={"proposal_id": proposal["proposal_id"]},
                    json_body={"member_id": MEMBER, "answer": ANSWERS[proposal["kind"]]})
            if process["step"] == "S201" and process["awaiting_command"] is None:
                self.printers["old"].state.set_level("black", THRESHOLD)
            if process["step"] == "S208":
                self.printers["new"].state.replace("black", "contract")
            await asyncio.sleep(0.2)
        raise AssertionError(f"the process did not end: {await self.process(process_id)}")

    def gateway_commands(self, role: str) -> list[str]:
        """The command IDs the gateway received for the printer, in order."""
        with contextlib.closing(sqlite3.connect(self.h.data_dir / DATABASE_NAME)) as db:
            return [row[0] for row in db.execute(
                "SELECT command_id FROM commands WHERE printer_id = ? ORDER BY rowid",
                (self.ids[role],))]


async def contract_mode(printer: VirtualPrinter) -> str:
    """The printer's contract mode, read over SNMP (net-snmp)."""
    return ("non-contract", "contract-non-billing", "contract-billing")[
        int((await snmpget(printer, MODE))[MODE]) - 1]


async def _sending_contract_data(h: Harness, serials: list[str]) -> bool:
    """The contract state of the printers `serials` uploaded."""
    printers = await h.printers()
    return all(serial in printers and printers[serial]["contract"] is not None
               for serial in serials)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    """The three printers with the contract service's data types; the gateway daemon reading
    every second; the cloud with threshold `THRESHOLD` and a short termination notice."""
    tmp = tmp_path_factory.mktemp("side-door-e2e")
    async with order_service() as orders, uplink_setup(
            tmp, "127.0.90.1", list(PROFILES.values()), order_webhook=orders.url,
            contract_threshold_percent=THRESHOLD, contract_retry_seconds=0,
            contract_poll_seconds=0.2, contract_notice_lead_seconds=1) as h:
        await h.operator.put_service(SERVICE, DATA_TYPES)
        h.write_config(poll={"interval": "1s"}, events={"thresholds": [50, THRESHOLD]},
                       contract={"write_community": "private", **FAST})
        daemon = await h.start_daemon()
        printers = await h.wait_for(
            lambda: every_printer_registered(h), 60, "every printer registered")
        for view in printers.values():
            await h.operator.contract(view["printer_id"], SERVICE)
        by_role = {role: next(p for p in h.fleet.printers if p.profile.key == profile)
                   for role, profile in PROFILES.items()}
        # The legacy printer has no contract state to send: its registration says so.
        await h.wait_for(lambda: _sending_contract_data(h, [
            by_role[role].state.serial for role in ("old", "new")]), 60,
            "the contract data types sent")
        yield Site(h, orders, by_role, {role: printers[p.state.serial]["printer_id"]
                                        for role, p in by_role.items()})
        assert await daemon.stop() == 0
        assert "Traceback" not in daemon.log()


async def test_the_withdrawn_old_printer_is_not_put_back(site: Site) -> None:
    h = site.h
    site.watch(("old", "new"))
    old = site.printers["old"]
    old.state.replace("black", "contract")
    old.state.set_level("black", 80)
    first = await h.operator.ok("requestContract", json_body={
        "member_id": MEMBER, "printer_id": site.ids["old"], "model": "inkjet",
        "series": "IJ-500", "page_limit": 300})
    assert (await site.until_completed(first["process_id"]))["outcome"] == "completed"
    assert await contract_mode(old) == "contract-billing"

    change = await h.operator.ok("requestContractChange", json_body={
        "member_id": MEMBER, "old_printer_id": site.ids["old"],
        "new_printer_id": site.ids["new"], "new_model": "laser", "new_series": "LB-100"})
    done = await site.until_completed(change["process_id"])
    assert done["outcome"] == "completed" and done["plan_established"] is True, done
    assert await contract_mode(old) == "non-contract"
    assert await contract_mode(site.printers["new"]) == "contract-billing"
    sent = site.gateway_commands("old")

    refusal = await h.operator.call("createCommand", path={"printer_id": site.ids["old"]},
                                    json_body={"kind": "contract-transition",
                                               "parameters": {"mode": "contract-non-billing"}})
    assert refusal.status == 409, refusal.body
    assert refusal.body["type"].endswith("/contract-conflict")
    assert site.ids["new"] in refusal.body["detail"] and "contract-billing" in \
        refusal.body["detail"], refusal.body
    # Two of the gateway's polls later: nothing reached the old printer.
    await asyncio.sleep(2.5)
    assert site.gateway_commands("old") == sent
    assert await contract_mode(old) == "non-contract"
    view = await h.operator.ok("getPrinterContract", path={"printer_id": site.ids["old"]})
    assert (view["flag"], view["mode"]) == ("unconfirmed", "non-contract"), view
    assert site.violations == []


async def test_a_printer_without_the_contract_mib(site: Site) -> None:
    h = site.h
    for _ in range(2):  # refused up front, every time, with the reason; no process started
        refusal = await h.operator.call("requestContract", json_body={
            "member_id": "member-legacy", "printer_id": site.ids["legacy"], "model": "laser",
            "series": "L900", "page_limit": 100})
        assert refusal.status == 409, refusal.body
        assert refusal.body["type"].endswith("/contract-unsupported")
        assert "no contract function" in refusal.body["detail"]
    assert (await h.operator.ok("listProposals", params={
        "member_id": "member-legacy", "state": "all"}))["proposals"] == []

    command = await issue(h, site.ids["legacy"], "contract-transition")
    async def final() -> dict[str, Any] | None:
        status = await cloud_command(h, command["command_id"])
        return status if status["state"] not in ("pending", "received") else None
    status = await h.wait_for(final, WITHIN, "the legacy printer's command completed")
    assert status["state"] == "refused", status
    assert status["reason"]["code"] == "contract-unsupported", status
    await asyncio.sleep(3)  # three of the gateway's polls: nothing is issued again
    assert site.gateway_commands("legacy") == [command["command_id"]]
    assert (await cloud_command(h, command["command_id"]))["state"] == "refused"
