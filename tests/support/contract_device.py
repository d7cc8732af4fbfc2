"""A printer's contract MIB and cartridge as the API-level contract tests simulate them: the
scripted gateway applies the commands it acknowledges `done` and reports the state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from cloud import times
from protocols.cloud.times import rfc3339


@dataclass
class Device:
    """A simulated printer: its contract MIB and its cartridge, as a scripted gateway keeps
    them (`apply` a command acknowledged done)."""

    supported: bool = True
    mode: str = "non-contract"
    prohibited: bool = False
    panel: str | None = None
    contract_cartridge: bool = False
    level: int = 100

    @property
    def contract_printing(self) -> bool:
        return self.mode != "non-contract" and not self.prohibited

    def refusal(self, kind: str) -> dict[str, str] | None:
        """Why the device cannot apply the command (as the gateway's relay decides)."""
        if not self.supported:
            return {"code": "contract-unsupported", "detail": "No contract MIB."}
        if kind == "billing-start" and self.mode == "non-contract":
            return {"code": "invalid-mode", "detail": "Billing on a non-contract device."}
        return None

    def apply(self, kind: str, parameters: dict[str, Any]) -> None:
        if kind == "contract-transition":
            self.mode = parameters["mode"]
        elif kind == "withdrawal":
            self.mode = "non-contract"
        elif kind == "billing-start":
            self.mode = "contract-billing"
        elif kind in ("prohibit-contract-printing", "permit-contract-printing"):
            self.prohibited = kind.startswith("prohibit")
        else:
            self.panel = parameters["message"] or None

    def contract_state(self) -> dict[str, Any]:
        """The `ContractState` the gateway reports for the device."""
        if not self.supported:
            return {"supported": False, "mode": None, "printing_prohibited": None,
                    "panel_message": None}
        return {"supported": True, "mode": self.mode, "printing_prohibited": self.prohibited,
                "panel_message": self.panel}

    def status_entry(self, printer_id: str, event: str, *, cartridge_id: str,
                     low_percent: int) -> dict[str, Any]:
        """A `StatusEntry` of the device now: its cartridge (contract or commercial), the
        cartridge's level and the contract state."""
        return {
            "entry_id": str(uuid.uuid4()), "printer_id": printer_id,
            "read_at": rfc3339(times.now()), "event": event,
            "data": {
                "supplies.cartridge": [{
                    "index": "1.1",
                    "cartridge_type": "contract" if self.contract_cartridge else "commercial",
                    "cartridge_id": cartridge_id, "cartridge_new": False}],
                "supplies.level": [{
                    "index": "1.1", "level_percent": self.level, "level_state": "known",
                    "raw_level": self.level, "max_capacity": 100, "unit": "percent",
                    "class": "consumed", "over_capacity": False, "low_percent": low_percent}],
                "contract": self.contract_state()}}
