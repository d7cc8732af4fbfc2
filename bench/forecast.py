"""Benchmark: supply forecasts against the simulator's known truth.

A bounded set of virtual printers (`simulator.profiles`) runs days of printing in simulated
time (`simulator.history`): office weekdays only, steady, bursty, a cartridge swap in the
middle, a printer asleep every night, and colour MFPs whose waste box reports only `-3` "some
remaining".  Each hourly reading goes through the gateway's own write path
(`gateway.fleet.readings.record_reading`, with its thinning, into a real store), and after 3, 7
and 14 days of history the gateway's forecast (`supply_forecasts`) is compared with when the
simulator, run on from that moment, actually empties each supply (a receptacle: fills it).

Printed: per history length, the supplies forecast and those answered "not enough history",
and the forecast error in days (median and 90th percentile of |forecast - truth|, and the
median relative error).  A supply the simulator does not empty within a year is not scored.
No network: the printers are simulated in this process; it stops by itself.

    python bench/forecast.py [--printers 4] [--days 3,7,14]
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.device.model import Counters, DeviceStatus, Supply
from gateway.fleet.readings import record_reading, supply_forecasts
from gateway.store import Store
from simulator.history import (
    HOUR,
    Sample,
    empty_after,
    run_history,
    supply_index,
)
from simulator.profiles import get_profile
from simulator.state import PrinterState

START = datetime(2026, 3, 2, tzinfo=UTC).timestamp()  # a Monday
TRUTH_DAYS = 365


@dataclass(frozen=True)
class Scenario:
    name: str
    profile: str
    usage: str
    daily_pages: int
    swap_at_hour: int | None = None


SCENARIOS = (
    Scenario("office", "mono-laser", "office", 60),
    Scenario("steady", "color-mfp", "steady", 150),
    Scenario("bursty", "mono-laser", "bursty", 60),
    Scenario("swap", "inkjet", "steady", 15, swap_at_hour=36),
    Scenario("sleeping", "mono-laser", "sleeping", 60),
    Scenario("some-remaining", "color-mfp", "office", 150),
)


@dataclass
class Score:
    forecast: int = 0
    abstained: int = 0
    """"Not enough history" (too few points, too short a span, no consumption yet)."""
    no_level: int = 0
    """No forecast because the supply tells no level (`-3` "some remaining")."""
    errors: list[float] | None = None
    relative: list[float] | None = None


def status_of(sample: Sample, receptacles: frozenset[str] = frozenset()) -> DeviceStatus:
    """A sample as the gateway maps the reading: levels in percent, or the state reported
    instead; the supplies of `receptacles` (indexes) are filled receptacles (waste toner)."""
    supplies = [Supply(index=index, level_percent=level if level >= 0 else None,
                       level_state="known" if level >= 0 else
                       "some-remaining" if level == -3 else "unknown",
                       supply_class="filled" if index in receptacles else "consumed")
                for index, level in sample.levels.items()]
    return DeviceStatus(host="127.0.0.1", read_at=datetime.fromtimestamp(sample.at, UTC),
                        supplies=supplies, counters=Counters(total=sample.pages))


def record_samples(store: Store, device_id: int, samples: Iterable[Sample],
                   receptacles: frozenset[str] = frozenset()) -> None:
    """Write samples into the store as the gateway would have recorded those readings (thinned
    and pruned by `record_reading`): the device's past, for a forecast."""
    with store.transaction() as db:
        for sample in samples:
            record_reading(db, device_id, status_of(sample, receptacles))


def receptacles_of(state: PrinterState) -> frozenset[str]:
    return frozenset(supply_index(state, s) for s in state.supplies if s.is_receptacle)


def run(printers: int, horizons: list[int], seed: int = 1) -> dict[int, Score]:
    scores = {days: Score(errors=[], relative=[]) for days in horizons}
    with tempfile.TemporaryDirectory() as tmp, Store.in_directory(tmp) as store:
        for n, scenario in enumerate(s for s in SCENARIOS for _ in range(printers)):
            rng = random.Random(seed * 1000 + n)
            state = get_profile(scenario.profile).make_state(n, rng)
            device_id = store.conn.execute(
                "INSERT INTO devices (first_seen, last_seen) VALUES (0, 0) RETURNING id"
            ).fetchone()[0]

            def swap(hour: int, state: PrinterState = state,
                     at: int | None = scenario.swap_at_hour) -> None:
                if hour == at:
                    state.replace(state.supplies[0].index)

            done = 0
            for days in sorted(horizons):
                samples = run_history(state, scenario.usage, (days - done) * 24,
                                      START + done * 24 * HOUR, rng, scenario.daily_pages,
                                      on_hour=lambda h, d=done: swap(h + d * 24))
                done = days
                filled = receptacles_of(state)
                record_samples(store, device_id, samples[:-1], filled)
                now = samples[-1]
                forecasts = supply_forecasts(store.conn, device_id, status_of(now, filled))
                record_samples(store, device_id, [now], filled)
                truth = empty_after(state, scenario.usage, now.at, copy.deepcopy(rng),
                                    scenario.daily_pages, max_days=TRUTH_DAYS)
                score(scores[days], forecasts, truth)
    return scores


def score(into: Score, forecasts: Iterable, truth: dict[str, float | None]) -> None:
    for f in forecasts:
        if f.days_to_empty is None:
            if f.reason.startswith("level unknown"):
                into.no_level += 1
            else:
                into.abstained += 1
            continue
        actual = truth.get(f.index)
        if actual is None:
            continue  # not empty within a year: not scored
        into.forecast += 1
        actual_days = actual / 86400
        into.errors.append(abs(f.days_to_empty - actual_days))
        if actual_days >= 1:
            into.relative.append(abs(f.days_to_empty - actual_days) / actual_days)


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def report(scores: dict[int, Score], seconds: float, printers: int) -> str:
    lines = [f"forecast error against the simulator's truth, {len(SCENARIOS) * printers} "
             f"printers ({', '.join(s.name for s in SCENARIOS)}), {seconds:.0f} s",
             "| history | forecast | not enough history | no level | median days off "
             "| p90 days off | median % off |", "|---|---|---|---|---|---|---|"]
    for days, s in sorted(scores.items()):
        errors = s.errors or [float("nan")]
        relative = s.relative or [float("nan")]
        lines.append(f"| {days} days | {s.forecast} | {s.abstained} | {s.no_level} | "
                     f"{statistics.median(errors):.1f} | {p90(errors):.1f} | "
                     f"{statistics.median(relative) * 100:.0f} % |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--printers", type=int, default=4, help="printers per usage pattern")
    parser.add_argument("--days", default="3,7,14", help="history lengths, comma-separated")
    args = parser.parse_args(argv)
    horizons = [int(d) for d in args.days.split(",")]
    started = time.perf_counter()
    scores = run(args.printers, horizons)
    print(report(scores, time.perf_counter() - started, args.printers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
