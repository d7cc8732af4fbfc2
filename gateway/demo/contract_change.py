"""`printgw demo --contract-change`: a change of contract machine on the virtual fleet, to watch.

Once the demo's fleet is registered, two printers with the contract MIB play the member's old
printer A and new printer B.  The demo acts as the member site would, through the cloud's member
API (tag `member` of `protocols/cloud/openapi.yaml`), and as the member would at the printers,
through the fleet's control API:

1. a contract cartridge into A, then a first contract on A (`requestContract`), until it ends;
2. a change of contract machine from A to B (`requestContractChange`; no model or series typed:
   S120 decides the change pattern from what the printers report);
3. every proposal answered automatically (`ANSWERS`: the change plan accepted);
4. once the cloud watches A's contract cartridge (S201), the cartridge drained to 0 %;
5. once A is withdrawn, or B is prompted for a contract cartridge, a contract cartridge into B;
6. then (or once the member is told to take it out) A's empty contract cartridge swapped for a
   commercial one;

until the change process ends.  The process's own history (its steps, as the cloud records them),
the notices the member site is sent and every change of a printer's contract state are printed
as event lines, each with both printers' contract mode as the devices report it.  The demo
reacts to the process's state rather than to a fixed list of steps, so a process with more steps
(notices, prompts, a notice's lead time) is followed too.
A process that does not move for `timeout` seconds (or the whole scenario for `TIMEOUTS` of
them), or ends other than `completed`, fails the demo with what it waited for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
from rich.console import Console
from rich.markup import escape

from gateway.demo.cloud import Operator, PrinterView
from gateway.demo.contract_printers import Machine, Printers, pick
from gateway.demo.errors import DemoError

MEMBER = "member-demo"
"""The member the demo's contracts are for."""
PAGE_LIMIT = 500
ANSWERS = {"change-plan": "yes", "urgency": "no", "re-proposal": "no",
           "cancel-after-new-device": "yes"}
"""The demo's answer to each kind of proposal: keep printing on A until its cartridge runs out
(pattern A: not urgent, so the plan is proposed); a kind not listed here is answered `yes`."""
LOOK_STEP = 0.5
"""Seconds between two looks at the process and the printers."""
TIMEOUTS = 10
"""The whole scenario may take this many `--timeout`s (each step at most one)."""
PAUSE = 3.0
"""Seconds the member takes before each of its steps: time to look at what happened."""
NOTICE_LEAD = 10
"""Seconds between the old printer's dated termination notice (S206) and its withdrawal: long
enough to see it on the panel and the status page, short enough to wait for."""
CLOUD_OPTIONS = ["--contract-notice-lead", str(NOTICE_LEAD)]
"""The reference cloud's options for this demo."""

Until = Callable[[str, Callable[[], Awaitable[Any]]], Awaitable[Any]]


@dataclass
class Progress:
    """What the demo has seen and done of one process."""

    process_id: str
    process: dict[str, Any] = field(default_factory=dict)
    history: int = 0
    last_move: float = field(default_factory=time.monotonic)
    drained: bool = False
    installed: bool = False
    swapped: bool = False
    remove_prompted: bool = False
    """The member was told to take the contract cartridge out of A."""


class ContractChange:
    """The scenario on the demo's running fleet, cloud and gateway (see the module docstring)."""

    def __init__(self, console: Console, session: aiohttp.ClientSession, operator: Operator,
                 control_url: str, status_url: str, printers: list[PrinterView],
                 until: Until, timeout: float) -> None:
        self.console, self.operator, self.until = console, operator, until
        self.status_url, self.timeout = status_url, timeout
        self.printers = Printers(session, control_url, status_url)
        self.a, self.b = pick(printers)
        self.lines = 0
        self.notices: set[str] = set()
        self.started = time.monotonic()

    async def run(self) -> None:
        self.console.print(
            f"Contract change: printer A {self.a.ip} ({escape(self.a.model)}) to printer B "
            f"{self.b.ip} ({escape(self.b.model)}), for {MEMBER}, through the member API; "
            f"watch both on the status page {self.status_url}/ too.\n"
            "Proposals are answered automatically, as the member would: "
            + ", ".join(f"{kind} {answer}" for kind, answer in ANSWERS.items()) + ".",
            soft_wrap=True)
        for machine in (self.a, self.b):
            await self.printers.look(machine)
        await self._cartridge(self.a, "contract", "a contract cartridge put into A")
        await self.until("the gateway reading A's contract cartridge",
                         lambda: self.printers.gateway_read_contract_cartridge(self.a))
        self.event("member", "requestContract: a first contract on A")
        first = await self.operator.call("requestContract", body={
            "member_id": MEMBER, "printer_id": self.a.printer_id, "page_limit": PAGE_LIMIT})
        await self._follow(Progress(str(first["process_id"])), first_contract=True)
        await asyncio.sleep(PAUSE)
        self.event("member", "requestContractChange: the contract from A to B")
        change = await self.operator.call("requestContractChange", body={
            "member_id": MEMBER, "old_printer_id": self.a.printer_id,
            "new_printer_id": self.b.printer_id})
        done = await self._follow(Progress(str(change["process_id"])), first_contract=False)
        await self._summary(done)

    # -- following a process ---------------------------------------------------------------

    async def _follow(self, progress: Progress, *, first_contract: bool) -> dict[str, Any]:
        """Print the process's history, the notices to the member and the printers' changes,
        answer its proposals and act on the printers as its state asks, until it ends; its last
        view."""
        while True:
            process = await self.operator.call("getContractProcess",
                                               path={"process_id": progress.process_id})
            progress.process = process
            changes = [(m, await self.printers.look(m)) for m in (self.a, self.b)]
            for entry in process["history"][progress.history:]:
                self.event(entry["step"], entry["detail"], at=entry["at"])
            moved = len(process["history"]) > progress.history
            progress.history = len(process["history"])
            for machine, before in changes:
                if before is not None and machine.contract is not None:
                    self.event("device", f"{machine.name}'s contract state changed: "
                               f"{before.text()} → {machine.contract.text()}")
                    moved = True
            moved = await self._notices(progress) or moved
            moved = await self._answer_proposals(process) or moved
            if not first_contract:
                moved = await self._act(progress) or moved
            if process["outcome"] is not None:
                if process["outcome"] != "completed":
                    raise DemoError(f"the contract process {progress.process_id} ended "
                                    f"{process['outcome']}: {process['history'][-1]['detail']}")
                return dict(process)
            now = time.monotonic()
            if moved:
                progress.last_move = now
            elif now - progress.last_move > self.timeout:
                raise DemoError(f"the contract process {progress.process_id} did not move for "
                                f"{self.timeout:g} s: {waiting_for(process)}")
            if now - self.started > self.timeout * TIMEOUTS:
                raise DemoError(f"the contract change did not end within "
                                f"{self.timeout * TIMEOUTS:g} s: {waiting_for(process)}")
            await asyncio.sleep(LOOK_STEP)

    async def _notices(self, progress: Progress) -> bool:
        """A line for each new notice to the member (what the member site is sent)."""
        notices = (await self.operator.call("listMemberNotices", params={
            "member_id": MEMBER}))["notices"]
        new = [n for n in notices if n["notice_id"] not in self.notices]
        for notice in new:
            self.notices.add(notice["notice_id"])
            payload = notice["payload"]
            if payload.get("prompt") == "remove-cartridge" \
                    and payload.get("printer_id") == self.a.printer_id:
                progress.remove_prompted = True
            said = [str(payload[key]) for key in ("prompt", "message", "ends_at", "reason")
                    if payload.get(key)]
            self.event("notice", f"to the member site: {notice['kind']}"
                       f"{': ' + '; '.join(said) if said else ''}")
        return bool(new)

    async def _answer_proposals(self, process: dict[str, Any]) -> bool:
        open_ = (await self.operator.call("listProposals", params={
            "member_id": MEMBER, "state": "open"}))["proposals"]
        for proposal in open_:
            answer = ANSWERS.get(proposal["kind"], "yes")
            try:
                await self.operator.call("answerProposal",
                                         path={"proposal_id": proposal["proposal_id"]},
                                         body={"member_id": MEMBER, "answer": answer})
            except DemoError:  # closed meanwhile (withdrawn): nothing to answer
                continue
            strongly = " (strongly recommended)" if proposal["strongly_recommended"] else ""
            self.event(process["step"], f"proposal {proposal['kind']}{strongly} answered "
                       f"{answer} automatically: {proposal['question']}")
        return bool(open_)

    async def _act(self, progress: Progress) -> bool:
        """The member's part at the printers, when the process's state calls for it."""
        process = progress.process
        if process["awaiting_command"] is not None or process["open_proposal"] is not None:
            return False
        if not progress.drained and process["step"] == "S201":
            progress.drained = True
            await asyncio.sleep(PAUSE)
            await self.printers.drain(self.a)
            self.event("member", "A's contract cartridge drained to 0 % (fleet control API)")
            return True
        assert self.a.contract is not None
        a_withdrawn = progress.drained and self.a.contract.mode == "non-contract"
        if not progress.installed and (process["step"] == "S208" or a_withdrawn):
            progress.installed = True
            await asyncio.sleep(PAUSE)
            await self._cartridge(self.b, "contract", "a contract cartridge put into B")
            return True
        if not progress.swapped and progress.drained and (progress.installed
                                                          or progress.remove_prompted):
            progress.swapped = True
            await self._cartridge(self.a, "commercial",
                                  "A's empty contract cartridge swapped for a commercial one")
            return True
        return False

    async def _cartridge(self, machine: Machine, kind: str, what: str) -> None:
        await self.printers.put_cartridge(machine, kind)
        self.event("member", f"{what} (fleet control API)")

    # -- output -----------------------------------------------------------------------------

    def event(self, step: str, what: str, at: str | None = None) -> None:
        """One event line: time, its number, the step, what happened, both printers' mode."""
        self.lines += 1
        clock = datetime.fromisoformat(at).astimezone() if at else datetime.now()
        self.console.print(escape(f"{clock:%H:%M:%S} #{self.lines:<3} {step:<6} {what}  "
                                  f"[A: {self.a.state()} | B: {self.b.state()}]"),
                           soft_wrap=True)

    async def _summary(self, process: dict[str, Any]) -> None:
        """The end: the devices', the cloud's and the status page's view of both printers."""
        elapsed = time.monotonic() - self.started
        records = {}
        for machine in (self.a, self.b):
            await self.printers.look(machine)
            records[machine.name] = await self.operator.call(
                "getPrinterContract", path={"printer_id": machine.printer_id})
        page = await self.until("the status page showing both printers' final contract mode",
                                lambda: self.printers.page_shows((self.a, self.b)))
        self.console.print(f"Contract change completed in {elapsed:.0f} s "
                           f"({len(process['history'])} steps, pattern {process['pattern']}, "
                           f"ended at {process['history'][-1]['step']}).")
        for machine in (self.a, self.b):
            assert machine.contract is not None
            record = records[machine.name]
            self.console.print(escape(
                f"  {machine.name} {machine.ip} {machine.serial}: device "
                f"{machine.contract.text()}; cloud {record['flag']} {record['mode']}; "
                f"status page {page[machine.name]}"), soft_wrap=True)


def waiting_for(process: dict[str, Any]) -> str:
    """What a process waits for, in words."""
    command = process["awaiting_command"]
    if command is not None:
        return (f"at {process['step']}, waiting for the gateway to apply {command['kind']} "
                f"(attempt {command['attempts']})")
    if process["open_proposal"] is not None:
        return f"at {process['step']}, waiting for the member's answer to a proposal"
    waiting = process.get("waiting_for")
    if waiting:
        told = ", ".join(f"{key} {value}" for key, value in waiting.items() if key != "what")
        return f"at {process['step']}, waiting for {waiting.get('what')}" + \
            (f" ({told})" if told else "")
    return f"at {process['step']}, waiting for a reading of the printers"
