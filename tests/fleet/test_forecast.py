"""The pure supply forecast (`gateway.fleet.forecast`) on synthetic histories: one test per
robustness case of issue 17 (swaps, sleeping printers, "some remaining", idle weeks, filled
receptacles, not enough history)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from gateway.device.model import Counters, DeviceStatus, Supply
from gateway.fleet.forecast import DAY, CounterPoint, LevelPoint, forecast
from gateway.fleet.readings import record_reading, supply_forecasts
from gateway.store import Store

START = 1_780_000_000.0  # a fixed epoch second


def steady(days: float, level0: float = 100.0, per_page: float = 0.01, pages_a_day: int = 100,
           start_pages: int = 5000, every: float = 3600.0) -> list[LevelPoint]:
    """Hourly points of a supply that uses `per_page` percent a page, `pages_a_day` a day."""
    points = []
    for i in range(int(days * DAY / every) + 1):
        t = i * every
        pages = start_pages + int(pages_a_day * t / DAY)
        points.append(LevelPoint(START + t, int(level0 - per_page * (pages - start_pages)), pages))
    return points


def counter_of(points: list[LevelPoint]) -> list[CounterPoint]:
    return [CounterPoint(p.at, p.pages) for p in points if p.pages is not None]


def test_steady_use_is_forecast_per_page_with_high_confidence() -> None:
    points = steady(10)  # 1 % a day: 1000 pages → 90 % left = 9000 pages, 90 days
    result = forecast("1.1", points, counter_of(points), points[-1].at)
    assert result.method == "per-page" and result.confidence == "high"
    assert 85 <= result.days_to_empty <= 95
    assert 8500 <= result.pages_remaining <= 9500
    assert result.empty_on == date.fromtimestamp(points[-1].at + result.days_to_empty * DAY)
    assert result.reason is None and result.basis_points == len(points)
    assert result.basis_days == 10.0


def test_a_swap_starts_over() -> None:
    old = steady(10, level0=30)  # ends near 20 %
    new = [LevelPoint(p.at + 10 * DAY + 3600, p.level, p.pages + 1000)
           for p in steady(4, level0=100)]
    points = old + new
    result = forecast("1.1", points, counter_of(points), points[-1].at)
    assert result.basis_points == len(new)
    assert 90 <= result.days_to_empty <= 105  # 96 % left at 1 % a day (4 days: quantised)


def test_just_swapped_is_not_enough_history() -> None:
    points = [*steady(10, level0=30), LevelPoint(START + 10 * DAY + 3600, 100, 7000)]
    result = forecast("1.1", points, counter_of(points), points[-1].at)
    assert result.days_to_empty is None and result.reason.startswith("too few points")


def test_a_sleeping_printer_leaves_gaps_not_zeros() -> None:
    points = [p for p in steady(12) if not (3 * DAY <= p.at - START < 8 * DAY)]
    result = forecast("1.1", points, counter_of(points), points[-1].at)
    assert 80 <= result.days_to_empty <= 95


def test_some_remaining_and_unknown_levels_give_no_forecast() -> None:
    points = steady(5)
    some = forecast("1.1", points, [], points[-1].at, level_state="some-remaining")
    assert some.days_to_empty is None and "some remaining" in some.reason
    never = forecast("1.1", [], [], points[-1].at, level_state="unknown")
    stale = forecast("1.1", points, [], points[-1].at + 4 * DAY, level_state="unknown")
    assert never.reason == stale.reason == "level unknown"


def test_a_printer_asleep_now_is_forecast_from_its_last_level() -> None:
    points = steady(10)
    awake = forecast("1.1", points, counter_of(points), points[-1].at)
    asleep = forecast("1.1", points, counter_of(points), points[-1].at + DAY / 2,
                      level_state="unknown")
    assert asleep.days_to_empty == round(awake.days_to_empty - 0.5, 1)
    assert asleep.empty_on == awake.empty_on and asleep.pages_remaining == awake.pages_remaining


def test_weeks_idle_lower_the_daily_rate_not_the_per_page_rate() -> None:
    busy = steady(7)
    idle_from = busy[-1]
    idle = [LevelPoint(idle_from.at + h * 3600, idle_from.level, idle_from.pages)
            for h in range(1, 21 * 24)]
    points = busy + idle  # 7 days at 100 pages a day, then 3 weeks without a page
    result = forecast("1.1", points, counter_of(points), points[-1].at)
    assert result.method == "per-page"
    assert 9000 <= result.pages_remaining <= 9500  # the per-page rate is unchanged
    assert 300 <= result.days_to_empty <= 400  # 25 pages a day on average over 28 days


def test_without_a_counter_the_rate_is_per_day() -> None:
    points = [LevelPoint(p.at, p.level) for p in steady(10)]
    result = forecast("1.1", points, [], points[-1].at)
    assert result.method == "per-day" and result.pages_remaining is None
    assert 80 <= result.days_to_empty <= 100 and result.confidence == "medium"


def test_a_filled_receptacle_forecasts_when_it_is_full() -> None:
    # waste toner: its level is the remaining space, falling as it fills
    points = steady(8, level0=60, per_page=0.005)
    result = forecast("1.5", points, counter_of(points), points[-1].at)
    assert 100 <= result.days_to_empty <= 120  # 56 % of space at 0.5 % a day


def test_too_short_a_span() -> None:
    points = steady(0.5, per_page=0.1)
    result = forecast("1.1", points, counter_of(points), points[-1].at)
    assert result.days_to_empty is None and result.reason.startswith("too short a span")


def test_no_consumption_yet() -> None:
    points = steady(5, pages_a_day=0)
    result = forecast("1.1", points, counter_of(points), points[-1].at)
    assert result.days_to_empty is None and result.reason.startswith("no consumption yet")


def test_an_empty_supply_is_empty_now() -> None:
    points = steady(3, level0=2, per_page=0.01)
    result = forecast("1.1", points, counter_of(points), points[-1].at)
    assert result.days_to_empty == 0.0 and result.pages_remaining == 0


def test_a_counter_reset_does_not_make_negative_pages() -> None:
    points = steady(10)
    counter = counter_of(points)
    reset = [CounterPoint(c.at + 10 * DAY, c.pages - 5000) for c in counter[:49]]
    result = forecast("1.1", points, counter + reset, points[-1].at)
    assert result.days_to_empty is not None and result.days_to_empty > 0


def test_readings_keep_the_page_counter_and_forecasts_travel_with_the_reading(
        tmp_path: Path) -> None:
    with Store.in_directory(tmp_path) as store:
        device = store.conn.execute(
            "INSERT INTO devices (first_seen, last_seen) VALUES (0, 0) RETURNING id").fetchone()[0]

        def reading(hours: int) -> DeviceStatus:
            pages = 1000 + 10 * hours
            return DeviceStatus(
                host="192.0.2.1", read_at=datetime.fromtimestamp(START + hours * 3600, UTC),
                counters=Counters(total=pages),
                supplies=[Supply(index="1.1", level_percent=90 - (pages - 1000) // 50,
                                 level_state="known"),
                          Supply(index="1.2", level_state="some-remaining")])

        for hours in range(0, 5 * 24, 3):
            with store.transaction() as db:
                record_reading(db, device, reading(hours))
        assert store.conn.execute("SELECT COUNT(*) FROM level_history WHERE page_total IS NULL"
                                  ).fetchone()[0] == 0
        status = reading(5 * 24)
        status.forecasts = supply_forecasts(store.conn, device, status)
        with store.transaction() as db:
            record_reading(db, device, status)
        # 10 minutes on, no level changed: the last forecasts are kept, not computed again
        same = DeviceStatus.from_json(status.to_json())
        same.read_at += timedelta(minutes=10)
        same.counters.total = status.counters.total + 10
        assert supply_forecasts(store.conn, device, same) == status.forecasts
    black, waste = status.forecasts
    assert black.method == "per-page" and 3200 <= black.pages_remaining <= 3400  # 66 % at 0.02
    assert 13 <= black.days_to_empty <= 14.5  # 240 pages a day
    assert waste.reason.startswith("level unknown")
    assert DeviceStatus.from_json(status.to_json()).forecasts == status.forecasts
