"""Device-level operations on the project's contract MIB (`mibs/PRINTGW-CONTRACT-MIB.mib`).

Read a printer's contract state (or decode it from values read otherwise: the gateway's polls walk
it with the Printer-MIB), change it with one SNMP SET, and tell whether a state read back shows
the change.  Nothing here knows why a change is made (the cloud's commands are the
gateway's business): this is what any SNMP manager could do with the MIB.

The objects written and their SNMP types: `pgwContractMode` INTEGER {nonContract(1),
contractNonBilling(2), contractBilling(3)}, `pgwContractPrintingProhibited` TruthValue (INTEGER
true(1) / false(2)), `pgwPanelMessage` DisplayString (OCTET STRING, at most 255 octets).  All
changes of one `ContractChange` go in one SET request, which an agent applies as a whole or not
at all (RFC 3416 §4.2.5).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from protocols.snmp import contract_mib as cm
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import SnmpTarget, SnmpValue

T = TypeVar("T")

MODE_NUMBERS = {name: number for number, name in cm.CONTRACT_MODE_VALUES.items()}
"""Contract mode names → pgwContractMode values."""
TRUTH_NUMBERS = {value: number for number, value in cm.TRUTH_VALUES.items()}
"""bool → TruthValue."""
PANEL_MESSAGE_MAX_OCTETS = 255

_MODE = f"{cm.pgwContractMode}.0"
_PROHIBITED = f"{cm.pgwContractPrintingProhibited}.0"
_PANEL = f"{cm.pgwPanelMessage}.0"

Report = Callable[[str, str], None]
"""(object, what is wrong with its value): a value that does not fit the MIB."""


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
    """GET the contract scalars (`decode_contract_state`).  Raises `SnmpError` (`SnmpTimeout`:
    no answer)."""
    return decode_contract_state(await client.get(target, [_MODE, _PROHIBITED, _PANEL]))


def decode_contract_state(values: Mapping[str, SnmpValue],
                          report: Report | None = None) -> ContractState:
    """The contract state in `values` (by numeric OID, as a GET or a walk gives them).  A device
    that does not answer pgwContractMode (the mandatory group) with a known mode has no contract
    MIB.  A value of the wrong type or out of range counts as not answered, and is told to
    `report`."""
    mode = _enumerated(values, _MODE, "pgwContractMode", cm.CONTRACT_MODE_VALUES, report)
    if mode is None:
        return UNSUPPORTED
    panel = values.get(_PANEL)
    if panel is not None and not isinstance(panel, bytes):
        _report(report, "pgwPanelMessage", f"expected bytes, got {_show(panel)}")
        panel = None
    return ContractState(
        supported=True, mode=mode,
        printing_prohibited=_enumerated(values, _PROHIBITED, "pgwContractPrintingProhibited",
                                        cm.TRUTH_VALUES, report),
        panel_message=panel.decode("utf-8", "replace") if panel is not None else None)


def _enumerated(values: Mapping[str, SnmpValue], oid: str, name: str, meanings: Mapping[int, T],
                report: Report | None) -> T | None:
    """An enumerated INTEGER's meaning; None when absent, of another type or unknown."""
    value = values.get(oid)
    if value is None:
        return None
    if not isinstance(value, int):
        _report(report, name, f"expected int, got {_show(value)}")
        return None
    if value not in meanings:
        _report(report, name, f"value out of range: {value!r:.60}")
        return None
    return meanings[value]


def _show(value: SnmpValue) -> str:
    return f"{type(value).__name__} {value!r:.60}"


def _report(report: Report | None, name: str, problem: str) -> None:
    if report is not None:
        report(name, problem)


async def write_contract(client: SnmpClient, target: SnmpTarget, change: ContractChange) -> None:
    """One SET of every value of `change`.  Raises `SnmpTimeout` without an answer (the change
    may or may not have been applied: read back), `SnmpError` when the agent refused it."""
    var_binds = change.var_binds()
    if not var_binds:
        raise ValueError("nothing to write")
    await client.set(target, var_binds)
