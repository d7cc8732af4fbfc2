"""Billing periods of a meter schedule: when each month's meter snapshot is due (pure arithmetic).

A `MeterSchedule` (the cloud's control information, `protocols.cloud.registration`) names a day of
the month (1-28, or `last`) and a local wall-clock time in a time zone.  Each month has one
scheduled moment; the period it opens is labelled by that month (`2026-12`).

Local time is resolved as a person at the site reads a clock:

- a time the clocks skip (spring forward, e.g. 02:30 on a night 02:00 jumps to 03:00) is the
  first moment after the gap (03:00 local);
- a time the clocks pass twice (fall back) is its first occurrence.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from protocols.cloud.registration import MeterSchedule

FALLBACK_ZONE = "UTC"
"""The zone of a schedule when neither it nor the printer names one (or names an unknown one)."""


@dataclass(frozen=True)
class Period:
    """One billing period of a schedule."""

    label: str
    """`YYYY-MM` of the scheduled moment, in the schedule's time zone."""
    scheduled_at: datetime
    """The scheduled moment (aware, UTC)."""


def zone_of(schedule: MeterSchedule, printer_zone: str | None) -> ZoneInfo:
    """The schedule's time zone, else the printer's (its site's), else UTC."""
    for name in (schedule.time_zone, printer_zone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo(FALLBACK_ZONE)


def moment(schedule: MeterSchedule, zone: ZoneInfo, year: int, month: int) -> datetime:
    """The scheduled moment of the schedule in that month (aware, UTC)."""
    last = calendar.monthrange(year, month)[1]
    day = last if schedule.day_of_month == "last" else min(int(schedule.day_of_month), last)
    hour, minute = (int(part) for part in schedule.time.split(":"))
    wall = datetime(year, month, day, hour, minute)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _local(first, zone) == wall:
        return first  # exists (the first occurrence when it exists twice)
    # Skipped by a DST change: the first moment whose local time is past the requested one.
    # fold=1 takes the offset after the change, landing before the gap; step up from there.
    candidate = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    candidate = min(candidate, first).replace(second=0, microsecond=0)
    while _local(candidate, zone) < wall:
        candidate += timedelta(minutes=1)
    return candidate


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def period_at(schedule: MeterSchedule, zone: ZoneInfo, year: int, month: int) -> Period:
    return Period(f"{year:04d}-{month:02d}", moment(schedule, zone, year, month))


def due_period(schedule: MeterSchedule, zone: ZoneInfo, at: datetime) -> Period:
    """The latest period whose scheduled moment is at or before `at` (aware)."""
    local = at.astimezone(zone)
    this = period_at(schedule, zone, local.year, local.month)
    if this.scheduled_at <= at:
        return this
    year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
    return period_at(schedule, zone, year, month)
