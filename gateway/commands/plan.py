"""What a contract-mode command does to a device: the change it makes (`plan`) and how it ends
(`CommandOutcome`).  Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from protocols.snmp.contract import (
    UNSUPPORTED,
    ContractChange,
    ContractState,
)

Result = Literal["done", "refused", "failed"]


@dataclass(frozen=True)
class CommandOutcome:
    result: Result
    contract_state: ContractState
    code: str | None = None
    detail: str | None = None
    service_setting: Mapping[str, Any] | None = None
    """A `set-service-enabled` command's effective setting (`ServiceSetting`)."""

    def reason(self) -> dict[str, str] | None:
        return None if self.code is None else {"code": self.code, "detail": self.detail or ""}

    @classmethod
    def done(cls, state: ContractState) -> CommandOutcome:
        return cls("done", state)

    @classmethod
    def done_setting(cls, setting: Mapping[str, Any]) -> CommandOutcome:
        """A `set-service-enabled` done: the device's contract state is not read."""
        return cls("done", UNSUPPORTED, service_setting=setting)

    @classmethod
    def refused(cls, code: str, detail: str, state: ContractState = UNSUPPORTED, *,
                service_setting: Mapping[str, Any] | None = None) -> CommandOutcome:
        return cls("refused", state, code, detail, service_setting)

    @classmethod
    def failed(cls, code: str, detail: str,
               state: ContractState = UNSUPPORTED) -> CommandOutcome:
        return cls("failed", state, code, detail)


class NotApplicable(Exception):
    """The command does not apply to the device as it is; `code` is the refusal's reason code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


TRANSITION_MODES = ("contract-non-billing", "contract-billing")
"""The modes a `contract-transition` may go to (`CommandSpec`)."""


def plan(kind: str, parameters: Mapping[str, Any], state: ContractState) -> ContractChange:
    """The change a command makes on a device in `state`; raises `NotApplicable`.  A command
    whose change is already in place applies (it is then done without a SET).

    Parameters are checked here too, whatever checked them before (a command stored by an older
    version, a cloud that breaks its document): a transition to a mode that is not a contract
    mode, a panel message that is missing, not text or too long are refused
    (`invalid-parameters`), an unknown kind as well (`unsupported-command`), never an error."""
    mode = state.mode
    if kind == "contract-transition":
        target = parameters.get("mode", "contract-non-billing")
        if target not in TRANSITION_MODES:
            raise NotApplicable("invalid-parameters", f"a contract transition goes to "
                                f"{' or '.join(TRANSITION_MODES)}, not {_shown(target)}")
        if mode not in ("non-contract", target):
            raise NotApplicable("invalid-mode", f"the device is in {mode} mode: a contract "
                                "transition starts from non-contract")
        return ContractChange(mode=target)
    if kind == "withdrawal":
        return ContractChange(mode="non-contract")
    if kind == "billing-start":
        if mode not in ("contract-non-billing", "contract-billing"):
            raise NotApplicable("invalid-mode", f"the device is in {mode} mode: billing starts "
                                "from contract-non-billing")
        return ContractChange(mode="contract-billing")
    if kind in ("prohibit-contract-printing", "permit-contract-printing"):
        return ContractChange(printing_prohibited=kind.startswith("prohibit"))
    if kind == "panel-message":
        message = parameters.get("message")
        if not isinstance(message, str):
            raise NotApplicable("invalid-parameters", "a panel message needs parameters.message "
                                f"(text), not {_shown(message)}")
        try:
            return ContractChange(panel_message=message)
        except ValueError as exc:
            raise NotApplicable("invalid-parameters", str(exc)) from None
    raise NotApplicable("unsupported-command", f"unknown command kind {_shown(kind)}")


def _shown(value: object) -> str:
    """A value for a refusal's detail: its repr, shortened."""
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"
