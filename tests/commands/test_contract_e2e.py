"""Change of contract machine end to end (issue 6): virtual printers with the contract MIB, the
reference cloud (its order webhook a real order service on loopback) and the real `printgw run`
relaying the cloud's commands as SNMP SETs.

Every path of FIG. 5 and FIG. 6 — plan accepted / declined / old cartridge already low,
re-proposal accepted / declined, the cartridge missing in the new printer, patterns A, B and C —
runs on a pair of printers of its own, in one fleet, cloud and daemon shared by the module
(starting them is most of the cost): the paths depend neither on each other nor on their order.
Each pair starts with a first contract on its old printer (S104, S109, S110, S207-S210 through
the gateway).  After every step of a path:

- both printers' contract MIB (mode, printing prohibited, panel message) read over SNMP;
- the cloud's records: the process's step, the printers' contract records, and every command the
  step caused, in order, `done` with the contract state the device had after it;
- contract printing never enabled on both printers at once — checked on the devices themselves
  after every change of their state;
- the order webhook fired exactly once per order.

Then two properties of the relay the paths rely on: a command issued while the gateway's cursor
expired is fetched by the resynchronisation (poll and push), and a printer's commands are applied
in the order the cloud issued them when one of them had to be retried.

Tests use addresses 127.0.80.0-127.0.89.255.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from cloud import times
from cloud.contract_actions import MESSAGES
from cloud.contract_store import cartridge_reading
from gateway.store import DATABASE_NAME
from protocols.snmp import contract_mib as cm
from simulator.printer import VirtualPrinter
from simulator.state import CONTRACT_MODES, PrinterError
from tests.support.command_helpers import (
    FAST,
    audit,
    cloud_command,
    configure,
    gateway_in_process,
    issue,
    printer_ids,
    relay_setup,
    relay_through,
)
from tests.support.contract_fleet import (
    every_printer_registered,
    watch_contract_printing,
)
from tests.support.contract_helpers import OrderService, order_service
from tests.support.sim_helpers import snmpget
from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SERVICE = "contract-printing"
DATA_TYPES = ["supplies.level", "supplies.cartridge", "contract"]
THRESHOLD = 10
"""The cloud's: the old contract cartridge has run out at or below this percent (S105, S201)."""
PAIRS = 8
"""One pair of printers per path below."""
WITHIN = 30.0
"""Seconds any one step may take (it takes one or two poll intervals of 1 s)."""

MODE = f"{cm.pgwContractMode}.0"
PROHIBITED = f"{cm.pgwContractPrintingProhibited}.0"
PANEL = f"{cm.pgwPanelMessage}.0"


# -- a printer's contract state --------------------------------------------------------------------

@dataclass(frozen=True)
class Contract:
    """A printer's contract state: what its MIB holds, what the cloud's record must say."""

    mode: str = "non-contract"
    prohibited: bool = False
    panel: str = ""

    @property
    def flag(self) -> str:
        return "unconfirmed" if self.mode == "non-contract" else "confirmed"

    def after(self, kind: str, parameters: dict[str, Any]) -> Contract:
        """The state once a command of `kind` is done."""
        if kind == "contract-transition":
            return replace(self, mode=parameters["mode"])
        if kind == "withdrawal":
            return replace(self, mode="non-contract")
        if kind == "billing-start":
            return replace(self, mode="contract-billing")
        if kind in ("prohibit-contract-printing", "permit-contract-printing"):
            return replace(self, prohibited=kind.startswith("prohibit"))
        assert kind == "panel-message", kind
        return replace(self, panel=parameters["message"])

    def reported(self) -> dict[str, Any]:
        """As a completed command's `contract_state`."""
        return {"supported": True, "mode": self.mode, "printing_prohibited": self.prohibited,
                "panel_message": self.panel}


NONE = Contract()
NON_BILLING = Contract("contract-non-billing")
GUARDED = Contract("contract-non-billing", prohibited=True)
"""The new printer while the old one prints under the change plan (S109 with a plan, S205)."""
BILLING = Contract("contract-billing")


async def on_device(printer: VirtualPrinter) -> Contract:
    """The printer's contract MIB, read over SNMP (net-snmp)."""
    values = await snmpget(printer, MODE, PROHIBITED, PANEL)
    return Contract(CONTRACT_MODES[int(values[MODE]) - 1], values[PROHIBITED] == "1",
                    values[PANEL])


# -- the shared fleet, cloud and daemon ------------------------------------------------------------

@dataclass
class Site:
    h: Harness
    orders: OrderService
    ids: dict[str, str]
    """Printer ID by serial."""
    free: list[VirtualPrinter]
    """Printers no path has taken yet."""


async def _sending_contract_data(h: Harness) -> bool:
    return all(set(view["current_data_types"]) == set(DATA_TYPES)
               for view in (await h.printers()).values())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    """Two printers per path with the contract MIB; the cloud with the contract service (the
    data types the process needs), threshold `THRESHOLD`, its order webhook; the gateway daemon
    reading every second, with the SET community and event thresholds that include the cloud's
    threshold (the old printer's level reaches the cloud when it crosses them)."""
    tmp = tmp_path_factory.mktemp("contract-e2e")
    async with order_service() as orders, uplink_setup(
            tmp, "127.0.80.1", ["inkjet"], count=2 * PAIRS, order_webhook=orders.url,
            contract_threshold_percent=THRESHOLD, contract_retry_seconds=0,
            contract_poll_seconds=0.2, contract_notice_lead_seconds=0) as h:
        await h.operator.put_service(SERVICE, DATA_TYPES)
        h.write_config(poll={"interval": "1s"}, events={"thresholds": [50, THRESHOLD]},
                       contract={"write_community": "private", **FAST})
        daemon = await h.start_daemon()
        printers = await h.wait_for(lambda: every_printer_registered(h), 60,
                                    "every printer registered")
        for view in printers.values():
            await h.operator.contract(view["printer_id"], SERVICE)
        await h.wait_for(lambda: _sending_contract_data(h), 60, "the contract data types sent")
        yield Site(h, orders, {serial: view["printer_id"] for serial, view in printers.items()},
                   list(h.fleet.printers))
        assert await daemon.stop() == 0
        assert "Traceback" not in daemon.log()


# -- one path's pair of printers -------------------------------------------------------------------

@dataclass
class Pair:
    h: Harness
    orders: OrderService
    member: str
    printers: dict[str, VirtualPrinter]
    """By role: `old`, `new`."""
    ids: dict[str, str]
    """Printer ID by role."""
    tracked: dict[str, Contract] = field(default_factory=lambda: {"old": NONE, "new": NONE})
    """By role: the contract state the commands checked so far leave the printer in."""
    checked: int = 0
    """The pair's commands checked so far (in the gateway's command log)."""
    violations: list[str] = field(default_factory=list)

    def watch(self) -> None:
        """Check after every change of either printer's state (SETs included) that contract
        printing is not enabled on both."""
        watch_contract_printing(self.printers.values(), self.violations)

    # -- the member site and the operator's views --------------------------------------------------

    async def request_contract(self) -> str:
        process = await self.h.operator.ok("requestContract", json_body={
            "member_id": self.member, "printer_id": self.ids["old"], "model": "inkjet",
            "series": "IJ-500", "page_limit": 300})
        return str(process["process_id"])

    async def change(self, new_model: str = "inkjet", new_series: str = "IJ-700") -> str:
        """S101-S102: the member asks to move the contract from the old to the new printer."""
        process = await self.h.operator.ok("requestContractChange", json_body={
            "member_id": self.member, "old_printer_id": self.ids["old"],
            "new_printer_id": self.ids["new"], "new_model": new_model,
            "new_series": new_series})
        assert process["kind"] == "change" and process["history"][0]["step"] == "S102"
        return str(process["process_id"])

    async def proposals(self, state: str = "open") -> list[dict[str, Any]]:
        return list((await self.h.operator.ok("listProposals", params={
            "member_id": self.member, "state": state}))["proposals"])

    async def proposal(self, kind: str) -> dict[str, Any]:
        """The open proposal, once there is one; it must be of `kind`."""
        proposals = await self.h.wait_for(self.proposals, WITHIN, f"{self.member}: a proposal")
        assert [p["kind"] for p in proposals] == [kind], proposals
        return proposals[0]

    async def answer(self, kind: str, answer: str) -> None:
        proposal = await self.proposal(kind)
        await self.h.operator.ok("answerProposal", path={"proposal_id": proposal["proposal_id"]},
                                 json_body={"member_id": self.member, "answer": answer})

    async def process(self, process_id: str) -> dict[str, Any]:
        return dict(await self.h.operator.ok("getContractProcess",
                                             path={"process_id": process_id}))

    async def until(self, process_id: str, check: Callable[[dict[str, Any]], bool],
                    what: str) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            process = await self.process(process_id)
            return process if check(process) else None
        return dict(await self.h.wait_for(reached, WITHIN, f"{self.member}: {what}", 0.1))

    async def at(self, process_id: str, step: str) -> dict[str, Any]:
        """The process waits at `step`, its commands all done."""
        return await self.until(process_id, lambda p: p["step"] == step
                                and p["awaiting_command"] is None, f"waiting at {step}")

    async def completed(self, process_id: str) -> dict[str, Any]:
        done = await self.until(process_id, lambda p: p["outcome"] == "completed", "completed")
        assert done["step"] == "ended" and done["history"][-1]["step"] == "S210"
        return done

    async def seen(self, role: str, contract_cartridge: bool, level: int | None = None) -> None:
        """Until the cloud has an upload of the printer showing its contract cartridge (and its
        level): the gateway's reading of what the test did to the printer."""
        async def uploaded() -> bool:
            statuses = await self.h.statuses(self.ids[role])
            return bool(statuses) and cartridge_reading(statuses[-1]["data"]) == (
                contract_cartridge, level)
        await self.h.wait_for(uploaded, WITHIN, f"{self.member}: the {role} printer's reading")

    # -- what a step did ---------------------------------------------------------------------------

    async def expect(self, commands: list[tuple[str, str]], old: Contract,
                     new: Contract) -> None:
        """After a step: the pair's commands since the last step (role, kind), in order, each
        `done` in the cloud with the contract state it left the device in; both printers' MIB
        and contract records; never contract printing on both."""
        assert await self.new_commands() == commands
        for role, wanted in (("old", old), ("new", new)):
            assert self.tracked[role] == wanted, (role, self.tracked[role])
            assert await on_device(self.printers[role]) == wanted, role
            record = await self.h.operator.call("getPrinterContract",
                                                path={"printer_id": self.ids[role]})
            if record.status == 404:  # no contract yet: the new printer before the change
                assert wanted == NONE, role
                continue
            assert (record.body["flag"], record.body["mode"],
                    record.body["printing_prohibited"]) == (wanted.flag, wanted.mode,
                                                            wanted.prohibited), role
        assert self.violations == []

    async def new_commands(self) -> list[tuple[str, str]]:
        """The commands for the pair the gateway received since the last call, in order, each
        checked against the cloud's record of it."""
        with contextlib.closing(sqlite3.connect(self.h.data_dir / DATABASE_NAME)) as db:
            rows = db.execute(
                "SELECT command_id, printer_id, kind FROM commands WHERE printer_id IN (?, ?) "
                "ORDER BY rowid", (self.ids["old"], self.ids["new"])).fetchall()
        roles = {printer_id: role for role, printer_id in self.ids.items()}
        seen = []
        for command_id, printer_id, kind in rows[self.checked:]:
            role = roles[printer_id]
            status = await cloud_command(self.h, command_id)
            assert (status["kind"], status["state"]) == (kind, "done"), status
            self.tracked[role] = self.tracked[role].after(kind, status["parameters"])
            assert status["contract_state"] == self.tracked[role].reported(), status
            seen.append((role, kind))
        self.checked = len(rows)
        return seen

    def orders_for(self, role: str) -> list[tuple[str, dict[str, Any]]]:
        return [(key, body) for key, body in self.orders.received
                if body["printer_id"] == self.ids[role]]

    async def ordered_once(self, process: dict[str, Any], role: str) -> None:
        """S110: the order webhook got the process's order for the printer, once."""
        done = await self.until(process["process_id"], lambda p: p["order"] is not None
                                and p["order"]["state"] == "delivered", "order delivered")
        assert [key for key, _ in self.orders_for(role)] == [done["order"]["order_id"]]


@pytest_asyncio.fixture(loop_scope="module")
async def pair(site: Site) -> Pair:
    """The next two printers of the site: the old one with a contract cartridge at 80 % and a
    contract in force (its first contract run through the cloud and the gateway)."""
    assert len(site.free) >= 2, "one pair of printers per path: raise PAIRS"
    old, new = site.free.pop(0), site.free.pop(0)
    pair = Pair(site.h, site.orders, f"member-{old.state.serial}", {"old": old, "new": new},
                {"old": site.ids[old.state.serial], "new": site.ids[new.state.serial]})
    pair.watch()
    old.state.replace("black", "contract")
    old.state.set_level("black", 80)
    await pair.seen("old", True, 80)
    process_id = await pair.request_contract()
    first = await pair.completed(process_id)
    await pair.expect([("old", "contract-transition"), ("old", "billing-start")],
                      old=BILLING, new=NONE)
    await pair.ordered_once(first, "old")
    return pair


# -- FIG. 5: the change plan -----------------------------------------------------------------------

async def test_plan_accepted_old_runs_out_cartridge_missing_in_new(pair: Pair) -> None:
    """Pattern B (strongly recommended plan); S106 yes → S107 keep the old printer, S109 the new
    one prohibited first, S110; S201 until the old cartridge is at the threshold; S206 notice and
    withdrawal; S207 no → S208 prompt; the cartridge installed → S209, S210."""
    process_id = await pair.change(new_series="IJ-700")
    proposal = await pair.proposal("change-plan")
    assert proposal["strongly_recommended"] is True
    await pair.expect([], old=BILLING, new=NONE)  # S104: registered unconfirmed

    await pair.answer("change-plan", "yes")
    watching = await pair.at(process_id, "S201")
    assert (watching["pattern"], watching["plan_established"]) == ("B", True)
    await pair.expect([("new", "prohibit-contract-printing"), ("new", "contract-transition")],
                      old=BILLING, new=GUARDED)
    await pair.ordered_once(watching, "new")

    pair.printers["old"].state.set_level("black", 40)
    watching = await pair.until(process_id, lambda p: p["old_contract_level_percent"] == 40,
                                "the old level seen")
    assert watching["step"] == "S201"
    await pair.expect([], old=BILLING, new=GUARDED)

    pair.printers["old"].state.set_level("black", THRESHOLD)
    await pair.at(process_id, "S208")
    # S206: the dated notice, the withdrawal, the notice cleared (issue 15).
    await pair.expect([("old", "panel-message"), ("old", "withdrawal"), ("old", "panel-message"),
                       ("new", "panel-message")],
                      old=NONE, new=replace(GUARDED, panel=MESSAGES["install"]))

    pair.printers["new"].state.replace("black", "contract")
    done = await pair.completed(process_id)
    await pair.expect([("new", "panel-message"), ("new", "permit-contract-printing"),
                       ("new", "billing-start")], old=NONE, new=BILLING)
    assert done["order"]["state"] == "delivered" and len(pair.orders_for("new")) == 1
    assert pair.printers["new"].state.print_pages(3) == 3  # contract printing, on the new one


async def test_plan_declined_cartridge_already_in_new(pair: Pair) -> None:
    """S106 no → S108 withdrawal first, S109 the transition without prohibition, S110; the
    contract cartridge is already in the new printer: S207 yes → S209, S210."""
    pair.printers["new"].state.replace("black", "contract")
    await pair.seen("new", True, 100)
    process_id = await pair.change()
    await pair.answer("change-plan", "no")
    done = await pair.completed(process_id)
    assert done["plan_established"] is False
    await pair.expect([("old", "withdrawal"), ("new", "contract-transition"),
                       ("new", "billing-start")], old=NONE, new=BILLING)
    await pair.ordered_once(done, "new")


@pytest.mark.parametrize(("old_level", "series", "pattern", "note"), [
    pytest.param(5, "IJ-700", "B", "already at or below the threshold",
                 id="old-cartridge-already-low"),
    pytest.param(None, "IJ-500", "C", "same model and series", id="pattern-C"),
])
async def test_no_proposal(pair: Pair, old_level: int | None, series: str, pattern: str,
                           note: str) -> None:
    """No change plan is proposed — the old cartridge is already at the threshold (S105), or the
    same model and series (pattern C, S123): S108 withdrawal, S109, S110, S207 no → S208 prompt;
    the cartridge installed → S209, S210."""
    if old_level is not None:
        pair.printers["old"].state.set_level("black", old_level)
        await pair.seen("old", True, old_level)
    process_id = await pair.change(new_series=series)
    prompting = await pair.at(process_id, "S208")
    assert prompting["pattern"] == pattern and prompting["plan_established"] is False
    assert any(note in h["detail"] for h in prompting["history"]), prompting["history"]
    assert await pair.proposals("all") == []
    await pair.expect([("old", "withdrawal"), ("new", "contract-transition"),
                       ("new", "panel-message")],
                      old=NONE, new=replace(NON_BILLING, panel=MESSAGES["install"]))
    await pair.ordered_once(prompting, "new")

    pair.printers["new"].state.replace("black", "contract")
    await pair.completed(process_id)
    await pair.expect([("new", "panel-message"), ("new", "billing-start")],
                      old=NONE, new=BILLING)
    assert len(pair.orders_for("new")) == 1


# -- FIG. 6: the re-proposal -----------------------------------------------------------------------

async def reproposed(pair: Pair) -> str:
    """Plan accepted, then a contract cartridge put in the new printer while the old one still
    prints (S202): re-proposed (S203-S204).  The new printer refuses contract printing."""
    process_id = await pair.change()
    await pair.answer("change-plan", "yes")
    await pair.at(process_id, "S201")
    await pair.expect([("new", "prohibit-contract-printing"), ("new", "contract-transition")],
                      old=BILLING, new=GUARDED)
    pair.printers["new"].state.replace("black", "contract")
    await pair.proposal("re-proposal")
    assert (await pair.process(process_id))["step"] == "S204"
    with pytest.raises(PrinterError, match="not allowed"):
        pair.printers["new"].state.print_pages(1)
    return process_id


async def test_reproposal_accepted(pair: Pair) -> None:
    """S204 yes → S205: the new printer stays prohibited and asks for the cartridge to be
    removed, S201 again; the member removes it; the old printer runs out → S206, S207 no → S208
    prompt; the cartridge back in → S209, S210."""
    process_id = await reproposed(pair)
    await pair.answer("re-proposal", "yes")
    await pair.at(process_id, "S201")
    await pair.expect([("new", "panel-message")],
                      old=BILLING, new=replace(GUARDED, panel=MESSAGES["remove"]))

    pair.printers["new"].state.replace("black", "commercial")
    await pair.until(process_id, lambda p: p["new_contract_cartridge"] is False,
                     "the contract cartridge seen removed")
    pair.printers["old"].state.set_level("black", THRESHOLD)
    await pair.at(process_id, "S208")
    # S206: the dated notice, the withdrawal, the notice cleared (issue 15).
    await pair.expect([("old", "panel-message"), ("old", "withdrawal"), ("old", "panel-message"),
                       ("new", "panel-message")],
                      old=NONE, new=replace(GUARDED, panel=MESSAGES["install"]))

    pair.printers["new"].state.replace("black", "contract")
    await pair.completed(process_id)
    await pair.expect([("new", "panel-message"), ("new", "permit-contract-printing"),
                       ("new", "billing-start")], old=NONE, new=BILLING)
    assert len(pair.orders_for("new")) == 1


async def test_reproposal_declined(pair: Pair) -> None:
    """S204 no → S206 at once: the old printer's notice and withdrawal, then the new printer
    permitted and billed (S207 yes → S209, S210)."""
    process_id = await reproposed(pair)
    await pair.answer("re-proposal", "no")
    await pair.completed(process_id)
    await pair.expect([("old", "panel-message"), ("old", "withdrawal"), ("old", "panel-message"),
                       ("new", "permit-contract-printing"), ("new", "billing-start")],
                      old=NONE, new=BILLING)
    assert len(pair.orders_for("new")) == 1


# -- second embodiment: pattern A ------------------------------------------------------------------

@pytest.mark.parametrize("urgent", ["yes", "no"], ids=["urgent", "not-urgent"])
async def test_pattern_a_asks_about_urgency(pair: Pair, urgent: str) -> None:
    """Another model (S121): urgent → S108 the old printer withdrawn at once, S109, S110, S208;
    not urgent → the change plan proposed (not strongly recommended), accepted → S107, S109 with
    the new printer prohibited, S201."""
    process_id = await pair.change(new_model="laser", new_series="LB-100")
    await pair.answer("urgency", urgent)
    if urgent == "yes":
        process = await pair.at(process_id, "S208")
        await pair.expect([("old", "withdrawal"), ("new", "contract-transition"),
                           ("new", "panel-message")],
                          old=NONE, new=replace(NON_BILLING, panel=MESSAGES["install"]))
    else:
        assert (await pair.proposal("change-plan"))["strongly_recommended"] is False
        await pair.answer("change-plan", "yes")
        process = await pair.at(process_id, "S201")
        await pair.expect([("new", "prohibit-contract-printing"),
                           ("new", "contract-transition")], old=BILLING, new=GUARDED)
    assert process["pattern"] == "A"
    await pair.ordered_once(process, "new")


# -- the relay: resynchronisation and order --------------------------------------------------------

@pytest.mark.parametrize(("channel", "first_ip"), [
    pytest.param("poll", "127.0.85.1", id="poll"), pytest.param("push", "127.0.86.1", id="push")])
async def test_a_command_lost_with_an_expired_cursor_comes_with_the_resync(
        tmp_path: Path, channel: str, first_ip: str) -> None:
    """The cloud prunes its change stream past the gateway's cursor, a command among what is
    pruned: the 410 (push: at the handshake) makes the gateway resynchronise, and with
    `listPendingCommands` the command still reaches the printer."""
    async with relay_setup(tmp_path, first_ip, ["inkjet"]) as h:
        configure(h, write_community="private", **FAST)
        inkjet = h.fleet.printers[0]
        async with gateway_in_process(h) as gateway:
            assert gateway.link is not None and gateway.relay is not None
            printer_id = (await printer_ids(h))["inkjet"]
            await issue(h, printer_id, "panel-message", {"message": "Before"})
            await relay_through(gateway)
            assert gateway.link.state.get("cursor") is not None
            lost = await issue(h, printer_id, "contract-transition")
            await h.cloud.prune(times.now() + timedelta(days=8))
            seen = len(h.proxy.requests)
            if channel == "poll":
                await relay_through(gateway)
            else:
                stop = asyncio.Event()
                follow = asyncio.create_task(gateway.link.follow_changes(stop))
                await h.wait_for(lambda: any(p == "/v1/push" and s == 101 for _m, p, s
                                             in h.proxy.requests[seen:]), 10, "push reopened")
                await asyncio.wait_for(gateway.relay.drain(), 30)
                stop.set()
                follow.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follow
            assert gateway.link.sync_due()  # FIG. 7 again for every printer at the next cycle
        requests = [(m, p, s) for m, p, s in h.proxy.requests[seen:]]
        expired = ("GET", "/v1/changes" if channel == "poll" else "/v1/push", 410)
        assert expired in requests
        assert ("GET", "/v1/commands", 200) in requests[requests.index(expired):]
        status = await cloud_command(h, lost["command_id"])
        assert status["state"] == "done", status
        assert status["contract_state"]["mode"] == "contract-non-billing"
        assert (await on_device(inkjet)).mode == "contract-non-billing"


async def test_a_retried_command_is_not_overtaken_by_a_later_one(tmp_path: Path) -> None:
    """A printer offline when a command comes: it is retried with back-off; a later command for
    it, issued when the printer is back, waits for the first — the device ends in the state of
    the command the cloud issued last."""
    async with relay_setup(tmp_path, "127.0.87.1", ["inkjet"]) as h:
        configure(h, write_community="private", **FAST)
        inkjet = h.fleet.printers[0]
        async with gateway_in_process(h) as gateway:
            assert gateway.link is not None and gateway.relay is not None
            printer_id = (await printer_ids(h))["inkjet"]
            await h.fleet.set_unreachable(inkjet, True)
            first = await issue(h, printer_id, "panel-message", {"message": "First"})
            await gateway.link.poll_changes()

            def failed_tries() -> int:
                return sum(r["what"] == "device did not answer"
                           for r in audit(h.data_dir, first["command_id"]))
            # Three tries failed: the next one is a second away (0.3 s, 0.6 s, then 1 s).
            await h.wait_for(lambda: failed_tries() >= 3, 15, "three failed tries")
            await h.fleet.set_unreachable(inkjet, False)
            second = await issue(h, printer_id, "panel-message", {"message": "Second"})
            await gateway.link.poll_changes()
            await asyncio.wait_for(gateway.relay.drain(), 30)
        assert (await on_device(inkjet)).panel == "Second"
        first_status = await cloud_command(h, first["command_id"])
        second_status = await cloud_command(h, second["command_id"])
        assert (first_status["state"], second_status["state"]) == ("done", "done")
        assert first_status["completed_at"] <= second_status["completed_at"]
        sets = [(r["id"], r["command_id"]) for command in (first, second)
                for r in audit(h.data_dir, command["command_id"])
                if r["what"].startswith("SET ")]
        assert [command_id for _id, command_id in sorted(sets)] == [
            first["command_id"], second["command_id"]]
