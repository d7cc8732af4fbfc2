"""The contract change process (`cloud.contract_change`, the pure core the cloud stores after every
event) under random interleavings of the member's answers, cartridge events, supply levels (in
`supplies.level` or as a `supply-empty` / `threshold-crossed` event), acknowledgements (done /
refused / failed / expired, for a passing reason or one the device cannot get past, a failed
command applied or not), cancels by the member or the operator at any point, and restarts (the
process rebuilt from its stored JSON).  Two simulated printers apply the commands issued.

Invariants: contract printing is never enabled on both printers; billing starts only on a
printer whose contract transition was done (`confirmed`); a completed change has withdrawn the
old printer, a cancelled one has the new printer out of contract mode (unless putting it back
was what could not be done), and every change finishes once the outside world stops
interfering.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cloud.contract_actions import Action, Ask, Close, Issue, Notify, Record
from cloud.contract_change import Process, new_change
from cloud.contract_process import Machine
from cloud.contract_readings import Reading, reading_of

OLD, NEW = "old-printer", "new-printer"


class Printer:
    def __init__(self, mode: str) -> None:
        self.mode, self.prohibited, self.confirmed = mode, False, mode != "non-contract"

    @property
    def contract_printing(self) -> bool:
        return self.mode != "non-contract" and not self.prohibited

    def apply(self, kind: str, parameters: dict[str, Any]) -> None:
        if kind == "billing-start":
            assert self.confirmed and self.mode != "non-contract", "billing, unconfirmed"
            self.mode = "contract-billing"
        elif kind == "contract-transition":
            self.mode, self.confirmed = parameters["mode"], True
        elif kind == "withdrawal":
            self.mode, self.confirmed = "non-contract", False
        elif kind in ("prohibit-contract-printing", "permit-contract-printing"):
            self.prohibited = kind == "prohibit-contract-printing"


class ChangeMachine(RuleBasedStateMachine):
    @initialize(model=st.sampled_from(["inkjet", "laser"]), series=st.sampled_from(["X", "Y"]),
                obtained=st.booleans(), level=st.none() | st.integers(0, 100))
    def request(self, model: str, series: str, obtained: bool, level: int | None) -> None:
        self.now = datetime(2025, 7, 1, tzinfo=UTC)
        self.printers = {OLD: Printer("contract-billing"), NEW: Printer("non-contract")}
        self.commands: dict[str, Issue] = {}
        self.records: list[Record] = []
        self.notices: dict[str, Notify] = {}
        self.process = new_change("p", "m", old_printer=OLD, old_mode="contract-billing",
                                  old_prohibited=False, old_machine=Machine("inkjet", "X"),
                                  new_machine=Machine(model, series),
                                  new_printer=NEW if obtained else None, threshold=10,
                                  retry_delay=30, max_attempts=3, notice_lead=60)
        readings = {} if level is None else {OLD: Reading(True, level)}
        self.take(self.process.start(self.now, readings))

    def take(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Issue):
                self.commands[action.command_id] = action
            elif isinstance(action, Record):
                self.records.append(action)
                assert action.flag == ("confirmed" if action.mode != "non-contract"
                                       else "unconfirmed")
            elif isinstance(action, Notify):
                assert action.key not in self.notices, f"notified twice: {action.key}"
                self.notices[action.key] = action
            assert not isinstance(action, Ask | Close) or self.process.kind == "change"

    # -- the member ----------------------------------------------------------------------------

    @precondition(lambda self: self.process.proposal is not None)
    @rule(yes=st.booleans())
    def answer(self, yes: bool) -> None:
        assert self.process.proposal is not None
        self.take(self.process.answer(self.process.proposal["proposal_id"], yes, self.now))

    @precondition(lambda self: self.process.can_name_new_printer())
    @rule()
    def new_printer_arrives(self) -> None:
        self.take(self.process.name_new_printer(NEW, Machine("inkjet", "Y"), self.now))

    @precondition(lambda self: not self.process.finished and self.process.ending is None)
    @rule(by=st.sampled_from(["member", "operator"]))
    def cancel(self, by: str) -> None:
        self.take(self.process.cancel(by, self.now))

    # -- the gateway ---------------------------------------------------------------------------

    @precondition(lambda self: self.process.awaited_command() is not None)
    @rule(result=st.sampled_from(["done", "done", "done", "refused", "failed", "expired"]),
          applied=st.booleans(), permanent=st.booleans())
    def acknowledge(self, result: str, applied: bool, permanent: bool = False) -> None:
        command = self.commands[self.process.awaited_command() or ""]
        if result == "done" or (result == "failed" and applied and not permanent):
            self.printers[command.printer_id].apply(command.kind, command.parameters)
        reason = None if result in ("done", "expired") else \
            "contract-unsupported" if permanent else "device-unreachable"
        self.take(self.process.command_finished(command.command_id, result, reason, self.now))

    @rule(level=st.integers(0, 100))
    def old_level(self, level: int) -> None:
        self.take(self.process.reading(OLD, Reading(True, level), self.now))

    @rule(event=st.sampled_from(["supply-empty", "threshold-crossed"]),
          threshold=st.integers(0, 50))
    def old_event(self, event: str, threshold: int) -> None:
        """The gateway's event for the old contract cartridge, its level not in the entry."""
        data = {"supplies.cartridge": [{"index": "1.1", "cartridge_type": "contract",
                                        "cartridge_id": "C-1", "cartridge_new": False}]}
        reading = reading_of(data, event, {"supply_index": "1.1",
                                           "threshold_percent": threshold})
        assert reading.level == (0 if event == "supply-empty" else threshold)
        self.take(self.process.reading(OLD, reading, self.now))

    @rule(installed=st.booleans())
    def new_cartridge(self, installed: bool) -> None:
        self.take(self.process.reading(NEW, Reading(installed, 100 if installed else None),
                                       self.now))

    @rule(seconds=st.sampled_from([1, 30, 120]))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self.take(self.process.tick(self.now))

    @rule()
    def restart(self) -> None:
        self.process = Process.from_json(json.loads(json.dumps(self.process.to_json())))

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def never_both_printing(self) -> None:
        printing = [name for name, p in self.printers.items() if p.contract_printing]
        assert len(printing) <= 1, printing

    @invariant()
    def finished_as_its_outcome_says(self) -> None:
        process = self.process
        if not process.finished:
            return
        assert not process.queue and process.proposal is None
        assert process.waiting_for is None
        assert f"p:process-{process.outcome}:end" in self.notices
        if process.outcome == "completed" or process.history[-1]["step"] == "S112":
            assert self.printers[OLD].mode == "non-contract"
        if process.outcome == "cancelled" and process.failure is None:
            assert self.printers[NEW].mode == "non-contract", "cancelled, new in contract mode"
        if process.outcome == "failed":
            assert process.failure is not None
            if process.failure["step"] != "wind-down":  # putting it back was not what failed
                both = [p.mode != "non-contract" for p in self.printers.values()]
                assert not all(both), "failed, the new printer in contract mode next to the old"

    @invariant()
    def watched(self) -> None:
        if not self.process.finished:
            assert self.process.waiting_for is not None
            assert self.process.waiting_since is not None

    def teardown(self) -> None:
        """Then the world behaves: every command done, every answer no, the old cartridge
        empty, a contract cartridge in the new printer; the process must end."""
        if not hasattr(self, "process"):
            return
        self.take(self.process.reading(OLD, Reading(True, 0), self.now))
        for _ in range(50):
            if self.process.finished:
                break
            if self.process.proposal is not None:
                self.answer(False)
            elif self.process.can_name_new_printer():
                self.new_printer_arrives()
            elif self.process.awaited_command() is not None:
                self.acknowledge("done", True)
            else:
                self.new_cartridge(True)
                self.time_passes(120)
            self.never_both_printing()
        assert self.process.finished, self.process.step
        self.finished_as_its_outcome_says()
        if self.process.outcome == "completed":
            new = self.printers[NEW]
            assert (new.mode, new.prohibited, new.confirmed) == ("contract-billing", False, True)


ChangeMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40,
                                           deadline=None)
TestContractChange = ChangeMachine.TestCase
