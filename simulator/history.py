"""Days of printing in a moment: a virtual printer's past (or future) run hour by hour on its own
consumption model, as the readings a gateway would have taken.

`run_history(state, usage, hours, …)` advances the printer's wear and page counter through
`hours` of a usage pattern, in simulated time (no sleeping: 30 days take a fraction of a second),
and returns one `Sample` an hour: the page counter and each supply's level in percent as a reader
gets it, or the Printer-MIB state the device reports instead (`-2` unknown while it sleeps, `-3`
"some remaining").  A cartridge that runs empty is replaced at the next hour, as an operator
would.  A copy of the state and generator run on tell the truth a forecast is scored against
(`empty_after`: when each supply runs out).

Usage patterns (`USAGES`), pages per hour by the hour's weekday and time (UTC):

- `steady`: every day, 8:00-18:00, about the same each hour;
- `office`: weekdays only, 9:00-17:00, varying from hour to hour;
- `bursty`: a few pages most days, and on one day in eight a job of a thousand pages;
- `sleeping`: as `steady`, but the printer sleeps 19:00-7:00 (no level read: gaps).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulator.state import PrinterState, SupplyState

HOUR = 3600.0


@dataclass(frozen=True)
class Sample:
    """One reading: when (seconds since the epoch), the total page counter, and each supply's
    level in percent by its gateway index (`hrDeviceIndex.prtMarkerSuppliesIndex`), negative
    for a Printer-MIB state (-2 unknown, -3 some remaining)."""

    at: float
    pages: int
    levels: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"at": self.at, "pages": self.pages, "levels": dict(self.levels)}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Sample:
        return cls(float(document["at"]), int(document["pages"]),
                   {str(k): int(v) for k, v in document["levels"].items()})


def _steady(rng: random.Random, when: datetime, daily: int) -> int:
    return round(daily / 10 * rng.uniform(0.8, 1.2)) if 8 <= when.hour < 18 else 0


def _office(rng: random.Random, when: datetime, daily: int) -> int:
    if when.weekday() >= 5 or not 9 <= when.hour < 17:
        return 0
    return round(daily * 7 / 5 / 8 * rng.uniform(0.2, 1.8))


def _bursty(rng: random.Random, when: datetime, daily: int) -> int:
    if when.hour == 10 and rng.random() < 1 / 8:
        return daily * 6  # the monthly report
    return round(daily / 4 / 10 * rng.uniform(0, 2)) if 8 <= when.hour < 18 else 0


USAGES: dict[str, Callable[[random.Random, datetime, int], int]] = {
    "steady": _steady, "office": _office, "bursty": _bursty, "sleeping": _steady}


def _sleeps(usage: str, when: datetime) -> bool:
    return usage == "sleeping" and not 7 <= when.hour < 19


def supply_index(state: PrinterState, supply: SupplyState) -> str:
    return f"{state.hr_device_index}.{supply.index}"


def reported_percent(state: PrinterState, supply: SupplyState) -> int:
    """The level in percent a reader computes from what the device reports, or the negative
    state it reports instead."""
    raw = state.reported_level(supply, supply.level_int)
    capacity = supply.reported_capacity
    if raw < 0 or capacity <= 0:
        return min(raw, -2)
    return (min(raw, capacity) * 100 + capacity // 2) // capacity


def run_history(state: PrinterState, usage: str, hours: int, start: float,
                rng: random.Random, daily_pages: int = 200, color_share: float = 0.3,
                on_hour: Callable[[int], None] | None = None) -> list[Sample]:
    """Advance `state` through `hours` of `usage` from `start` (seconds since the epoch); one
    sample at the end of each hour.  `on_hour(h)` runs before hour h's printing (a swap…)."""
    pattern = USAGES[usage]
    samples = []
    for h in range(hours):
        at = start + h * HOUR
        when = datetime.fromtimestamp(at, UTC)
        if on_hour is not None:
            on_hour(h)
        for s in state.supplies:
            if s.is_cartridge and s.empty:
                state.replace(s.index)
        pages = pattern(rng, when, daily_pages)
        if pages:
            color = state.color and rng.random() < color_share
            state.print_pages(pages, color=color)
        asleep = _sleeps(usage, when)
        state.asleep = asleep
        samples.append(Sample(at + HOUR, state.total_pages, {
            supply_index(state, s): reported_percent(state, s) for s in state.supplies}))
    state.asleep = False
    return samples


def empty_after(state: PrinterState, usage: str, start: float, rng: random.Random,
                daily_pages: int = 200, color_share: float = 0.3,
                max_days: int = 730) -> dict[str, float | None]:
    """Hours from `start` until each supply is empty (a receptacle: full), running a copy of
    `state` on; None when it is not within `max_days`."""
    state = copy.deepcopy(state)
    pattern = USAGES[usage]
    result: dict[str, float | None] = {supply_index(state, s): None for s in state.supplies}
    for h in range(max_days * 24):
        for s in state.supplies:
            key = supply_index(state, s)
            if result[key] is None and s.empty:
                result[key] = h * HOUR
            if s.empty:
                s.level = float(s.max_capacity)  # replaced: the others keep being used
        if all(v is not None for v in result.values()):
            break
        when = datetime.fromtimestamp(start + h * HOUR, UTC)
        pages = pattern(rng, when, daily_pages)
        if pages:
            state.print_pages(pages, color=state.color and rng.random() < color_share)
    return result
