"""`plan`: every command kind against every contract mode, the change it makes or the refusal's
code; and how a `CommandOutcome` reads."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.commands.plan import CommandOutcome, NotApplicable, plan
from protocols.snmp.contract import UNSUPPORTED, ContractChange, ContractState

MODES = ("non-contract", "contract-non-billing", "contract-billing")


def state(mode: str) -> ContractState:
    return ContractState(supported=True, mode=mode, printing_prohibited=False, panel_message="")


# (kind, parameters) → for each mode of MODES: the change, or the refusal code
CASES: list[tuple[str, dict[str, Any], tuple[ContractChange | str, ...]]] = [
    ("contract-transition", {},
     (ContractChange(mode="contract-non-billing"), ContractChange(mode="contract-non-billing"),
      "invalid-mode")),
    ("contract-transition", {"mode": "contract-non-billing"},
     (ContractChange(mode="contract-non-billing"), ContractChange(mode="contract-non-billing"),
      "invalid-mode")),
    ("contract-transition", {"mode": "contract-billing"},
     (ContractChange(mode="contract-billing"), "invalid-mode",
      ContractChange(mode="contract-billing"))),
    ("withdrawal", {}, (ContractChange(mode="non-contract"),) * 3),
    ("billing-start", {},
     ("invalid-mode", ContractChange(mode="contract-billing"),
      ContractChange(mode="contract-billing"))),
    ("prohibit-contract-printing", {}, (ContractChange(printing_prohibited=True),) * 3),
    ("permit-contract-printing", {}, (ContractChange(printing_prohibited=False),) * 3),
    ("panel-message", {"message": "Insert the contract cartridge"},
     (ContractChange(panel_message="Insert the contract cartridge"),) * 3),
    ("panel-message", {"message": "x" * 256}, ("invalid-parameters",) * 3),
    ("panel-message", {"message": "é" * 128}, ("invalid-parameters",) * 3),
    ("reboot", {}, ("unsupported-command",) * 3),
    # What the document does not allow is refused, never an error (issue 19).
    ("panel-message", {}, ("invalid-parameters",) * 3),
    ("panel-message", {"message": None}, ("invalid-parameters",) * 3),
    ("panel-message", {"message": 42}, ("invalid-parameters",) * 3),
    ("panel-message", {"message": "x" * 10_000}, ("invalid-parameters",) * 3),
    ("contract-transition", {"mode": "bogus"}, ("invalid-parameters",) * 3),
    ("contract-transition", {"mode": "non-contract"}, ("invalid-parameters",) * 3),
    ("contract-transition", {"mode": ["contract-billing"]}, ("invalid-parameters",) * 3),
    ("contract-transition", {"mode": None}, ("invalid-parameters",) * 3),
]


@pytest.mark.parametrize(("kind", "parameters", "mode", "expected"), [
    pytest.param(kind, parameters, mode, outcome,
                 id=f"{kind}{str(parameters)[:40]}-{mode}")
    for kind, parameters, outcomes in CASES for mode, outcome in zip(MODES, outcomes, strict=True)
])
def test_every_kind_in_every_mode(kind: str, parameters: dict[str, Any], mode: str,
                                  expected: ContractChange | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(NotApplicable) as refused:
            plan(kind, parameters, state(mode))
        assert refused.value.code == expected
        assert str(refused.value)
    else:
        assert plan(kind, parameters, state(mode)) == expected


def test_a_change_already_in_place_is_planned_and_shown_by_the_state() -> None:
    before = state("contract-billing")
    change = plan("billing-start", {}, before)
    assert change.shown_by(before)
    assert not plan("withdrawal", {}, before).shown_by(before)
    assert plan("permit-contract-printing", {}, before).shown_by(before)
    assert not plan("prohibit-contract-printing", {}, before).shown_by(before)


def test_a_refusal_names_the_mode_the_device_is_in() -> None:
    with pytest.raises(NotApplicable, match="contract-billing mode"):
        plan("contract-transition", {}, state("contract-billing"))
    with pytest.raises(NotApplicable, match="non-contract mode"):
        plan("billing-start", {}, state("non-contract"))


def test_a_panel_message_of_255_octets_is_the_longest() -> None:
    assert plan("panel-message", {"message": "é" * 127 + "x"}, state("non-contract")) \
        == ContractChange(panel_message="é" * 127 + "x")


def test_outcomes_carry_their_reason_and_state() -> None:
    after = state("contract-non-billing")
    done = CommandOutcome.done(after)
    assert (done.result, done.contract_state, done.reason()) == ("done", after, None)
    refused = CommandOutcome.refused("invalid-mode", "not from here")
    assert refused.result == "refused" and refused.contract_state == UNSUPPORTED
    assert refused.reason() == {"code": "invalid-mode", "detail": "not from here"}
    failed = CommandOutcome.failed("verify-failed", "read back otherwise", after)
    assert failed.result == "failed" and failed.contract_state == after
    assert failed.reason() == {"code": "verify-failed", "detail": "read back otherwise"}
