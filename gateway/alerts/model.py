"""An alert: one event of one device, as every output receives it, and its text."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from gateway.settings.alerts import SEVERITIES, Severity


@dataclass(frozen=True)
class Alert:
    alert_id: str
    """A UUID; the webhook's `Idempotency-Key`, the mail's Message-ID."""
    kind: str
    """The event kind (`threshold-crossed`…, `device-unreachable`, `device-back`)."""
    severity: Severity
    device_id: int
    serial: str | None
    model: str | None
    address: str | None
    time_zone: str
    """The device's site time zone (quiet hours are judged in it unless the output sets one)."""
    occurred_at: float
    """Unix seconds."""
    text: str
    """One line saying what happened, e.g. "black toner at 10 % (threshold 10 %)"."""
    supply_index: str | None = None
    supply: str | None = None
    """The supply's description (or colour and kind)."""
    level_percent: int | None = None
    threshold_percent: int | None = None
    alert_index: str | None = None
    alert_code: str | None = None
    printer_state: str | None = None
    previous_state: str | None = None

    @property
    def dedup_key(self) -> str:
        """What makes two alerts of one kind and device "the same" (`[alerts] dedup_window`)."""
        parts = (self.supply_index, self.threshold_percent, self.alert_index, self.alert_code,
                 self.printer_state)
        return "|".join("" if part is None else str(part) for part in parts)

    @property
    def device(self) -> str:
        """The device as a person names it: model, serial and address."""
        name = self.model or "printer"
        serial = f" {self.serial}" if self.serial else ""
        address = f" at {self.address}" if self.address else ""
        return f"{name}{serial}{address}"

    @property
    def subject(self) -> str:
        return f"[printgw] {self.severity}: {self.device}: {self.text}"

    @property
    def at(self) -> str:
        return datetime.fromtimestamp(self.occurred_at, UTC).isoformat(timespec="seconds")

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "occurred_at": self.at}

    def dumps(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def loads(cls, text: str) -> Alert:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def at_least(severity: Severity, minimum: Severity) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(minimum)


def highest(alerts: list[Alert]) -> Severity:
    return max((a.severity for a in alerts), key=SEVERITIES.index)


def summary_text(alerts: list[Alert]) -> str:
    """The one line a summary starts with: how many, of which kinds."""
    kinds = Counter(a.kind for a in alerts)
    listed = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
    return f"{len(alerts)} alerts held back by the rate limit: {listed}"
