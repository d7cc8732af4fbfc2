"""Counter plausibility for every meter (issue 17): backwards and jumps withheld with a problem, a
lasting change taken after one reading, sub-counters larger than their total withheld."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.device.model import Counters, DeviceStatus
from gateway.uplink.plausibility import COUNTERS, margin, withhold_implausible_counters

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def reading(minutes: float, **counters: int | None) -> DeviceStatus:
    return DeviceStatus(host="192.0.2.30", read_at=START + timedelta(minutes=minutes),
                        reachable={"snmp": True}, counters=Counters(**counters))


def test_every_page_counter_is_judged_but_the_cartridge_replacements() -> None:
    assert set(COUNTERS) == {"total", "color", "mono", "two_color", "print", "copy", "fax",
                             "scan", "large", "small", "duplex", "contract"}


@pytest.mark.parametrize("name", ["print", "copy", "fax", "scan", "large", "small", "duplex",
                                  "two_color", "contract"])
def test_each_meter_going_backwards_or_jumping_is_withheld(name: str) -> None:
    back = reading(5, **{name: 900})
    withhold_implausible_counters(reading(0, **{name: 1000}), back)
    jump = reading(5, **{name: 10**9})
    withhold_implausible_counters(reading(0, **{name: 1000}), jump)
    assert getattr(back.counters, name) is None and getattr(jump.counters, name) is None
    assert [p.where for p in back.problems + jump.problems] == [name, name]
    assert "went backwards from 1000 to 900" in back.problems[0].message
    assert "rose from 1000 to 1000000000" in jump.problems[0].message


def test_cartridge_replacements_are_not_judged() -> None:
    current = reading(5, cartridge_replacements=0)
    withhold_implausible_counters(reading(0, cartridge_replacements=7), current)
    assert current.counters.cartridge_replacements == 0 and not current.problems


def test_colour_and_mono_more_than_the_total_are_withheld_the_total_kept() -> None:
    current = reading(0, total=10_000, color=6_000, mono=6_000, two_color=0)
    withhold_implausible_counters(None, current)
    assert current.counters == Counters(total=10_000)
    assert [p.where for p in current.problems] == ["color", "mono", "two_color"]
    assert "more than the total impressions (10000)" in current.problems[0].message


def test_within_the_margin_parts_are_kept() -> None:
    total = 100_000
    current = reading(0, total=total, color=50_000, mono=50_000 + margin(total), print=total,
                      copy=0, duplex=total // 2)
    withhold_implausible_counters(None, current)
    assert not current.problems


def test_one_part_alone_above_the_total_is_the_one_withheld() -> None:
    current = reading(0, total=1000, print=5000, copy=10, fax=0, scan=9_999_999)
    withhold_implausible_counters(None, current)
    assert (current.counters.print, current.counters.copy, current.counters.fax) == (None, 10, 0)
    assert current.counters.scan == 9_999_999  # originals scanned are no impressions
    assert [p.where for p in current.problems] == ["print"]


def test_duplex_sheets_are_two_impressions_each() -> None:
    kept, withheld = reading(0, total=1000, duplex=500), reading(0, total=1000, duplex=700)
    withhold_implausible_counters(None, kept)
    withhold_implausible_counters(None, withheld)
    assert kept.counters.duplex == 500 and withheld.counters.duplex is None


def test_large_and_small_media_are_not_judged_against_the_total() -> None:
    current = reading(0, total=1000, large=1500, small=800)  # A3 counted as two clicks
    withhold_implausible_counters(None, current)
    assert not current.problems


def test_a_total_withheld_for_a_jump_is_not_used_to_judge_its_parts() -> None:
    current = reading(5, total=10**9, color=600, mono=600)
    withhold_implausible_counters(reading(0, total=1000, color=500, mono=500), current)
    assert (current.counters.total, current.counters.color, current.counters.mono) == (
        None, 600, 600)
