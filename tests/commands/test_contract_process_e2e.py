"""The contract process where issue 15 found it broken, end to end: virtual printers with the
contract MIB, the reference cloud and the real `printgw run` relaying the cloud's commands and
uploading what the printers do.

- S201 fired by an empty event: the old printer's contract toner drained on the device, the
  gateway uploads `supply-empty`; the contract service requests no `supplies.level` and the
  gateway's level thresholds stay above the cloud's (empty), so only the event can tell.
- The S111 path: the new printer, named later, already holds a contract cartridge: it is judged
  on its current reading at once and goes to billing without a prompt.
- Cancel in the middle of a change plan: the new printer, transitioned and prohibited, is
  withdrawn and permitted again; the old one keeps printing under contract.
- A printer that loses its contract MIB (a legacy printer) after its contract was requested:
  the gateway refuses the transition (`contract-unsupported`); the process ends `failed` once,
  the member is told, and nothing is issued again.
- Two identical printers that report their supplies' kinds and part numbers: pattern C (S120
  from the printers' reports), whatever the member did not type.

Each case has its own printers: a `contract-laser` (the old printer: a contract toner and a
contract drum) and an `inkjet` (the new one), so the change is pattern A whether S120 decides
from the printers' reports or from what the member typed.  Contract printing is checked never
to be enabled on two printers of a case at once, after every change of their state.

Tests use addresses 127.0.92.0-127.0.92.255.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

from gateway.store import DATABASE_NAME
from simulator.printer import VirtualPrinter
from tests.support.command_helpers import FAST
from tests.support.contract_fleet import (
    contract_printing,
    every_printer_registered,
    watch_contract_printing,
)
from tests.support.contract_helpers import OrderService, order_service
from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SERVICE = "contract-printing"
DATA_TYPES = ["supplies.cartridge", "contract"]
"""The contract service's types: no `supplies.level` (as the demo's)."""
PROFILES = ["contract-laser", "inkjet"] * 3 + ["inkjet"] + ["inkjet"] * 2
"""Three cases with an old and a new printer, one with a single printer, and two identical
printers that also report their supplies' kinds and part numbers (`SUPPLIES`)."""
SUPPLIES = "supplies-information"
"""A support service of the last two printers: `supplies.kind` and `supplies.model`."""
WITHIN = 30.0


@dataclass
class Site:
    h: Harness
    orders: OrderService
    ids: dict[str, str]
    """Printer ID by serial."""
    free: list[VirtualPrinter]


async def _ready(h: Harness) -> dict[str, dict[str, Any]] | None:
    """The printers' views once all are registered and send the contract data."""
    printers = await h.printers()
    if len(printers) < len(h.fleet.printers):
        return None
    if not all(set(DATA_TYPES) <= set(view["current_data_types"] or [])
               for view in printers.values()):
        return None
    return printers


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    tmp = tmp_path_factory.mktemp("contract-process-e2e")
    # A process command that fails for a passing reason is issued again after 0.2 s, 0.4 s…
    async with order_service() as orders, uplink_setup(
            tmp, "127.0.92.1", PROFILES, order_webhook=orders.url,
            contract_retry_seconds=0.2, contract_poll_seconds=0.2,
            contract_notice_lead_seconds=0) as h:
        await h.operator.put_service(SERVICE, DATA_TYPES)
        await h.operator.put_service(SUPPLIES, ["supplies.kind", "supplies.model"])
        h.write_config(poll={"interval": "1s"}, events={"thresholds": [50]},
                       contract={"write_community": "private", **FAST})
        daemon = await h.start_daemon()
        printers = await h.wait_for(lambda: every_printer_registered(h), 60,
                                    "every printer registered")
        for view in printers.values():
            await h.operator.contract(view["printer_id"], SERVICE)
        for printer in h.fleet.printers[-2:]:
            await h.operator.contract(printers[printer.state.serial]["printer_id"], SUPPLIES)
        printers = await h.wait_for(lambda: _ready(h), 60, "the contract data types sent")
        yield Site(h, orders, {serial: view["printer_id"] for serial, view in printers.items()},
                   list(h.fleet.printers))
        assert await daemon.stop() == 0
        assert "Traceback" not in daemon.log()


@dataclass
class Case:
    h: Harness
    member: str
    printers: dict[str, VirtualPrinter]
    ids: dict[str, str]
    violations: list[str] = field(default_factory=list)

    def watch(self) -> None:
        """After every change of a printer's state: never contract printing on two."""
        watch_contract_printing(self.printers.values(), self.violations)

    async def process(self, process_id: str) -> dict[str, Any]:
        return dict(await self.h.operator.ok("getContractProcess",
                                             path={"process_id": process_id}))

    async def until(self, process_id: str, check: Callable[[dict[str, Any]], bool],
                    what: str) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            process = await self.process(process_id)
            return process if check(process) else None
        return dict(await self.h.wait_for(reached, WITHIN, f"{self.member}: {what}", 0.1))

    async def answer(self, kind: str, answer: str) -> None:
        async def open_one() -> list[dict[str, Any]]:
            return list((await self.h.operator.ok("listProposals", params={
                "member_id": self.member}))["proposals"])
        proposals = await self.h.wait_for(open_one, WITHIN, f"{self.member}: a {kind}")
        assert [p["kind"] for p in proposals] == [kind], proposals
        await self.h.operator.ok("answerProposal", path={
            "proposal_id": proposals[0]["proposal_id"]}, json_body={
            "member_id": self.member, "answer": answer})

    async def notices(self, kind: str) -> list[dict[str, Any]]:
        found = await self.h.operator.ok("listMemberNotices", params={"member_id": self.member})
        return [n["payload"] for n in found["notices"] if n["kind"] == kind]

    def commands(self, role: str) -> list[str]:
        """The kinds of the commands the gateway received for the printer, in order."""
        with contextlib.closing(sqlite3.connect(self.h.data_dir / DATABASE_NAME)) as db:
            return [kind for (kind,) in db.execute(
                "SELECT kind FROM commands WHERE printer_id = ? ORDER BY rowid",
                (self.ids[role],))]

    async def first_contract(self) -> None:
        """The old printer (its toner a contract cartridge) gets its contract."""
        process = await self.h.operator.ok("requestContract", json_body={
            "member_id": self.member, "printer_id": self.ids["old"], "model": "laser",
            "page_limit": 300})
        await self.until(process["process_id"], lambda p: p["outcome"] == "completed",
                         "the first contract in force")
        assert self.printers["old"].state.contract_mode == 3  # contract-billing

    async def change(self, *, named: bool = True) -> str:
        body = {"member_id": self.member, "old_printer_id": self.ids["old"],
                "new_model": "inkjet"}
        if named:
            body["new_printer_id"] = self.ids["new"]
        process = await self.h.operator.ok("requestContractChange", json_body=body)
        return str(process["process_id"])


def take(site: Site, *roles: str, last: bool = False) -> Case:
    """The next free printers (`last`: from the end of the fleet), one per role."""
    printers = {role: site.free.pop(-1 if last else 0) for role in roles}
    case = Case(site.h, f"member-{printers[roles[0]].state.serial}", printers,
                {role: site.ids[p.state.serial] for role, p in printers.items()})
    case.watch()
    return case


@pytest_asyncio.fixture(loop_scope="module")
async def pair(site: Site) -> Case:
    """The next old (contract-laser, under contract) and new (inkjet) printer."""
    assert site.free[0].state.model.startswith("LaserWriter"), "the cases take pairs in order"
    case = take(site, "old", "new")
    await case.first_contract()
    return case


async def test_s201_fires_on_the_empty_event(pair: Case) -> None:
    process_id = await pair.change()
    await pair.answer("urgency", "no")
    await pair.answer("change-plan", "yes")
    watching = await pair.until(process_id, lambda p: p["step"] == "S201"
                                and p["awaiting_command"] is None, "watching the old toner")
    assert watching["pattern"] == "A"
    pair.printers["old"].state.set_level("black", 0)
    done = await pair.until(process_id, lambda p: p["step"] in ("S208", "ended"),
                            "the plan ended on the empty event")
    assert done["old_contract_level_percent"] == 0
    statuses = await pair.h.statuses(pair.ids["old"])
    assert any(s["event"] == "supply-empty" for s in statuses)
    assert pair.printers["old"].state.contract_mode == 1  # withdrawn
    assert pair.violations == []


async def test_a_printer_named_later_is_judged_on_its_reading(pair: Case) -> None:
    process_id = await pair.change(named=False)
    await pair.answer("cancel-after-new-device", "yes")
    pair.printers["new"].state.replace("black", "contract")

    async def seen() -> bool:
        statuses = await pair.h.statuses(pair.ids["new"])
        return any(c["cartridge_type"] == "contract"
                   for c in (statuses[-1]["data"].get("supplies.cartridge") or [])) \
            if statuses else False
    await pair.h.wait_for(seen, WITHIN, "the new printer's contract cartridge uploaded")
    named = await pair.h.operator.ok("nameNewPrinter", path={"process_id": process_id},
                                     json_body={"printer_id": pair.ids["new"]})
    assert named["new_contract_cartridge"] is True
    await pair.answer("urgency", "yes")
    await pair.until(process_id, lambda p: p["outcome"] == "completed", "completed")
    assert pair.commands("new") == ["contract-transition", "billing-start"]  # no prompt
    assert pair.printers["new"].state.contract_mode == 3
    assert [n["prompt"] for n in await pair.notices("prompt")] == ["remove-cartridge"]
    assert pair.violations == []


async def test_cancel_in_the_middle_of_a_plan(pair: Case) -> None:
    process_id = await pair.change()
    await pair.answer("urgency", "no")
    await pair.answer("change-plan", "yes")
    await pair.until(process_id, lambda p: p["step"] == "S201"
                     and p["awaiting_command"] is None, "the plan established")
    new = pair.printers["new"].state
    assert (new.contract_mode, new.contract_printing_prohibited) == (2, True)
    await pair.h.operator.ok("cancelMemberContractProcess", path={"process_id": process_id},
                             json_body={"member_id": pair.member})
    done = await pair.until(process_id, lambda p: p["outcome"] is not None, "cancelled")
    assert (done["outcome"], done["failure"]) == ("cancelled", None), done["history"]
    assert (new.contract_mode, new.contract_printing_prohibited) == (1, False)
    assert contract_printing(pair.printers["old"])
    assert pair.commands("new") == ["prohibit-contract-printing", "contract-transition",
                                    "withdrawal", "permit-contract-printing"]
    assert len(await pair.notices("process-cancelled")) == 1
    assert pair.violations == []


async def test_a_legacy_printer_fails_the_process_once(site: Site) -> None:
    """The contract MIB is gone when the transition arrives: refused `contract-unsupported`,
    the process `failed` with the reason, the member told, no command issued again."""
    case = take(site, "new")
    process = await case.h.operator.ok("requestContract", json_body={
        "member_id": case.member, "printer_id": case.ids["new"], "page_limit": 100})
    case.printers["new"].state.has_contract_mib = False
    case.printers["new"].state.touch()  # its MIB view is built again, without the contract MIB
    done = await case.until(process["process_id"], lambda p: p["outcome"] is not None,
                            "the process ended")
    assert done["outcome"] == "failed"
    assert done["failure"]["reason"] == "contract-unsupported"
    assert [n["reason"] for n in await case.notices("process-failed")] == [
        "contract-unsupported"]
    await asyncio.sleep(3)  # several reconciliations and gateway polls
    assert case.commands("new") == ["contract-transition"]
    assert (await case.process(process["process_id"]))["outcome"] == "failed"


async def test_two_identical_printers_are_pattern_c(site: Site) -> None:
    case = take(site, "new", "old", last=True)

    async def reported() -> bool:
        for role in ("old", "new"):
            statuses = await case.h.statuses(case.ids[role])
            if not any("supplies.model" in s["data"] for s in statuses):
                return False
        return True
    await case.h.wait_for(reported, WITHIN, "both printers' supplies reported")
    case.printers["old"].state.replace("black", "contract")
    process = await case.h.operator.ok("requestContract", json_body={
        "member_id": case.member, "printer_id": case.ids["old"], "page_limit": 100})
    await case.until(process["process_id"], lambda p: p["outcome"] == "completed",
                     "the first contract in force")
    process_id = await case.change()
    change = await case.process(process_id)
    assert change["pattern"] == "C", change["history"]
    inks = "IJ4-B,IJ4-C,IJ4-M,IJ4-Y"  # the inkjet profile's cartridges, the box not counted
    for role in ("old", "new"):
        assert change["machines"][role] == {"model": "inkjet", "series": inks,
                                            "model_source": "reported",
                                            "series_source": "reported"}
        contract = await case.h.operator.ok("getPrinterContract",
                                            path={"printer_id": case.ids[role]})
        assert (contract["model"], contract["series"], contract["series_source"]) == (
            "inkjet", inks, "reported")
    await case.h.operator.ok("cancelContractProcess", path={"process_id": process_id})
    await case.until(process_id, lambda p: p["outcome"] is not None, "cancelled")
    assert case.violations == []
