"""Billing periods of a meter schedule (issue 17): month ends, `last`, time zones, DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.uplink.meter_schedule import due_period, moment, zone_of
from protocols.cloud.registration import MeterSchedule

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(("year", "month", "expected_day"), [
    (2026, 1, 31), (2026, 2, 28), (2028, 2, 29), (2026, 4, 30), (2026, 12, 31)])
def test_last_is_the_months_last_day(year: int, month: int, expected_day: int) -> None:
    at = moment(MeterSchedule("last", "23:30"), ZoneInfo("UTC"), year, month)
    assert at == utc(year, month, expected_day, 23, 30)


def test_a_day_and_time_in_the_schedules_zone() -> None:
    schedule = MeterSchedule(1, "00:00", "Asia/Tokyo")
    # midnight of the 1st in Tokyo is 15:00 UTC on the last day of the month before
    assert moment(schedule, TOKYO, 2026, 12) == utc(2026, 11, 30, 15, 0)
    assert due_period(schedule, TOKYO, utc(2026, 11, 30, 14, 59)).label == "2026-11"
    period = due_period(schedule, TOKYO, utc(2026, 11, 30, 15, 0))
    assert (period.label, period.scheduled_at) == ("2026-12", utc(2026, 11, 30, 15, 0))


def test_the_period_before_the_first_moment_of_a_year_is_last_december() -> None:
    schedule = MeterSchedule(28, "12:00")
    period = due_period(schedule, ZoneInfo("UTC"), utc(2027, 1, 5))
    assert (period.label, period.scheduled_at) == ("2026-12", utc(2026, 12, 28, 12, 0))


def test_a_time_the_clocks_skip_is_the_first_moment_after_the_gap() -> None:
    # New York springs forward on 2027-03-14: 02:00 EST becomes 03:00 EDT (07:00 UTC).
    schedule = MeterSchedule(14, "02:30")
    at = moment(schedule, NEW_YORK, 2027, 3)
    assert at == utc(2027, 3, 14, 7, 0)
    assert at.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:00 EDT"
    # Berlin: 2027-03-28, 02:00 CET becomes 03:00 CEST (01:00 UTC)
    assert moment(MeterSchedule(28, "02:59"), BERLIN, 2027, 3) == utc(2027, 3, 28, 1, 0)


def test_a_time_the_clocks_pass_twice_is_its_first_occurrence() -> None:
    # New York falls back on 2026-11-01: 01:30 happens at 05:30 UTC (EDT) and 06:30 UTC (EST).
    assert moment(MeterSchedule(1, "01:30"), NEW_YORK, 2026, 11) == utc(2026, 11, 1, 5, 30)


def test_the_same_wall_time_moves_in_utc_across_dst() -> None:
    schedule = MeterSchedule(1, "09:00")
    assert moment(schedule, BERLIN, 2027, 1) == utc(2027, 1, 1, 8, 0)  # CET
    assert moment(schedule, BERLIN, 2027, 7) == utc(2027, 7, 1, 7, 0)  # CEST


def test_the_zone_is_the_schedules_else_the_printers_else_utc() -> None:
    assert zone_of(MeterSchedule(1, "00:00", "Asia/Tokyo"), "Europe/Berlin") == TOKYO
    assert zone_of(MeterSchedule(1, "00:00"), "Europe/Berlin") == BERLIN
    assert zone_of(MeterSchedule(1, "00:00", "Not/AZone"), None) == ZoneInfo("UTC")


ZONES = ["UTC", "Asia/Tokyo", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe",
         "America/St_Johns", "Asia/Kathmandu"]


@settings(max_examples=300, deadline=None)
@given(day=st.one_of(st.integers(1, 28), st.just("last")), hour=st.integers(0, 23),
       minute=st.integers(0, 59), zone=st.sampled_from(ZONES),
       at=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31),
                       timezones=st.just(UTC)))
def test_the_due_period_is_the_latest_moment_not_after_the_reading(
        day: int | str, hour: int, minute: int, zone: str, at: datetime) -> None:
    schedule = MeterSchedule(day, f"{hour:02d}:{minute:02d}")
    tz = ZoneInfo(zone)
    period = due_period(schedule, tz, at)
    assert period.scheduled_at <= at
    # the next month's moment is after the reading: no later period is due
    year, month = (int(part) for part in period.label.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    assert moment(schedule, tz, year, month) > at
    # the label is the local month of the moment, within a DST gap's hour of the wall time
    local = period.scheduled_at.astimezone(tz)
    assert local.strftime("%Y-%m") == period.label
    wanted = local.replace(hour=hour, minute=minute, tzinfo=None)
    assert timedelta(0) <= local.replace(tzinfo=None) - wanted <= timedelta(hours=1)
