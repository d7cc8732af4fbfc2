"""Meter snapshots on the cloud's schedule (issue 17, docs/meters.md): once per billing period and
printer, a `meter-snapshot` entry carrying the printer's `counters.*` data types.

The cloud sets a printer's schedule in its control information (`meter_schedule`, read at S0610
by `gateway.uplink.link`); it is kept in `meter_schedules` (migration 11) with the moment the
gateway first had it.  At each reading of a registered printer the upload pipeline asks `due()`:

- the period due is the latest whose scheduled moment is at or before the reading
  (`gateway.uplink.meter_schedule`), in the schedule's time zone, else the printer's (the one
  it was registered with: its site's);
- a period whose moment passed before the gateway had the schedule is not taken (a schedule set
  on the 15th for the 1st starts with next month's);
- it is taken from the first reading that answered with a counter at or after the moment: a
  sleeping or unreachable printer gets its snapshot from the next reading that answers, and the
  entry's `read_at` says when that was;
- `meter_snapshots` keeps each period taken, by the cloud's printer ID, written in the same
  transaction as the entry enters the outbox: exactly once per period and printer, across
  restarts and crashes.

A printer whose transmission data types hold no `counters.*` type has nothing to bill: no
snapshot is taken (nor marked) until it has one.  No schedule (the default): no snapshots.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.device.model import DeviceStatus
from gateway.store import Store
from gateway.uplink.meter_schedule import Period, due_period, zone_of
from protocols.cloud.registration import MeterSchedule
from protocols.cloud.times import rfc3339


@dataclass(frozen=True)
class StoredSchedule:
    schedule: MeterSchedule
    since: float
    """When the gateway first had this schedule (seconds since the epoch)."""


def meter_types(data_types: Sequence[str]) -> list[str]:
    """The `counters.*` types of a transmission table: what a snapshot carries."""
    return [t for t in data_types if t.startswith("counters.")]


class MeterSnapshots:
    """The schedules the cloud set and the periods taken, in the gateway's store."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def schedule(self, device_id: int) -> StoredSchedule | None:
        row = self.store.conn.execute(
            "SELECT schedule, since FROM meter_schedules WHERE device_id = ?",
            (device_id,)).fetchone()
        if row is None:
            return None
        return StoredSchedule(MeterSchedule.from_json(json.loads(row["schedule"])), row["since"])

    def set_schedule(self, device_id: int, schedule: MeterSchedule | None) -> bool:
        """Keep the device's schedule as the cloud sent it (None: none); True when it changed.
        An unchanged schedule keeps the moment it was first had."""
        text = None if schedule is None else json.dumps(schedule.to_json(), sort_keys=True)
        with self.store.transaction() as db:
            row = db.execute("SELECT schedule FROM meter_schedules WHERE device_id = ?",
                             (device_id,)).fetchone()
            if (None if row is None else row["schedule"]) == text:
                return False
            if text is None:
                db.execute("DELETE FROM meter_schedules WHERE device_id = ?", (device_id,))
            else:
                db.execute("INSERT INTO meter_schedules (device_id, schedule, since) "
                           "VALUES (?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET "
                           "schedule = excluded.schedule, since = excluded.since",
                           (device_id, text, self.clock()))
        return True

    def due(self, device_id: int, printer_id: str, status: DeviceStatus,
            printer_zone: str | None) -> Period | None:
        """The period whose snapshot this reading is, if any (see the module docstring); the
        caller checks the reading carries a count (`carries_counts`)."""
        stored = self.schedule(device_id)
        if stored is None or not any(status.reachable.values()):
            return None
        period = due_period(stored.schedule, zone_of(stored.schedule, printer_zone),
                            status.read_at)
        if period.scheduled_at.timestamp() < stored.since or self.taken(printer_id, period.label):
            return None
        return period

    def taken(self, printer_id: str, period: str) -> bool:
        return self.store.conn.execute(
            "SELECT 1 FROM meter_snapshots WHERE printer_id = ? AND period = ?",
            (printer_id, period)).fetchone() is not None

    def mark(self, printer_id: str, period: Period, read_at: float, entry_id: str, *,
             db: sqlite3.Connection) -> None:
        """The period's snapshot is in the outbox (inside the caller's transaction)."""
        db.execute("INSERT INTO meter_snapshots (printer_id, period, scheduled_at, read_at, "
                   "entry_id) VALUES (?, ?, ?, ?, ?)",
                   (printer_id, period.label, rfc3339(period.scheduled_at), read_at, entry_id))


def carries_counts(data: Mapping[str, Any]) -> bool:
    """Projected `counters.*` values hold at least one count (a sleeping printer that answers
    with its counters does; one whose counters are unknown or withheld does not)."""
    return any(isinstance(count, int) for value in data.values()
               for name, count in value.items() if name != "sources")
