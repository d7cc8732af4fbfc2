"""Status entries and a settable clock for the outbox, sender and pipeline tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.uplink.outbox import new_entry
from protocols.cloud.models import StatusEntry
from tests.support.fake_cloud import KNOWN_PRINTER

READ_AT = datetime(2025, 7, 1, 10, 15, 2, tzinfo=UTC)
LEVEL = {"index": "1.1", "level_percent": 40, "level_state": "known", "raw_level": 4000,
         "max_capacity": 10000, "unit": "impressions", "class": "consumed",
         "over_capacity": False, "low_percent": 10}
"""A `supplies.level` value."""


class Clock:
    """A settable clock (for the outbox, back-off delays pass at once)."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def entry(event: str = "periodic", printer_id: str = KNOWN_PRINTER,
          **data: Any) -> StatusEntry:
    """A status entry of the fake cloud's known printer (its data: one supply level)."""
    return new_entry(printer_id, READ_AT, event, data or {"supplies.level": [LEVEL]})


def ids(queued: list[StatusEntry]) -> list[str]:
    return [q.entry_id for q in queued]
