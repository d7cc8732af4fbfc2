"""The contract change process (`cloud.contract_change`, the pure core the cloud stores after every
event) under random interleavings of the member's answers, cartridge events, supply levels,
acknowledgements (done / refused / failed, a failed command applied or not) and restarts (the
process rebuilt from its stored JSON).  Two simulated printers apply the commands issued.

Invariants: contract printing is never enabled on both printers; billing starts only on a
printer whose contract transition was done (`confirmed`); a finished change has withdrawn the
old printer, and every change finishes once the outside world stops interfering.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cloud.contract_actions import Action, Ask, Close, Issue, Record
from cloud.contract_change import Process, new_change

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
        self.process = new_change("p", "m", old_printer=OLD, old_mode="contract-billing",
                                  old_prohibited=False, old_model="inkjet", old_series="X",
                                  new_model=model, new_series=series,
                                  new_printer=NEW if obtained else None, threshold=10,
                                  retry_delay=30)
        if level is not None:
            self.take(self.process.reading(OLD, True, level, self.now))
        self.take(self.process.start(self.now))

    def take(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Issue):
                self.commands[action.command_id] = action
            elif isinstance(action, Record):
                self.records.append(action)
                assert action.flag == ("confirmed" if action.mode != "non-contract"
                                       else "unconfirmed")
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
        self.take(self.process.name_new_printer(NEW, self.now))

    # -- the gateway ---------------------------------------------------------------------------

    @precondition(lambda self: self.process.awaited_command() is not None)
    @rule(result=st.sampled_from(["done", "done", "refused", "failed"]), applied=st.booleans())
    def acknowledge(self, result: str, applied: bool) -> None:
        command = self.commands[self.process.awaited_command() or ""]
        if result == "done" or (result == "failed" and applied):
            self.printers[command.printer_id].apply(command.kind, command.parameters)
        reason = None if result == "done" else "device-unreachable"
        self.take(self.process.command_finished(command.command_id, result, reason, self.now))

    @rule(level=st.integers(0, 100))
    def old_level(self, level: int) -> None:
        self.take(self.process.reading(OLD, True, level, self.now))

    @rule(installed=st.booleans())
    def new_cartridge(self, installed: bool) -> None:
        self.take(self.process.reading(NEW, installed, 100 if installed else None, self.now))

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
    def finished_means_withdrawn(self) -> None:
        if self.process.finished:
            assert self.printers[OLD].mode == "non-contract"
            assert not self.process.queue and self.process.proposal is None

    def teardown(self) -> None:
        """Then the world behaves: every command done, every answer no, the old cartridge
        empty, a contract cartridge in the new printer; the process must end."""
        if not hasattr(self, "process"):
            return
        self.take(self.process.reading(OLD, True, 0, self.now))
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
        self.finished_means_withdrawn()
        if self.process.outcome == "completed":
            new = self.printers[NEW]
            assert (new.mode, new.prohibited, new.confirmed) == ("contract-billing", False, True)


ChangeMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40,
                                           deadline=None)
TestContractChange = ChangeMachine.TestCase
