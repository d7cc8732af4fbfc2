"""The state of a contract process (`cloud.contract_change.Process` runs its steps): what it knows
of its printers, the commands of the current step, persistence as JSON, and the views of it —
among them what it waits for and since when (`waiting_for`, `waiting_since`), so that a process
that waits too long can be shown to the operator.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloud.contract_actions import QUESTIONS, Action, Ask, Close, Describe, Notify, Record
from cloud.contract_readings import Reading

CONTRACT_MODES = ("contract-non-billing", "contract-billing")

SOURCES = ("reported", "member", "product-name")
"""Where a printer's model or series came from (S120): the printers' own uploads
(`supplies.kind`, `supplies.model`), what the member typed, the registered product name."""


@dataclass
class Device:
    """What the cloud knows of a printer's contract state from `done` acknowledgements."""

    printer_id: str
    mode: str
    prohibited: bool = False
    panel: bool = False
    """A panel message of the process is shown (to be cleared)."""
    touched: bool = False
    """A contract transition or billing start was issued to it: whatever the cloud heard back,
    the device may be in contract mode."""

    @property
    def contract_printing(self) -> bool:
        return self.mode in CONTRACT_MODES and not self.prohibited


@dataclass
class Machine:
    """A printer's model (kind of machine) and series, and where each came from (`SOURCES`)."""

    model: str
    series: str
    model_source: str = "member"
    series_source: str = "member"
    reported_model: str | None = None
    """What the printer's own uploads say (`supplies.kind`), kept apart until S120 decides."""
    reported_series: str | None = None
    """What the printer's own uploads say (`supplies.model`), kept apart until S120 decides."""

    def take_reported(self, attribute: str) -> None:
        """Use the reported value of `attribute` (`model` or `series`), when there is one."""
        reported = getattr(self, f"reported_{attribute}")
        if reported is not None:
            setattr(self, attribute, reported)
            setattr(self, f"{attribute}_source", "reported")


@dataclass
class Pending:
    """A command of the current step: waiting to be issued (`command_id` None) or issued."""

    role: str
    kind: str
    parameters: dict[str, Any] = field(default_factory=dict)
    command_id: str | None = None
    attempts: int = 0


@dataclass
class ProcessState:
    process_id: str
    kind: str  # change | contract
    member_id: str
    threshold: int
    retry_delay: float
    machines: dict[str, Machine]
    """By role (`old`, `new`): the model and series S120 compares."""
    max_attempts: int = 5
    """A command failing for a passing reason is issued at most this many times."""
    notice_lead: float = 0.0
    """S206: seconds between the dated termination notice and the withdrawal."""
    time_zone: str = "UTC"
    """The old printer's registered time zone (the notice's date is in it)."""
    new_threshold: int | None = None
    """The threshold of the new printer's contract when it is named later (S111)."""
    old: Device | None = None
    new: Device | None = None
    pattern: str | None = None
    step: str = "S102"
    plan: bool = False
    old_level: int | None = None
    new_cartridge: bool = False
    installations: int = 0
    reproposed: int = 0
    prompted: bool = False
    queue: list[Pending] = field(default_factory=list)
    then: str | None = None
    retry_at: datetime | None = None
    ends_at: datetime | None = None
    """S206: when the change plan ends (the notice names it)."""
    proposal: dict[str, Any] | None = None
    order_id: str | None = None
    ending: str | None = None
    """`cancelled` or `failed` while the process winds down, before `outcome` is set."""
    failure: dict[str, Any] | None = None
    """The command that ended the process: step, kind, printer_id, reason."""
    outcome: str | None = None
    waiting_for: dict[str, Any] | None = None
    waiting_since: datetime | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    # -- persistence ---------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in ("retry_at", "ends_at", "waiting_since"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Any:
        data = dict(data)
        for role in ("old", "new"):
            if data[role] is not None:
                data[role] = Device(**data[role])
        data["machines"] = {role: Machine(**m) for role, m in data["machines"].items()}
        data["queue"] = [Pending(**p) for p in data["queue"]]
        for name in ("retry_at", "ends_at", "waiting_since"):
            if data[name] is not None:
                data[name] = datetime.fromisoformat(data[name])
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

    def device(self, role: str) -> Device:
        device = getattr(self, role)
        assert device is not None, role
        return device

    def _waiting(self) -> dict[str, Any] | None:
        """What the process waits for now (None: nothing, it has ended)."""
        if self.finished:
            return None
        if self.queue:
            head = self.queue[0]
            return {"what": "command", "kind": head.kind,
                    "printer_id": self.device(head.role).printer_id}
        if self.proposal is not None:
            return {"what": "answer", "proposal_kind": self.proposal["kind"]}
        if self.step == "S103-wait":
            return {"what": "new-printer"}
        if self.step == "S206-wait":
            return {"what": "notice-date", "until": self.ends_at.isoformat()
                    if self.ends_at else None}
        if self.step == "S201":
            return {"what": "old-cartridge", "printer_id": self.device("old").printer_id}
        if self.new is not None:  # S208: the contract cartridge in the new printer
            return {"what": "cartridge", "printer_id": self.new.printer_id}
        return {"what": "step", "step": self.step}

    def watch(self, now: datetime) -> None:
        """Note what the process waits for now, and since when."""
        waiting = self._waiting()
        if waiting != self.waiting_for:
            self.waiting_for = waiting
            self.waiting_since = None if waiting is None else now

    # -- helpers of the steps --------------------------------------------------------------------

    def _observe(self, printer_id: str, reading: Reading, now: datetime) -> bool:
        """Take in a reading (no step run); False when the printer is not the process's."""
        role = self.role_of(printer_id)
        if role is None:
            return False
        if role == "old" and reading.level is not None:
            self.old_level = reading.level
        if role == "new" and reading.contract_cartridge is not None:
            if reading.contract_cartridge and not self.new_cartridge:
                self.installations += 1
                if self.step != "S102":  # not what was known before the request
                    self._note(now, "S202", "contract cartridge installed in the new printer")
            self.new_cartridge = reading.contract_cartridge
        machine = self.machines[role]
        if self.step in ("S102", "S103", "S111", "S103-wait", "S120"):  # before S120 decides
            if reading.model is not None:
                machine.reported_model = reading.model
            if reading.series is not None:
                machine.reported_series = reading.series
        return True

    def _finish(self, now: datetime, outcome: str, step: str, detail: str,
                actions: list[Action]) -> None:
        self.outcome, self.step = outcome, "ended"
        self._note(now, step, detail)
        payload = {"outcome": outcome, "detail": detail}
        if self.failure is not None:
            payload["reason"] = self.failure["reason"]
        actions.append(self._notice(f"process-{outcome}", "end", payload))

    def _describe(self, role: str) -> Describe:
        machine = self.machines[role]
        return Describe(self.device(role).printer_id, machine.model, machine.series,
                        machine.model_source, machine.series_source)

    def _local(self, when: datetime) -> str:
        """`when` as the old printer's panel shows it: in its registered time zone."""
        try:
            zone = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


    def _low(self) -> bool:
        return self.old_level is not None and self.old_level <= self.threshold

    def _old_prints(self) -> bool:
        """Whether the old printer may still print under contract (as far as the cloud knows,
        it does until its withdrawal is acknowledged done)."""
        return self.old is not None and self.old.contract_printing

    def _asked(self, step: str, kind: str, actions: list[Action], *,
               strongly: bool = False) -> None:
        """Open the proposal, tell the member, and wait for its answer at `step`."""
        self.proposal = {"proposal_id": str(uuid.uuid4()), "kind": kind,
                         "strongly_recommended": strongly}
        actions.append(Ask(self.proposal["proposal_id"], kind, QUESTIONS[kind], strongly))
        actions.append(self._notice("proposal-opened", self.proposal["proposal_id"], {
            "proposal_id": self.proposal["proposal_id"], "proposal_kind": kind}))
        self.step = step

    def _close(self, state: str, actions: list[Action]) -> None:
        """The open proposal is `answered` or `withdrawn`; the member is told."""
        assert self.proposal is not None
        proposal_id = self.proposal["proposal_id"]
        actions.append(Close(proposal_id, state))
        actions.append(self._notice("proposal-closed", proposal_id, {
            "proposal_id": proposal_id, "state": state}))
        self.proposal = None

    def _prompt(self, role: str, prompt: str, message: str, actions: list[Action]) -> None:
        printer_id = self.device(role).printer_id
        # The history's length tells the occurrences apart (S205 may ask again).
        actions.append(self._notice("prompt", f"{prompt}:{printer_id}:{len(self.history)}", {
            "printer_id": printer_id, "prompt": prompt, "message": message}))

    def _notice(self, kind: str, what: str, payload: dict[str, Any]) -> Notify:
        return Notify(kind, {"process_id": self.process_id, **payload},
                      f"{self.process_id}:{kind}:{what}")

    def _commands(self, then: str, *commands: tuple[Any, ...]) -> None:
        """Queue the step's commands (role, kind[, parameters]); `then` once all are done."""
        self.queue = [Pending(c[0], c[1], dict(c[2]) if len(c) > 2 else {}) for c in commands]
        self.then = then

    def _record(self, device: Device) -> Record:
        flag = "confirmed" if device.mode in CONTRACT_MODES else "unconfirmed"
        return Record(device.printer_id, flag, device.mode, device.prohibited)

    def _note(self, now: datetime, step: str, detail: str) -> None:
        self.history.append({"step": step, "at": now.isoformat(), "detail": detail})
