"""The contract processes of Brother JP7545664B2 (FIG. 5-7) as a pure state machine: no I/O, no
clock, no database.  `cloud.contract_store` persists a `Process` (its `to_json()`, the state in
`cloud.contract_process`) after every event, carries out the `Action`s it returns (commands,
proposals, orders, records, notices to the member) and feeds it the gateway's acknowledgements
and the uploaded readings (`cloud.contract_readings`); a restart resumes at the stored step.

Two kinds of process:

- `change` (FIG. 5-7): S102 request; S103 new printer obtained? (no: S111 ask, S112 withdraw);
  S120 change pattern A/B/C (second embodiment) from the printers' reported machine and
  cartridge series (the member's typed model and series, or the product name, only where a
  printer has not reported them); S104 register the new printer `unconfirmed`; S105/S106
  propose the change plan (skipped when the old contract cartridge is already at or below the
  threshold, and for pattern C; pattern A asks about urgency first, pattern B recommends the plan
  strongly); S107 keep the old printer or S108 withdraw it; S109 transition the new printer;
  S110 order contract cartridges; then, with a plan, S201-S205 (watch the old remaining amount,
  re-propose when a contract cartridge appears in the new printer, prohibit it there); S206 a
  dated termination notice on the old printer's panel, the withdrawal at that date, the panel
  cleared; S207/S208 prompt for the cartridge; S209 billing start; S210 end.
- `contract` (a first contract): S104, S109, S110, S207-S210 for one printer.

A printer is judged on its latest reading as soon as it joins (at the request, or when named
after S111).  The member is told of every proposal opened and closed, every prompt (install the
contract cartridge, remove it), the new printer's confirmation and the end (`Notify`).

Commands go out one at a time: the next is issued only when the previous one is acknowledged
`done`, so that order on the device is the order here whatever the transport.  A command
`refused` or `failed` for a reason the device cannot get past (`PERMANENT`) ends the process as
`failed`; any other failure (or expiry) is issued again with back-off, up to `max_attempts`, then
ends it the same way.  The member or the operator may `cancel` an unfinished process.

Ending early (`failed`, `cancelled`) winds the process down (`wind-down`): a command in flight
is awaited (not issued again), then the new printer is withdrawn if it is in contract mode —
always when cancelled, and when failed while the old printer is still in contract mode (so the
new one is never left in contract mode next to an old one that may print; it stays prohibited
until its withdrawal is done) — then permitted and its panel cleared; the old printer keeps its
contract if it was not withdrawn yet (S112 without the new printer), its panel cleared.  A
wind-down command that cannot be done ends the process where it is: nothing after it is
issued, so a permission never follows a withdrawal that was not done.

Each step is a method, named in the table `STEPS` (in the order of the flowcharts); the
answers to proposals lead on as `ANSWERS` says.

Invariants (checked by tests/cloud/test_contract_change_property.py): contract printing (contract
mode and not prohibited) is never enabled on both printers: the new printer is prohibited
*before* its transition while the old one may still print, and permitted only after the old
one's withdrawal is done; billing starts only on a printer whose transition is done
(`confirmed`); every completed change has withdrawn the old printer; a cancelled process leaves
the new printer out of contract mode, a failed one never leaves it in contract mode next to an
old printer in contract mode.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from cloud.contract_actions import MESSAGES, Action, Issue, Order
from cloud.contract_process import CONTRACT_MODES, Device, Machine, Pending, ProcessState
from cloud.contract_readings import Reading

__all__ = ["ANSWERS", "PERMANENT", "STEPS", "Process", "new_change", "new_contract"]

ANSWERS: dict[str, tuple[str, str, str]] = {
    # proposal kind: (the step it answers, the next step on yes, on no)
    "cancel-after-new-device": ("S111", "S103-wait", "S112"),
    "urgency": ("S120", "S108", "S105"),
    "change-plan": ("S106", "S107", "S108"),
    "re-proposal": ("S204", "S205", "S206"),
}

PERMANENT = frozenset({"contract-unsupported", "unsupported-command", "invalid-parameters",
                       "malformed-command"})
"""Reasons of a `refused` or `failed` acknowledgement that no retry gets past.  The cloud's
guard (`contract-conflict`, `cloud.commands.issue_for_process`) is not among them: what is in
the way (an operator's command still open) passes, so it is retried like a device's failure."""
MAX_BACKOFF = 3600.0
"""Seconds: the longest pause before a failed command is issued again."""


class Process(ProcessState):
    # -- events --------------------------------------------------------------------------------

    def start(self, now: datetime, readings: dict[str, Reading] | None = None) -> list[Action]:
        """S102 (or a first contract's request), its printers' latest readings known."""
        for printer_id, reading in (readings or {}).items():
            self._observe(printer_id, reading, now)
        self._note(now, "S102" if self.kind == "change" else "request",
                   "contract change requested" if self.kind == "change" else "contract requested")
        self.step = "S103" if self.kind == "change" else "S104"
        return self._advance(now)

    def can_name_new_printer(self) -> bool:
        return self.kind == "change" and self.new is None and self.step in ("S111", "S103-wait")

    def name_new_printer(self, printer_id: str, machine: Machine, now: datetime,
                         reading: Reading | None = None) -> list[Action]:
        """S103 again: the member names the new printer once it has arrived (after S111); it
        is judged on its latest `reading` at once."""
        if not self.can_name_new_printer():
            raise ValueError("the process does not wait for a new printer")
        actions: list[Action] = []
        if self.proposal is not None:
            self._close("withdrawn", actions)
        self.new = Device(printer_id, "non-contract")
        self.machines["new"] = machine
        self._note(now, "S103", f"new printer {printer_id} obtained")
        if reading is not None:
            self._observe(printer_id, reading, now)
        self.step = "S120"
        return actions + self._advance(now)

    def answer(self, proposal_id: str, yes: bool, now: datetime) -> list[Action]:
        if self.proposal is None or self.proposal["proposal_id"] != proposal_id:
            raise ValueError("not the open proposal of this process")
        kind = self.proposal["kind"]
        actions: list[Action] = []
        self._close("answered", actions)
        answered, if_yes, if_no = ANSWERS[kind]
        self._note(now, answered, f"{kind} answered {'yes' if yes else 'no'}")
        if kind == "re-proposal":
            self.reproposed = self.installations
        self.step = if_yes if yes else if_no
        return actions + self._advance(now)

    def cancel(self, by: str, now: datetime) -> list[Action]:
        """The member or the operator cancels the process: it winds down (module docstring)."""
        if self.finished or self.ending is not None:
            raise ValueError("the process has ended or is ending")
        actions: list[Action] = []
        if self.proposal is not None:
            self._close("withdrawn", actions)
        self._note(now, self.step, f"cancelled by the {by}")
        head = self.queue[0] if self.queue else None
        self.queue = [head] if head is not None and head.command_id is not None else []
        self.retry_at = None
        self.ending, self.then = "cancelled", "wind-down"
        return actions + self._advance(now)

    def command_finished(self, command_id: str, result: str, reason: str | None,
                         now: datetime) -> list[Action]:
        """A final acknowledgement (`done`, `refused`, `failed`) or `expired`."""
        if not self.queue or self.queue[0].command_id != command_id:
            return []  # an earlier attempt, or not ours
        head = self.queue[0]
        if result != "done":
            return self._not_done(head, result, reason, now)
        device = self.device(head.role)
        self.queue.pop(0)
        actions: list[Action] = []
        if head.kind == "withdrawal":
            device.mode = "non-contract"
            if head.role == "old":
                self._prompt("old", "remove-cartridge", MESSAGES["remove-old"], actions)
        elif head.kind == "contract-transition":
            device.mode = head.parameters["mode"]
            actions.append(self._notice("process-confirmed", device.printer_id, {
                "printer_id": device.printer_id}))
        elif head.kind == "billing-start":
            device.mode = "contract-billing"
        elif head.kind in ("prohibit-contract-printing", "permit-contract-printing"):
            device.prohibited = head.kind == "prohibit-contract-printing"
        else:
            device.panel = bool(head.parameters["message"])
        self._note(now, self.step, f"{head.kind} on the {head.role} printer done")
        if head.kind != "panel-message":
            actions.append(self._record(device))
        return actions + self._advance(now)

    def reading(self, printer_id: str, reading: Reading, now: datetime) -> list[Action]:
        """An uploaded reading of one of the process's printers (others are ignored)."""
        return self._advance(now) if self._observe(printer_id, reading, now) else []

    def tick(self, now: datetime) -> list[Action]:
        """Time passed: a command waiting for its retry may be issued again, a notice date
        may have come."""
        return self._advance(now)

    # -- what the events do --------------------------------------------------------------------

    def _not_done(self, head: Pending, result: str, reason: str | None,
                  now: datetime) -> list[Action]:
        head.command_id = None
        what = f"{head.kind} on the {head.role} printer {result}{': ' + reason if reason else ''}"
        if self.ending is not None and self.then == "wind-down":
            self.queue.pop(0)  # in flight when the process was cancelled: not issued again
            self._note(now, self.step, f"{what}; not issued again")
            return self._advance(now)
        if reason in PERMANENT or head.attempts >= self.max_attempts:
            self._note(now, self.step, f"{what}; the process ends")
            self.failure = {"step": self.step, "kind": head.kind,
                            "printer_id": self.device(head.role).printer_id,
                            "reason": reason or result}
            self.queue = []
            # A wind-down command that cannot be done ends the process where it is.
            self.then = "ended" if self.ending is not None else "wind-down"
            self.ending = self.ending or "failed"
            return self._advance(now)
        delay = min(self.retry_delay * 2 ** (head.attempts - 1), MAX_BACKOFF)
        self.retry_at = now + timedelta(seconds=delay)
        self._note(now, self.step, f"{what}; issued again")
        return self._advance(now)

    def _advance(self, now: datetime) -> list[Action]:
        actions = self._run(now)
        self.watch(now)
        return actions

    def _run(self, now: datetime) -> list[Action]:
        actions: list[Action] = []
        while not self.finished:
            if self.queue:
                head = self.queue[0]
                if head.command_id is not None:
                    return actions
                if self.retry_at is not None and now < self.retry_at:
                    return actions
                self.retry_at = None
                head.command_id = str(uuid.uuid4())
                head.attempts += 1
                if head.kind in ("contract-transition", "billing-start"):
                    self.device(head.role).touched = True
                actions.append(Issue(head.command_id, self.device(head.role).printer_id,
                                     head.kind, dict(head.parameters)))
                return actions
            if self.then is not None:
                self.step, self.then = self.then, None
            if self.proposal is not None:
                if not self._low() or self.step not in ("S106", "S204"):
                    return actions
                # The old cartridge ran out while the member was deciding: the question is moot.
                self._close("withdrawn", actions)
                self._note(now, "S201", "old contract cartridge at or below the threshold; "
                           "proposal withdrawn")
                self.step = "S108" if self.step == "S106" else "S206"
            run = STEPS.get(self.step)
            # False: the step waits for something outside (the steps waiting for an answer,
            # S106, S111, S121 asked and S204, have nothing to run).
            if run is None or not run(self, now, actions):
                return actions
        return actions

    # -- the steps, as `STEPS` names them ------------------------------------------------------

    def _new_printer_obtained(self, now: datetime, actions: list[Action]) -> bool:
        if self.new is not None:
            self.step = "S120"
        else:
            self._asked("S111", "cancel-after-new-device", actions)
        return True

    def _new_printer_named(self, now: datetime, actions: list[Action]) -> bool:
        if self.new is None:
            return False
        self.step = "S120"
        return True

    def _withdraw_without_new_printer(self, now: datetime, actions: list[Action]) -> bool:
        self._commands("end", ("old", "withdrawal"))
        return True

    def _change_pattern(self, now: datetime, actions: list[Action]) -> bool:
        """Like is compared with like: the printers' reports when both reported (per model and
        series), else what was typed (or the product names) for both."""
        old, new = self.machines["old"], self.machines["new"]
        for attribute in ("model", "series"):
            if all(getattr(m, f"reported_{attribute}") is not None for m in (old, new)):
                old.take_reported(attribute)
                new.take_reported(attribute)
        self.pattern = "A" if new.model != old.model else \
            "B" if new.series != old.series else "C"
        self._note(now, "S120", f"change pattern {self.pattern}: model {old.model} "
                   f"({old.model_source}) to {new.model} ({new.model_source}), series "
                   f"{old.series} ({old.series_source}) to {new.series} ({new.series_source})")
        actions += [self._describe("old"), self._describe("new")]
        self.step = "S104"
        return True

    def _register_unconfirmed(self, now: datetime, actions: list[Action]) -> bool:
        assert self.new is not None
        actions.append(self._record(self.new))
        self._note(now, "S104", f"printer {self.new.printer_id} registered unconfirmed")
        if self.kind == "contract":
            for attribute in ("model", "series"):
                self.machines["new"].take_reported(attribute)
            actions.append(self._describe("new"))
            self.step = "S109"
        elif self.pattern == "C":
            self._note(now, "S123", "same model and series: urgent, no change plan")
            self.step = "S108"
        elif self.pattern == "A":
            self.step = "S121"
        else:
            self.step = "S105"
        return True

    def _ask_urgency(self, now: datetime, actions: list[Action]) -> bool:
        if self.proposal is not None:
            return False
        self._asked("S121", "urgency", actions)
        return True

    def _propose_change_plan(self, now: datetime, actions: list[Action]) -> bool:
        if self._low():
            self._note(now, "S105", "old contract cartridge already at or below the "
                       "threshold: no change plan")
            self.step = "S108"
        else:
            self._asked("S106", "change-plan", actions, strongly=self.pattern == "B")
        return True

    def _establish_plan(self, now: datetime, actions: list[Action]) -> bool:
        self.plan = True
        self._note(now, "S107", "change plan established: the old printer keeps its "
                   "contract mode")
        self.step = "S109"
        return True

    def _withdraw_old_printer(self, now: datetime, actions: list[Action]) -> bool:
        self._commands("S109", ("old", "withdrawal"))
        return True

    def _transition_new_printer(self, now: datetime, actions: list[Action]) -> bool:
        assert self.new is not None
        guard = [("new", "prohibit-contract-printing")] \
            if self._old_prints() and not self.new.prohibited else []
        self._commands("S110", *guard,
                       ("new", "contract-transition", {"mode": "contract-non-billing"}))
        return True

    def _order_cartridges(self, now: datetime, actions: list[Action]) -> bool:
        assert self.new is not None
        self.order_id = str(uuid.uuid4())
        actions.append(Order(self.order_id, self.new.printer_id))
        self._note(now, "S110", "contract cartridges ordered")
        self.step = "S201" if self.plan else "S207"
        return True

    def _watch_old_cartridge(self, now: datetime, actions: list[Action]) -> bool:
        if self._low():
            self._note(now, "S201", "old contract cartridge at or below the threshold")
            self.step = "S206"
        elif self.new_cartridge and self.installations > self.reproposed:
            self.step = "S203"
        else:
            return False
        return True

    def _repropose(self, now: datetime, actions: list[Action]) -> bool:
        self._asked("S204", "re-proposal", actions)
        return True

    def _keep_old_printer(self, now: datetime, actions: list[Action]) -> bool:
        assert self.new is not None
        prohibit = [] if self.new.prohibited else [("new", "prohibit-contract-printing")]
        self._prompt("new", "remove-cartridge", MESSAGES["remove"], actions)
        self._commands("S201", *prohibit, ("new", "panel-message",
                                           {"message": MESSAGES["remove"]}))
        return True

    def _give_notice(self, now: datetime, actions: list[Action]) -> bool:
        """S206: the dated termination notice, `notice_lead` ahead of the withdrawal."""
        old = self.device("old")
        self.ends_at = now + timedelta(seconds=self.notice_lead)
        ends = self._local(self.ends_at)
        actions.append(self._notice("termination-notice", old.printer_id, {
            "printer_id": old.printer_id, "ends_at": self.ends_at.isoformat()}))
        self._note(now, "S206", f"termination notice: the change plan ends on {ends}")
        self._commands("S206-wait", ("old", "panel-message",
                                     {"message": MESSAGES["plan-ends"].format(ends=ends)}))
        return True

    def _withdraw_at_notice_date(self, now: datetime, actions: list[Action]) -> bool:
        assert self.ends_at is not None
        if now < self.ends_at:
            return False
        self._commands("S207", ("old", "withdrawal"), ("old", "panel-message", {"message": ""}))
        return True

    def _cartridge_installed(self, now: datetime, actions: list[Action]) -> bool:
        self.step = "S209" if self.new_cartridge else "S208"
        return True

    def _prompt_for_cartridge(self, now: datetime, actions: list[Action]) -> bool:
        if self.new_cartridge:
            self.step = "S209"
        elif not self.prompted:
            self.prompted = True
            self._prompt("new", "install-cartridge", MESSAGES["install"], actions)
            self._commands("S208", ("new", "panel-message", {"message": MESSAGES["install"]}))
        else:
            return False
        return True

    def _start_billing(self, now: datetime, actions: list[Action]) -> bool:
        assert self.new is not None
        clear = [("new", "panel-message", {"message": ""})] if self.new.panel else []
        permit = [("new", "permit-contract-printing")] if self.new.prohibited else []
        self._commands("S210", *clear, *permit, ("new", "billing-start"))
        return True

    def _complete(self, now: datetime, actions: list[Action]) -> bool:
        self._finish(now, "completed", "S210", "change plan ended" if self.kind == "change"
                     else "contract in force", actions)
        return True

    def _cancel(self, now: datetime, actions: list[Action]) -> bool:
        self._finish(now, "cancelled", "S112", "contract cancelled without a new printer",
                     actions)
        return True

    def _wind_down(self, now: datetime, actions: list[Action]) -> bool:
        """A cancelled or failed process puts its printers back (module docstring)."""
        commands: list[tuple[str, ...] | tuple[str, str, dict[str, str]]] = []
        new, old_contract = self.new, self.old is not None and self.old.mode in CONTRACT_MODES
        if new is not None:
            # In contract mode, or perhaps (a transition failed or in flight may have been
            # applied): withdrawn, unless failed with the old printer already out of contract.
            maybe = new.mode in CONTRACT_MODES or new.prohibited or new.touched
            withdraw = maybe and (self.ending == "cancelled" or old_contract)
            if withdraw:
                commands.append(("new", "withdrawal"))
            out = withdraw or new.mode not in CONTRACT_MODES
            # Permitted only once surely out of contract mode, or with no old printer printing.
            if new.prohibited and (withdraw or (out and not old_contract)):
                commands.append(("new", "permit-contract-printing"))
            if new.panel and out:
                commands.append(("new", "panel-message", {"message": ""}))
        if self.old is not None and self.old.panel:
            commands.append(("old", "panel-message", {"message": ""}))
        self._commands("ended", *commands)
        return True

    def _end_early(self, now: datetime, actions: list[Action]) -> bool:
        assert self.ending is not None
        failure = self.failure
        detail = "cancelled" if failure is None else (
            f"failed: {failure['kind']} on printer {failure['printer_id']} at "
            f"{failure['step']}: {failure['reason']}")
        self._finish(now, self.ending, "ended", detail, actions)
        return True



STEPS: dict[str, Callable[[Process, datetime, list[Action]], bool]] = {
    # The request (S102 is `start`) and the new printer.
    "S103": Process._new_printer_obtained,  # obtained? no: S111 asks to wait for it
    "S103-wait": Process._new_printer_named,  # S111 yes: until the member names it
    "S112": Process._withdraw_without_new_printer,  # S111 no: withdraw the old one, then end
    "S120": Process._change_pattern,  # A: other model, B: other series, C: the same
    "S104": Process._register_unconfirmed,  # the new printer's record, then by pattern:
    "S121": Process._ask_urgency,  # A: urgent? (yes: S108, no: S105)
    "S105": Process._propose_change_plan,  # S106 asks (B: strongly), unless already low
    # Keep or withdraw the old printer; transition the new one; order its cartridges.
    "S107": Process._establish_plan,  # S106 yes: the old printer keeps printing
    "S108": Process._withdraw_old_printer,  # S106 no, urgent, C, or already low
    "S109": Process._transition_new_printer,  # prohibited first while the old one prints
    "S110": Process._order_cartridges,  # with a plan: S201, without: S207
    # The change plan: watch the old cartridge, re-propose, withdraw the old printer.
    "S201": Process._watch_old_cartridge,  # low: S206; a new contract cartridge: S203
    "S203": Process._repropose,  # S204 asks (yes: S205, no: S206)
    "S205": Process._keep_old_printer,  # prohibit the new printer, ask for the cartridge out
    "S206": Process._give_notice,  # the dated notice on the old printer's panel
    "S206-wait": Process._withdraw_at_notice_date,  # then the withdrawal, the panel cleared
    # The new printer's cartridge, billing, the end.
    "S207": Process._cartridge_installed,  # yes: S209, no: S208
    "S208": Process._prompt_for_cartridge,  # once, then until it is installed
    "S209": Process._start_billing,  # permitted again, panel cleared, billing
    "S210": Process._complete,
    "end": Process._cancel,  # after S112's withdrawal
    # Ending early: cancelled by the member or the operator, or a command that cannot be done.
    "wind-down": Process._wind_down,  # the new printer out of contract mode, panels cleared
    "ended": Process._end_early,  # outcome `cancelled` or `failed`, the member told
}


def new_change(process_id: str, member_id: str, *, old_printer: str, old_mode: str,
               old_prohibited: bool, old_machine: Machine, new_machine: Machine,
               new_printer: str | None, threshold: int, retry_delay: float,
               max_attempts: int = 5, notice_lead: float = 0.0, time_zone: str = "UTC",
               new_threshold: int | None = None) -> Process:
    """A change of contract machine from `old_printer` (confirmed, in `old_mode`) to
    `new_printer` (None: not obtained yet, S103 no).  The machines are what is known before
    the printers' readings (the member's typed model and series, the product name)."""
    return Process(process_id, "change", member_id, threshold, retry_delay,
                   {"old": old_machine, "new": new_machine}, max_attempts=max_attempts,
                   notice_lead=notice_lead, time_zone=time_zone, new_threshold=new_threshold,
                   old=Device(old_printer, old_mode, old_prohibited),
                   new=None if new_printer is None else Device(new_printer, "non-contract"))


def new_contract(process_id: str, member_id: str, *, printer_id: str, machine: Machine,
                 threshold: int, retry_delay: float, max_attempts: int = 5) -> Process:
    """A first contract for `printer_id`."""
    return Process(process_id, "contract", member_id, threshold, retry_delay,
                   {"new": machine}, max_attempts=max_attempts,
                   new=Device(printer_id, "non-contract"))
