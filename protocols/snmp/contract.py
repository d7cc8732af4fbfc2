"""Device-level operations on the project's contract MIB (`mibs/PRINTGW-CONTRACT-MIB.mib`).

Read a printer's contract state, change it with one SNMP SET, and tell whether a state read back
shows the change.  Nothing here knows why a change is made (the cloud's commands are the
gateway's business): this is what any SNMP manager could do with the MIB.

The objects written and their SNMP types: `pgwContractMode` INTEGER {nonContract(1),
contractNonBilling(2), contractBilling(3)}, `pgwContractPrintingProhibited` TruthValue (INTEGER
true(1) / false(2)), `pgwPanelMessage` DisplayString (OCTET STRING, at most 255 octets).  All
changes of one `ContractChange` go in one SET request, which an agent applies as a whole or not
at all (RFC 3416 §4.2.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocols.snmp import contract_mib as cm
from protocols.snmp.client import SnmpClient, SnmpTarget

MODE_NUMBERS = {name: number for number, name in cm.CONTRACT_MODE_VALUES.items()}
"""Contract mode names → pgwContractMode values."""
TRUTH_NUMBERS = {value: number for number, value in cm.TRUTH_VALUES.items()}
"""bool → TruthValue."""
PANEL_MESSAGE_MAX_OCTETS = 255

_MODE = f"{cm.pgwContractMode}.0"
_PROHIBITED = f"{cm.pgwContractPrintingProhibited}.0"
_PANEL = f"{cm.pgwPanelMessage}.0"


@dataclass(frozen=True)
class ContractState:
    """A device's contract state as read; all None but `supported` without the contract MIB."""

    supported: bool
    mode: str | None = None
    printing_prohibited: bool | None = None
    panel_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"supported": self.supported, "mode": self.mode,
                "printing_prohibited": self.printing_prohibited,
                "panel_message": self.panel_message}


UNSUPPORTED = ContractState(supported=False)


@dataclass(frozen=True)
class ContractChange:
    """What to write; None leaves an object as it is."""

    mode: str | None = None
    printing_prohibited: bool | None = None
    panel_message: str | None = None

    def __post_init__(self) -> None:
        if self.mode is not None and self.mode not in MODE_NUMBERS:
            raise ValueError(f"unknown contract mode {self.mode!r}")
        if self.panel_message is not None and \
                len(self.panel_message.encode()) > PANEL_MESSAGE_MAX_OCTETS:
            raise ValueError(f"a panel message has at most {PANEL_MESSAGE_MAX_OCTETS} octets")

    def var_binds(self) -> list[tuple[str, int | bytes]]:
        """The SET's variable bindings, with the objects' SNMP types."""
        values: list[tuple[str, int | bytes]] = []
        if self.mode is not None:
            values.append((_MODE, MODE_NUMBERS[self.mode]))
        if self.printing_prohibited is not None:
            values.append((_PROHIBITED, TRUTH_NUMBERS[self.printing_prohibited]))
        if self.panel_message is not None:
            values.append((_PANEL, self.panel_message.encode()))
        return values

    def shown_by(self, state: ContractState) -> bool:
        """The state has every value this change writes."""
        return state.supported and all(
            wanted is None or wanted == getattr(state, name)
            for name, wanted in (("mode", self.mode),
                                 ("printing_prohibited", self.printing_prohibited),
                                 ("panel_message", self.panel_message)))


async def read_contract_state(client: SnmpClient, target: SnmpTarget) -> ContractState:
    """GET the contract scalars.  A device that does not answer pgwContractMode (the mandatory
    group) has no contract MIB.  Raises `SnmpError` (`SnmpTimeout`: no answer)."""
    values = await client.get(target, [_MODE, _PROHIBITED, _PANEL])
    mode = values.get(_MODE)
    if not isinstance(mode, int) or mode not in cm.CONTRACT_MODE_VALUES:
        return UNSUPPORTED
    prohibited = values.get(_PROHIBITED)
    panel = values.get(_PANEL)
    return ContractState(
        supported=True, mode=cm.CONTRACT_MODE_VALUES[mode],
        printing_prohibited=cm.TRUTH_VALUES.get(prohibited) if isinstance(prohibited, int)
        else None,
        panel_message=panel.decode("utf-8", "replace") if isinstance(panel, bytes) else None)


async def write_contract(client: SnmpClient, target: SnmpTarget, change: ContractChange) -> None:
    """One SET of every value of `change`.  Raises `SnmpTimeout` without an answer (the change
    may or may not have been applied: read back), `SnmpError` when the agent refused it."""
    var_binds = change.var_binds()
    if not var_binds:
        raise ValueError("nothing to write")
    await client.set(target, var_binds)
