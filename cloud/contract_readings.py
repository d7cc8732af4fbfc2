"""What the contract processes read in the printers' status uploads (pure functions of one
entry): the contract cartridge and its remaining amount (S201, S202, S207), and the kind of
machine and its cartridge series (S120).

Only marking supplies count: ink and toner (and their cartridge forms) as the Printer-MIB's
`supplies.kind` names them.  A contract drum (a laser printer's contract part) is a contract
part, not the remaining amount.  When an entry does not say the kinds, every supply counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MACHINE_OF_KIND = {"ink": "inkjet", "inkCartridge": "inkjet", "toner": "laser",
                   "tonerCartridge": "laser"}
"""Marking supply kind (PrtMarkerSuppliesTypeTC) → the kind of machine it marks with."""


@dataclass(frozen=True)
class Reading:
    """One entry's contract reading: a contract cartridge installed (None: not told), the lowest
    remaining percent of the contract cartridges (None: not told), the machine (None: not
    told) and its series (the set of marking part numbers; None: not told)."""

    contract_cartridge: bool | None = None
    level: int | None = None
    model: str | None = None
    series: str | None = None

    def filled(self, other: Reading) -> Reading:
        """This reading, what it does not tell taken from `other`."""
        return Reading(*(o if o is not None else n for o, n in zip(
            (self.contract_cartridge, self.level, self.model, self.series),
            (other.contract_cartridge, other.level, other.model, other.series), strict=True)))


def _non_marking(data: Mapping[str, Any]) -> set[str]:
    """Indices of supplies the entry says are not marking supplies (drums, waste toner…)."""
    return {s["index"] for s in data.get("supplies.kind") or []
            if s["kind"] is not None and s["kind"] not in MACHINE_OF_KIND}


def cartridge_reading(data: Mapping[str, Any], event: str | None = None,
                      detail: Mapping[str, Any] | None = None) -> tuple[bool | None, int | None]:
    """From a status entry: is a contract cartridge installed (None: not told), and the lowest
    remaining percent of the contract marking cartridges (None: not told).  Needs
    `supplies.cartridge`; the amount comes from `supplies.level` in the same entry, and from the
    entry's event: `supply-empty` of a contract cartridge is 0 %, `threshold-crossed` at most
    the threshold crossed."""
    cartridges = data.get("supplies.cartridge")
    if cartridges is None:
        return None, None
    contract = {c["index"] for c in cartridges if c["cartridge_type"] == "contract"}
    contract -= _non_marking(data)
    levels = [s["level_percent"] for s in data.get("supplies.level") or []
              if s["index"] in contract and s["level_percent"] is not None]
    if detail is not None and detail.get("supply_index") in contract:
        if event == "supply-empty":
            levels.append(0)
        elif event == "threshold-crossed" and detail.get("threshold_percent") is not None:
            levels.append(int(detail["threshold_percent"]))
    return bool(contract), min(levels) if levels else None


def machine_reading(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The kind of machine (`inkjet`, `laser`) from the marking supplies' `supplies.kind`, and
    its series: the marking supplies' part numbers (`supplies.model`), sorted and joined — the
    same set means compatible cartridges.  None for what the entry does not tell."""
    machines = {MACHINE_OF_KIND[s["kind"]] for s in data.get("supplies.kind") or []
                if s["kind"] in MACHINE_OF_KIND}
    model = machines.pop() if len(machines) == 1 else None
    skip = _non_marking(data)
    parts = {s["part_number"] for s in data.get("supplies.model") or []
             if s["part_number"] and s["index"] not in skip}
    return model, ",".join(sorted(parts)) if parts else None


def reading_of(data: Mapping[str, Any], event: str | None = None,
               detail: Mapping[str, Any] | None = None) -> Reading:
    return Reading(*cartridge_reading(data, event, detail), *machine_reading(data))
