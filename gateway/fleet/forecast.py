"""Supply forecasts: from a supply's level history and the device's page counter, when it runs
out and how many pages it has left.  Pure: history points in, `SupplyForecast` out.

The estimate (docs/forecasts.md says why):

- **Since the last swap only.**  A level that rises by `SWAP_RISE` points or more is a new
  cartridge (or an emptied receptacle): the history before it says nothing of this one.
- **Per page where the device counts pages.**  The level used per page printed is the
  least-squares slope of level on the page counter over the points since the swap (one point per
  counter value: hours of idle readings do not weigh).  Pages per day come from the counter over
  the whole history kept (a swap does not reset the counter), so weeks without printing lower
  the rate honestly instead of making it zero or fast.  Days to empty = pages left / pages a day.
- **Per day otherwise** (no counter, or the level fell without pages, as ink cleaning does): the
  level's fall since the swap over the time since the swap.
- Levels are integers: a fall of one point is a quantisation step, so a supply needs
  `MIN_DROP` points of fall before it has a rate.
- Sleeping printers and `-3` "some remaining" give no level: no point (a gap, not a zero).  A
  printer asleep now is forecast from its last level of the past `STALE_DAYS`; a supply that
  only ever says "some remaining" has no forecast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import NamedTuple

from gateway.device.supply_forecast import Confidence, SupplyForecast

DAY = 86400.0
SWAP_RISE = 10
"""A rise of this many percentage points or more between two points is a new cartridge."""
MIN_POINTS = 3
MIN_SPAN_DAYS = 1.0
MIN_DROP = 2
"""Points of level fall since the swap before there is a rate (one point is quantisation)."""
STALE_DAYS = 3.0
"""A printer that told no level (asleep) is forecast from its last level this long."""
MAX_DAYS = 3650.0
"""Longer than this is "not in the foreseeable future": reported as no consumption."""


class LevelPoint(NamedTuple):
    """One history point of a supply: when, its level in percent, the device's page counter.
    (Named tuples: a reading builds thousands, straight from the store's rows.)"""

    at: float
    level: int
    pages: int | None = None


class CounterPoint(NamedTuple):
    at: float
    pages: int


def since_swap(points: Sequence[LevelPoint]) -> list[LevelPoint]:
    """The points of the current cartridge: those after the last rise of `SWAP_RISE` or more."""
    start = 0
    for i in range(1, len(points)):
        if points[i].level - points[i - 1].level >= SWAP_RISE:
            start = i
    return list(points[start:])


def pages_per_day(counter: Sequence[CounterPoint]) -> float | None:
    """Pages printed a day over the counter's history, after its last reset (a counter that
    went backwards: a new board); None with less than a day of it."""
    start = 0
    for i in range(1, len(counter)):
        if counter[i].pages < counter[i - 1].pages:
            start = i
    used = counter[start:]
    if len(used) < 2 or used[-1].at - used[0].at < DAY:
        return None
    return (used[-1].pages - used[0].pages) / ((used[-1].at - used[0].at) / DAY)


def level_per_page(points: Sequence[LevelPoint]) -> float | None:
    """Percentage points used per page: least-squares slope of level on pages (one point per
    counter value, the last), None when the counter did not move or is missing."""
    by_pages: dict[int, int] = {}
    for p in points:
        if p.pages is not None:
            by_pages[p.pages] = p.level
    if len(by_pages) < 2:
        return None
    xs = list(by_pages)
    mean_x = sum(xs) / len(xs)
    mean_y = sum(by_pages.values()) / len(xs)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in by_pages.items())
    slope = -sxy / sxx
    return slope if slope > 0 else None


def forecast(index: str, points: Sequence[LevelPoint], counter: Sequence[CounterPoint],
             now: float, level_state: str = "known") -> SupplyForecast:
    """The forecast of supply `index` at `now` from its level points (oldest first, the current
    reading's last) and the device's counter history; `level_state` is the current reading's.
    """
    if level_state == "some-remaining":
        return SupplyForecast(index, reason="level unknown: the device reports only "
                              "\"some remaining\"")
    if not points or points[-1].at < now - STALE_DAYS * DAY or level_state not in (
            "known", "unknown"):
        return SupplyForecast(index, reason="level unknown")
    if level_state == "unknown" or points[-1].at < now:
        # asleep now (or not told this time): the forecast at its last known level, aged
        last = forecast(index, points, [c for c in counter if c.at <= points[-1].at],
                        points[-1].at)
        if last.days_to_empty is None:
            return last
        elapsed = (now - points[-1].at) / DAY
        return replace(last, days_to_empty=round(max(0.0, last.days_to_empty - elapsed), 1))
    current = since_swap(points)
    span = (current[-1].at - current[0].at) / DAY
    basis = {"basis_points": len(current), "basis_days": round(span, 2)}
    level = current[-1].level
    if level <= 0:
        return SupplyForecast(index, 0.0, 0 if current[-1].pages is not None else None,
                              _date(now), "high", "per-day", **basis)
    if len(current) < MIN_POINTS:
        return SupplyForecast(index, reason=f"too few points since the last swap "
                              f"({len(current)}, {MIN_POINTS} needed)", **basis)
    if span < MIN_SPAN_DAYS:
        return SupplyForecast(index, reason=f"too short a span ({span * 24:.0f} h of history "
                              f"since the last swap, {MIN_SPAN_DAYS * 24:.0f} h needed)", **basis)
    drop = max(p.level for p in current) - level
    if drop < MIN_DROP:
        return SupplyForecast(index, reason=f"no consumption yet (the level has not fallen in "
                              f"{span:.1f} days)", **basis)
    per_page = level_per_page(current)
    daily_pages = pages_per_day(counter)
    if per_page is not None and daily_pages:
        pages = level / per_page
        days = pages / daily_pages
        method = "per-page"
    else:
        pages = None
        days = level / (drop / span)
        method = "per-day"
    if days > MAX_DAYS:
        return SupplyForecast(index, reason="no consumption to speak of: over ten years "
                              "at this rate", **basis)
    return SupplyForecast(index, round(days, 1), None if pages is None else int(pages),
                          _date(now + days * DAY), _confidence(span, drop, method),
                          method, **basis)


def _confidence(span: float, drop: int, method: str) -> Confidence:
    """High on a week of history and 5 points of fall measured per page; medium on 3 days and
    3 points; low otherwise."""
    if span >= 7 and drop >= 5 and method == "per-page":
        return "high"
    if span >= 3 and drop >= 3:
        return "medium"
    return "low"


def _date(at: float) -> date:
    return datetime.fromtimestamp(at, UTC).date()
