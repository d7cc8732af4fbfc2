"""A reading asked for now (`Schedule.read_soon`: the cloud link wants a device's data at once):
due at once, again right after a reading under way, and the regular readings stay on time."""

from __future__ import annotations

import random

from gateway.fleet.schedule import Outcome, Schedule
from gateway.settings.schema import PollSettings

POLL = PollSettings(interval=60, unreachable_backoff_max=600, sleep_backoff_max=300,
                    concurrency=4)


def read_once(s: Schedule, now: float) -> float:
    assert s.take_due(now, limit=1) == [1]
    return s.done(1, Outcome.AWAKE, now)


def test_an_extra_reading_now_keeps_the_regular_ones_on_time() -> None:
    s = Schedule(POLL, random.Random(3))
    s.track([1], now=0.0)
    regular = read_once(s, 0.0)  # next due at `regular`, about 60 s
    s.read_soon(1, now=10.0)
    assert s.next_due() == 10.0
    assert read_once(s, 10.0) == regular - 10.0  # still due when it was
    assert s.next_due() == regular


def test_asked_while_being_read_it_is_read_again_at_once() -> None:
    s = Schedule(POLL, random.Random(3))
    s.track([1], now=0.0)
    assert s.take_due(0.0, limit=1) == [1]
    s.read_soon(1, now=0.5)  # the reading under way may be too early for what changed
    assert s.done(1, Outcome.AWAKE, 1.0) == 0.0
    assert s.next_due() == 1.0
    delay = read_once(s, 1.0)
    assert 54 <= delay <= 66  # then the regular interval from the reading under way


def test_a_device_that_does_not_answer_is_not_hammered() -> None:
    s = Schedule(POLL, random.Random(3))
    s.track([1], now=0.0)
    assert s.take_due(0.0, limit=1) == [1]
    s.read_soon(1, now=0.5)
    assert s.done(1, Outcome.UNREACHABLE, 1.0) > 100  # backed off as usual
