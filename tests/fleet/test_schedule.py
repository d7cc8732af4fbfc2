"""Per-device schedules: jitter, back-off for devices that do not answer and printers asleep."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gateway.device.model import DeviceStatus, State, Supply
from gateway.fleet.schedule import JITTER, Outcome, Schedule, outcome_of
from gateway.settings.schema import PollSettings

POLL = PollSettings(interval=60, unreachable_backoff_max=600, sleep_backoff_max=300,
                    concurrency=4)


def schedule(settings: PollSettings = POLL, seed: int = 1) -> Schedule:
    return Schedule(settings, random.Random(seed))


def reading(levels: list[int | None], reasons: tuple[str, ...] = (),
            message: str | None = None) -> DeviceStatus:
    supplies = [Supply(index=f"1.{i}", level_percent=level,
                       level_state="unknown" if level is None else "known")
                for i, level in enumerate(levels, 1)]
    return DeviceStatus(host="192.0.2.1", supplies=supplies,
                        state=State(printer_state="idle", reasons=list(reasons), message=message))


def within_jitter(delay: float, nominal: float) -> bool:
    return nominal * (1 - JITTER) <= delay <= nominal * (1 + JITTER)


def test_new_devices_are_due_at_once_and_handed_out_earliest_first_up_to_the_limit() -> None:
    s = schedule()
    s.track([3, 1, 2], now=100.0)
    assert s.take_due(100.0, limit=2) == [1, 2]
    assert s.take_due(100.0, limit=5) == [3]  # the others are being read
    assert s.take_due(100.0, limit=5) == []
    assert s.next_due() is None  # every device is being read
    assert not s.first_pass_done()
    for device_id in (1, 2, 3):
        s.done(device_id, Outcome.AWAKE, now=101.0)
    assert s.first_pass_done()
    due = s.next_due()
    assert due is not None and within_jitter(due - 101.0, 60)


def test_awake_devices_are_read_every_interval_with_jitter() -> None:
    s = schedule()
    s.track([1], now=0.0)
    delays = []
    now = 0.0
    for _ in range(200):
        assert s.take_due(now, 1) == [1]
        delays.append(s.done(1, Outcome.AWAKE, now))
        now = s.slots[1].due
        assert s.take_due(now - 0.001, 1) == []  # not before it is due
    assert all(within_jitter(d, 60) for d in delays)
    assert max(delays) - min(delays) > 60 * JITTER  # really jittered, both ways


def test_unreachable_devices_back_off_doubling_to_the_cap_and_reset_when_they_answer() -> None:
    s = schedule()
    s.track([1], now=0.0)
    nominal = []
    for _ in range(6):
        delay = s.done(1, Outcome.UNREACHABLE, now=0.0)
        nominal.append(next(n for n in (120, 240, 480, 600) if within_jitter(delay, n)))
    assert nominal == [120, 240, 480, 600, 600, 600]
    assert s.slots[1].streak == 6
    assert within_jitter(s.done(1, Outcome.AWAKE, now=0.0), 60)
    assert within_jitter(s.done(1, Outcome.UNREACHABLE, now=0.0), 120)  # a new streak


def test_sleeping_printers_are_read_less_often_up_to_their_own_cap() -> None:
    s = schedule()
    s.track([1], now=0.0)
    delays = [s.done(1, Outcome.ASLEEP, now=0.0) for _ in range(4)]
    assert [within_jitter(d, n) for d, n in zip(delays, (120, 240, 300, 300), strict=True)] == \
        [True] * 4
    assert within_jitter(s.done(1, Outcome.AWAKE, now=0.0), 60)


def test_a_cap_below_the_interval_means_the_interval() -> None:
    s = schedule(PollSettings(interval=60, unreachable_backoff_max=10))
    s.track([1], now=0.0)
    assert within_jitter(s.done(1, Outcome.UNREACHABLE, now=0.0), 60)


def test_new_settings_reschedule_from_the_last_reading() -> None:
    s = schedule()
    s.track([1, 2], now=0.0)
    s.take_due(0.0, 2)
    s.done(1, Outcome.AWAKE, now=0.0)
    s.done(2, Outcome.UNREACHABLE, now=0.0)
    s.configure(PollSettings(interval=5, unreachable_backoff_max=600), now=1.0)
    assert within_jitter(s.slots[1].due, 5)
    assert within_jitter(s.slots[2].due, 10)
    s.configure(PollSettings(interval=0.1), now=50.0)  # overdue: due now, not in the past
    assert s.slots[1].due == 50.0
    assert s.take_due(50.0, 5) == [1, 2]


def test_devices_gone_are_dropped_and_read_soon_brings_one_forward() -> None:
    s = schedule()
    s.track([1, 2], now=0.0)
    s.take_due(0.0, 2)
    s.done(1, Outcome.UNREACHABLE, now=0.0)
    s.read_soon(2, now=1.0)  # being read: no change
    s.read_soon(1, now=3.0)  # e.g. discovery found it at a new address
    assert s.slots[1].due == 3.0
    s.track([1], now=4.0)
    assert set(s.slots) == {1}
    assert s.done(2, Outcome.AWAKE, now=5.0) == 0.0  # a reading of a device no longer tracked


def test_a_thousand_devices_found_together_do_not_keep_firing_together() -> None:
    """All due at once at the start; after a few hours of readings (each taking a second), the
    readings are spread over the interval: no second holds more than a few of them."""
    s = schedule(PollSettings(interval=300), seed=7)
    s.track(range(1000), now=0.0)
    starts: Counter[int] = Counter()
    now = 0.0
    while now < 4 * 3600:
        for device_id in s.take_due(now, 1000):
            if now > 3 * 3600:
                starts[int(now)] += 1
            s.done(device_id, Outcome.AWAKE, now + 1.0)
        now = min(s.next_due() or now + 1, now + 1.0)
    # 1,000 devices every 300 s is 3.3 per second on average
    assert max(starts.values()) <= 15, starts.most_common(3)


@pytest.mark.parametrize(("status", "outcome"), [
    (None, Outcome.UNREACHABLE),
    (reading([50, 40]), Outcome.AWAKE),
    (reading([None, None], reasons=("sleep",)), Outcome.ASLEEP),
    (reading([50], reasons=("power-save-report",)), Outcome.ASLEEP),
    (reading([None], message="Sleep"), Outcome.ASLEEP),
    (reading([50], message="Energy Saver Mode"), Outcome.ASLEEP),
    (reading([50], message="Ready"), Outcome.AWAKE),
    (reading([None], reasons=("media-jam-error",)), Outcome.AWAKE),  # never knew levels
])
def test_what_a_reading_says(status: DeviceStatus | None, outcome: Outcome) -> None:
    assert outcome_of(status, levels_were_known=False) is outcome


def test_levels_all_gone_unknown_means_asleep_until_they_come_back() -> None:
    s = schedule()
    s.track([1], now=0.0)
    assert s.record(1, reading([50, None]), now=0.0)[0] is Outcome.AWAKE
    assert s.record(1, reading([None, None]), now=1.0)[0] is Outcome.ASLEEP
    assert s.record(1, reading([None, None]), now=2.0)[0] is Outcome.ASLEEP  # still
    assert s.slots[1].streak == 2
    assert s.record(1, None, now=3.0)[0] is Outcome.UNREACHABLE
    assert s.record(1, reading([None, None]), now=4.0)[0] is Outcome.ASLEEP
    assert s.record(1, reading([49, None]), now=5.0)[0] is Outcome.AWAKE
    other = schedule()
    other.track([2], now=0.0)
    assert other.record(2, reading([None]), now=0.0)[0] is Outcome.AWAKE  # never knew any
