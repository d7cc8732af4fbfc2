"""The contract processes of Brother JP7545664B2 (FIG. 5-7) as a pure state machine: no I/O, no
clock, no database.  `cloud.contract_store` persists a `Process` (its `to_json()`) after every
event, issues the `Action`s it returns through the command machinery, and feeds it the gateway's
acknowledgements and the uploaded cartridge data; a restart therefore resumes at the stored step.

Two kinds of process:

- `change` (FIG. 5-7): S102 request; S103 new printer obtained? (no: S111 ask, S112 withdraw);
  S120 change pattern A/B/C (second embodiment); S104 register the new printer `unconfirmed`;
  S105/S106 propose the change plan (skipped when the old contract cartridge is already at or
  below the threshold, and for pattern C; pattern A asks about urgency first, pattern B
  recommends the plan strongly); S107 keep the old printer or S108 withdraw it; S109 transition
  the new printer; S110 order contract cartridges; then, with a plan, S201-S205 (watch the old
  remaining amount, re-propose when a contract cartridge appears in the new printer, prohibit it
  there); S206 withdraw the old printer; S207/S208 prompt for the cartridge; S209 billing start;
  S210 end.
- `contract` (a first contract): S104, S109, S110, S207-S210 for one printer.

Commands go out one at a time: the next is issued only when the previous one is acknowledged
`done`, so that order on the device is the order here whatever the transport.  A `refused`,
`failed` or expired command is issued again after `retry_delay` (recorded with its reason): the
withdrawal of the old printer is not optional.

Each step is a method, named in the table `STEPS` (in the order of the flowcharts); the
answers to proposals lead on as `ANSWERS` says.

Invariants (checked by tests/cloud/test_contract_change_property.py): contract printing (contract
mode and not prohibited) is never enabled on both printers: the new printer is prohibited
*before* its transition while the old one may still print, and permitted only after the old
one's withdrawal is done; billing starts only on a printer whose transition is done
(`confirmed`); every finished change has withdrawn the old printer.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cloud.contract_actions import MESSAGES, QUESTIONS, Action, Ask, Close, Issue, Order, Record

CONTRACT_MODES = ("contract-non-billing", "contract-billing")

ANSWERS: dict[str, tuple[str, str, str]] = {
    # proposal kind: (the step it answers, the next step on yes, on no)
    "cancel-after-new-device": ("S111", "S103-wait", "S112"),
    "urgency": ("S120", "S108", "S105"),
    "change-plan": ("S106", "S107", "S108"),
    "re-proposal": ("S204", "S205", "S206"),
}


# -- the process -----------------------------------------------------------------------------------

@dataclass
class Device:
    """What the cloud knows of a printer's contract state from `done` acknowledgements."""

    printer_id: str
    mode: str
    prohibited: bool = False

    @property
    def contract_printing(self) -> bool:
        return self.mode in CONTRACT_MODES and not self.prohibited


@dataclass
class Pending:
    """A command of the current step: waiting to be issued (`command_id` None) or issued."""

    role: str
    kind: str
    parameters: dict[str, Any] = field(default_factory=dict)
    command_id: str | None = None
    attempts: int = 0


@dataclass
class Process:
    process_id: str
    kind: str  # change | contract
    member_id: str
    threshold: int
    retry_delay: float
    new_model: str
    new_series: str
    old: Device | None = None
    new: Device | None = None
    old_model: str | None = None
    old_series: str | None = None
    pattern: str | None = None
    step: str = "S102"
    plan: bool = False
    old_level: int | None = None
    new_cartridge: bool = False
    installations: int = 0
    reproposed: int = 0
    prompted: bool = False
    panel: bool = False
    queue: list[Pending] = field(default_factory=list)
    then: str | None = None
    retry_at: datetime | None = None
    proposal: dict[str, Any] | None = None
    order_id: str | None = None
    outcome: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    # -- persistence ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["retry_at"] = self.retry_at.isoformat() if self.retry_at else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Process:
        data = dict(data)
        for role in ("old", "new"):
            if data[role] is not None:
                data[role] = Device(**data[role])
        data["queue"] = [Pending(**p) for p in data["queue"]]
        if data["retry_at"] is not None:
            data["retry_at"] = datetime.fromisoformat(data["retry_at"])
        return cls(**data)

    # -- views ---------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    @property
    def printers(self) -> list[str]:
        return [d.printer_id for d in (self.old, self.new) if d is not None]

    def awaited_command(self) -> str | None:
        return self.queue[0].command_id if self.queue else None

    def role_of(self, printer_id: str) -> str | None:
        for role in ("old", "new"):
            device = getattr(self, role)
            if device is not None and device.printer_id == printer_id:
                return role
        return None

    # -- events --------------------------------------------------------------------------------

    def start(self, now: datetime) -> list[Action]:
        self._note(now, "S102" if self.kind == "change" else "request",
                   "contract change requested" if self.kind == "change" else "contract requested")
        self.step = "S103" if self.kind == "change" else "S104"
        return self._advance(now)

    def can_name_new_printer(self) -> bool:
        return self.kind == "change" and self.new is None and self.step in ("S111", "S103-wait")

    def name_new_printer(self, printer_id: str, now: datetime) -> list[Action]:
        """S103 again: the member names the new printer once it has arrived (after S111)."""
        if not self.can_name_new_printer():
            raise ValueError("the process does not wait for a new printer")
        actions: list[Action] = []
        if self.proposal is not None:
            actions.append(Close(self.proposal["proposal_id"], "withdrawn"))
            self.proposal = None
        self.new = Device(printer_id, "non-contract")
        self._note(now, "S103", f"new printer {printer_id} obtained")
        self.step = "S120"
        return actions + self._advance(now)

    def answer(self, proposal_id: str, yes: bool, now: datetime) -> list[Action]:
        if self.proposal is None or self.proposal["proposal_id"] != proposal_id:
            raise ValueError("not the open proposal of this process")
        kind = self.proposal["kind"]
        self.proposal = None
        answered, if_yes, if_no = ANSWERS[kind]
        self._note(now, answered, f"{kind} answered {'yes' if yes else 'no'}")
        if kind == "re-proposal":
            self.reproposed = self.installations
        self.step = if_yes if yes else if_no
        return [Close(proposal_id, "answered"), *self._advance(now)]

    def command_finished(self, command_id: str, result: str, reason: str | None,
                         now: datetime) -> list[Action]:
        """A final acknowledgement (`done`, `refused`, `failed`) or `expired`."""
        if not self.queue or self.queue[0].command_id != command_id:
            return []  # an earlier attempt, or not ours
        head = self.queue[0]
        device = self.device(head.role)
        if result != "done":
            head.command_id = None
            self.retry_at = now + timedelta(seconds=self.retry_delay)
            self._note(now, self.step, f"{head.kind} on the {head.role} printer {result}"
                       f"{': ' + reason if reason else ''}; issued again")
            return self._advance(now)
        self.queue.pop(0)
        if head.kind == "withdrawal":
            device.mode = "non-contract"
        elif head.kind == "contract-transition":
            device.mode = head.parameters["mode"]
        elif head.kind == "billing-start":
            device.mode = "contract-billing"
        elif head.kind in ("prohibit-contract-printing", "permit-contract-printing"):
            device.prohibited = head.kind == "prohibit-contract-printing"
        self._note(now, self.step, f"{head.kind} on the {head.role} printer done")
        actions: list[Action] = []
        if head.kind != "panel-message":
            actions.append(self._record(device))
        return actions + self._advance(now)

    def reading(self, printer_id: str, contract_cartridge: bool | None, level: int | None,
                now: datetime) -> list[Action]:
        """Uploaded cartridge data: a contract cartridge installed or not, its remaining
        amount (percent, the lowest of the contract cartridges)."""
        role = self.role_of(printer_id)
        if role == "old" and level is not None:
            self.old_level = level
        if role == "new" and contract_cartridge is not None:
            if contract_cartridge and not self.new_cartridge:
                self.installations += 1
                if self.step != "S102":  # not what was known before the request
                    self._note(now, "S202", "contract cartridge installed in the new printer")
            self.new_cartridge = contract_cartridge
        return self._advance(now) if role is not None else []

    def tick(self, now: datetime) -> list[Action]:
        """Time passed: a command waiting for its retry may be issued again."""
        return self._advance(now)

    # -- the steps -----------------------------------------------------------------------------

    def _advance(self, now: datetime) -> list[Action]:
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
                actions.append(Issue(head.command_id, self.device(head.role).printer_id,
                                     head.kind, dict(head.parameters)))
                return actions
            if self.then is not None:
                self.step, self.then = self.then, None
            if self.proposal is not None:
                if not self._low() or self.step not in ("S106", "S204"):
                    return actions
                # The old cartridge ran out while the member was deciding: the question is moot.
                actions.append(Close(self.proposal["proposal_id"], "withdrawn"))
                self._note(now, "S201", "old contract cartridge at or below the threshold; "
                           "proposal withdrawn")
                self.proposal = None
                self.step = "S108" if self.step == "S106" else "S206"
            if not self._step(now, actions):
                return actions
        return actions

    def _step(self, now: datetime, actions: list[Action]) -> bool:
        """Run the current step (`STEPS`); False when it waits for something outside (the
        steps waiting for an answer, S106, S111, S121 asked and S204, have nothing to run)."""
        run = STEPS.get(self.step)
        return run is not None and run(self, now, actions)

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
        assert self.old is not None
        self.pattern = "A" if self.new_model != self.old_model else \
            "B" if self.new_series != self.old_series else "C"
        self._note(now, "S120", f"change pattern {self.pattern}")
        self.step = "S104"
        return True

    def _register_unconfirmed(self, now: datetime, actions: list[Action]) -> bool:
        assert self.new is not None
        actions.append(self._record(self.new))
        self._note(now, "S104", f"printer {self.new.printer_id} registered unconfirmed")
        if self.kind == "contract":
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
        self.panel = True
        self._commands("S201", *prohibit, ("new", "panel-message",
                                           {"message": MESSAGES["remove"]}))
        return True

    def _withdraw_after_plan(self, now: datetime, actions: list[Action]) -> bool:
        notice = [("old", "panel-message", {"message": MESSAGES["plan-ends"]})] \
            if self.plan else []
        self._commands("S207", *notice, ("old", "withdrawal"))
        return True

    def _cartridge_installed(self, now: datetime, actions: list[Action]) -> bool:
        self.step = "S209" if self.new_cartridge else "S208"
        return True

    def _prompt_for_cartridge(self, now: datetime, actions: list[Action]) -> bool:
        if self.new_cartridge:
            self.step = "S209"
        elif not self.prompted:
            self.prompted = self.panel = True
            self._commands("S208", ("new", "panel-message", {"message": MESSAGES["install"]}))
        else:
            return False
        return True

    def _start_billing(self, now: datetime, actions: list[Action]) -> bool:
        assert self.new is not None
        clear = [("new", "panel-message", {"message": ""})] if self.panel else []
        permit = [("new", "permit-contract-printing")] if self.new.prohibited else []
        self._commands("S210", *clear, *permit, ("new", "billing-start"))
        return True

    def _complete(self, now: datetime, actions: list[Action]) -> bool:
        self.outcome = "completed"
        self.step = "ended"
        self._note(now, "S210", "change plan ended" if self.kind == "change"
                   else "contract in force")
        return True

    def _cancel(self, now: datetime, actions: list[Action]) -> bool:
        self.outcome = "cancelled"
        self.step = "ended"
        self._note(now, "S112", "contract cancelled without a new printer")
        return True

    # -- helpers -------------------------------------------------------------------------------

    def device(self, role: str) -> Device:
        device = getattr(self, role)
        assert device is not None, role
        return device

    def _low(self) -> bool:
        return self.old_level is not None and self.old_level <= self.threshold

    def _old_prints(self) -> bool:
        """Whether the old printer may still print under contract (as far as the cloud knows,
        it does until its withdrawal is acknowledged done)."""
        return self.old is not None and self.old.contract_printing

    def _asked(self, step: str, kind: str, actions: list[Action], *,
               strongly: bool = False) -> None:
        """Open the proposal and wait for its answer at `step`."""
        self.proposal = {"proposal_id": str(uuid.uuid4()), "kind": kind,
                         "strongly_recommended": strongly}
        actions.append(Ask(self.proposal["proposal_id"], kind, QUESTIONS[kind], strongly))
        self.step = step

    def _commands(self, then: str, *commands: tuple[Any, ...]) -> None:
        """Queue the step's commands (role, kind[, parameters]); `then` once all are done."""
        self.queue = [Pending(c[0], c[1], dict(c[2]) if len(c) > 2 else {}) for c in commands]
        self.then = then

    def _record(self, device: Device) -> Record:
        flag = "confirmed" if device.mode in CONTRACT_MODES else "unconfirmed"
        return Record(device.printer_id, flag, device.mode, device.prohibited)

    def _note(self, now: datetime, step: str, detail: str) -> None:
        self.history.append({"step": step, "at": now.isoformat(), "detail": detail})


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
    "S206": Process._withdraw_after_plan,  # the plan ends on the old printer
    # The new printer's cartridge, billing, the end.
    "S207": Process._cartridge_installed,  # yes: S209, no: S208
    "S208": Process._prompt_for_cartridge,  # once, then until it is installed
    "S209": Process._start_billing,  # permitted again, panel cleared, billing
    "S210": Process._complete,
    "end": Process._cancel,  # after S112's withdrawal
}


def new_change(process_id: str, member_id: str, *, old_printer: str, old_mode: str,
               old_prohibited: bool, old_model: str, old_series: str, new_model: str,
               new_series: str, new_printer: str | None, threshold: int,
               retry_delay: float) -> Process:
    """A change of contract machine from `old_printer` (confirmed, in `old_mode`) to
    `new_printer` (None: not obtained yet, S103 no)."""
    return Process(process_id, "change", member_id, threshold, retry_delay, new_model, new_series,
                   old=Device(old_printer, old_mode, old_prohibited), old_model=old_model,
                   old_series=old_series,
                   new=None if new_printer is None else Device(new_printer, "non-contract"))


def new_contract(process_id: str, member_id: str, *, printer_id: str, model: str, series: str,
                 threshold: int, retry_delay: float) -> Process:
    """A first contract for `printer_id`."""
    return Process(process_id, "contract", member_id, threshold, retry_delay, model, series,
                   new=Device(printer_id, "non-contract"))
