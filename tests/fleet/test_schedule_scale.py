"""The schedule at 10,000 printers (issue 20): what the poll loop asks it per reading (`take_due`,
`record`, `next_due`, `first_pass_done`) costs the same with 100 devices as with 10,000.  Counted,
not timed: every look at the slots goes through a dict that counts lookups and iterations."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import ItemsView, Iterator, KeysView, ValuesView
from datetime import UTC, datetime

from gateway.device.model import DeviceStatus, State, Supply
from gateway.fleet.schedule import Schedule, Slot
from gateway.settings.schema import PollSettings


class CountingSlots(dict[int, Slot]):
    """The schedule's slots, counting how it looks at them."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def get(self, key: int, default: Slot | None = None) -> Slot | None:  # type: ignore[override]
        self.calls["lookup"] += 1
        return super().get(key, default)

    def __getitem__(self, key: int) -> Slot:
        self.calls["lookup"] += 1
        return super().__getitem__(key)

    def __iter__(self) -> Iterator[int]:
        self.calls["iterate"] += 1
        return super().__iter__()

    def values(self) -> ValuesView[Slot]:
        self.calls["iterate"] += 1
        return super().values()

    def items(self) -> ItemsView[int, Slot]:
        self.calls["iterate"] += 1
        return super().items()

    def keys(self) -> KeysView[int]:
        self.calls["iterate"] += 1
        return super().keys()


def status() -> DeviceStatus:
    return DeviceStatus(host="192.0.2.1", read_at=datetime(2026, 1, 1, tzinfo=UTC),
                        supplies=[Supply(index="1.1", kind="toner", level_percent=50,
                                         level_state="known")],
                        state=State(printer_state="idle"))


def per_reading_calls(devices: int, readings: int = 200) -> Counter[str]:
    """The slot lookups and iterations of `readings` readings, as the poll loop makes them, in
    a schedule of `devices` devices all read once already (and the first pass of one not)."""
    schedule = Schedule(PollSettings(), random.Random(1))
    slots = CountingSlots()
    schedule.slots = slots
    schedule.track(range(devices), now=0.0)
    now = 0.0
    for device_id in schedule.take_due(now, devices):
        schedule.record(device_id, status(), now)
    schedule.track(range(devices + 1), now)  # one new device: the first pass is not done
    slots.calls.clear()
    reading = status()
    done = 0
    while done < readings:
        next_due = schedule.next_due()
        assert next_due is not None
        now = max(now, next_due)
        for device_id in schedule.take_due(now, 4):
            schedule.record(device_id, reading, now)
            schedule.first_pass_done()
            done += 1
    return slots.calls


def test_the_per_reading_work_does_not_grow_with_the_fleet() -> None:
    small, large = per_reading_calls(100), per_reading_calls(10_000)
    assert small["iterate"] == large["iterate"] == 0, "no scan of every device per reading"
    assert large["lookup"] <= small["lookup"] * 1.05, (small, large)


def test_the_first_pass_is_counted_not_scanned() -> None:
    schedule = Schedule(PollSettings(), random.Random(1))
    schedule.track([1, 2, 3], now=0.0)
    assert schedule.take_due(0.0, 3) == [1, 2, 3]
    schedule.record(1, None, 0.0)  # no answer: tried, that counts
    assert not schedule.first_pass_done()
    schedule.track([1, 2], now=0.0)  # 3 gone before its first reading
    assert not schedule.first_pass_done()
    schedule.record(2, status(), 0.0)
    assert schedule.first_pass_done()
    schedule.track([1, 2, 4], now=0.0)
    assert not schedule.first_pass_done()
    schedule.track([1, 2], now=0.0)
    assert schedule.first_pass_done()
