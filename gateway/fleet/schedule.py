"""When each device is read next: one schedule per device, with jitter and back-off.

`printgw run` does not read the whole fleet at once every `poll.interval`: every device has its
own next-due time, and the daemon reads the devices that are due, at most `poll.concurrency` at
once (earliest due first).  After a reading:

- a device that answered awake is due again after `poll.interval`, give or take `JITTER` (10 %).
  Devices read together drift apart (the jitter of successive readings adds up, a random walk),
  so 1,000 devices found together do not keep firing together;
- a device that did not answer is due again after twice the interval, doubling with each
  failure in a row up to `poll.unreachable_backoff_max`; back to the interval when it answers;
- a printer that answered asleep (power save: it says so, or its supply levels all went
  unknown) is read less often in the same way, up to `poll.sleep_backoff_max`, so it is not
  woken needlessly.  A sleeping printer is not an outage: its reading is no failure.

A device is due at once when it is first tracked (its first reading, also at start-up) and
when the daemon asks (`read_soon`: its address changed, or the cloud link wants its data now: a
service became active); asked while it is being read, it is read again as soon as that ends.
Such an extra reading does not move the device's regular ones: the next is due when it was.
The schedule reads nothing itself; it is told how each reading went (`done`), on the clock the
caller passes (monotonic seconds).
"""

from __future__ import annotations

import enum
import heapq
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.device.model import DeviceStatus
from gateway.settings.schema import PollSettings

JITTER = 0.1
"""Each delay is drawn from ±10 % around its nominal value."""
MAX_DOUBLINGS = 30

_SLEEP_REASONS = {"sleep", "power-save", "standby", "energy-saver", "power-saver"}
"""`printer-state-reasons` keywords (severity suffix removed) of a printer in power save."""
_SLEEP_MESSAGE = re.compile(r"\b(sleep\w*|power ?sav\w*|energy ?sav\w*|stand-?by|low power)\b",
                            re.IGNORECASE)
"""Console messages of a printer in power save (`prtConsoleDisplayBufferText`, IPP message)."""


class Outcome(enum.Enum):
    AWAKE = "awake"
    ASLEEP = "asleep"
    UNREACHABLE = "unreachable"


def outcome_of(status: DeviceStatus | None, *, levels_were_known: bool) -> Outcome:
    """How a reading went: no answer, a printer asleep, or awake.

    Asleep is what the printer says (a `sleep`/`power-save` reason, a console message such as
    "Sleep" or "Energy Saver"), or, when it does not say, every supply level unknown where the
    previous awake reading knew some (printers in power save answer -2, "unknown", for levels
    they cannot measure without waking the engine)."""
    if status is None:
        return Outcome.UNREACHABLE
    reasons = {re.sub(r"-(report|warning|error)$", "", reason) for reason in status.state.reasons}
    if reasons & _SLEEP_REASONS:
        return Outcome.ASLEEP
    if status.state.message and _SLEEP_MESSAGE.search(status.state.message):
        return Outcome.ASLEEP
    if levels_were_known and status.supplies and not levels_known(status):
        return Outcome.ASLEEP
    return Outcome.AWAKE


def levels_known(status: DeviceStatus) -> bool:
    """Whether the reading knows any supply level (a number, or a state such as "some left")."""
    return any(supply.level_state != "unknown" for supply in status.supplies)


@dataclass(slots=True)
class Slot:
    """One device's place in the schedule (slots: one per device, thousands of them)."""

    device_id: int
    due: float
    outcome: Outcome | None = None
    """How the last reading went; None before the first one."""
    streak: int = 0
    """Readings in a row with this outcome."""
    last_read: float | None = None
    reading: bool = False
    """A reading is under way (handed out by `take_due`, not yet `done`)."""
    levels_known: bool = False
    """The last awake reading knew supply levels."""
    again: bool = False
    """Asked for (`read_soon`) while being read: due again as soon as that reading ends."""
    resume_at: float | None = None
    """The regular due time an extra reading (`read_soon`) stepped in front of."""


class Schedule:
    def __init__(self, settings: PollSettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.rng = rng or random.Random()
        self.slots: dict[int, Slot] = {}
        self._heap: list[tuple[float, int]] = []
        """(due, device ID) of every due time set; an entry whose slot has moved on since (a
        new due time, being read, gone) is skipped when it comes up."""
        self._unread = 0
        """How many slots have no outcome yet: `first_pass_done` is asked at every turn of the
        poll loop, so it counts rather than scans the fleet."""

    def _set_due(self, slot: Slot, due: float) -> None:
        slot.due = due
        heapq.heappush(self._heap, (due, slot.device_id))

    def _current(self, due: float, device_id: int) -> Slot | None:
        slot = self.slots.get(device_id)
        return slot if slot is not None and not slot.reading and slot.due == due else None

    def configure(self, settings: PollSettings, now: float) -> None:
        """New poll settings (a reload): every device not being read is rescheduled from its
        last reading with the new delays (one that is then overdue is due now)."""
        self.settings = settings
        for slot in self.slots.values():
            if slot.last_read is not None and not slot.reading:
                self._set_due(slot, max(now, slot.last_read + self.delay(slot.outcome,
                                                                         slot.streak)))

    def track(self, device_ids: Iterable[int], now: float) -> None:
        """The devices to read: new ones are due now, those no longer listed are dropped."""
        wanted = set(device_ids)
        for device_id in self.slots.keys() - wanted:
            self._unread -= self.slots.pop(device_id).outcome is None
        for device_id in wanted - self.slots.keys():
            self.slots[device_id] = slot = Slot(device_id, now)
            self._unread += 1
            self._set_due(slot, now)

    def read_soon(self, device_id: int, now: float) -> None:
        slot = self.slots.get(device_id)
        if slot is not None and slot.reading:
            slot.again = True
        elif slot is not None and now < slot.due:
            if slot.resume_at is None:
                slot.resume_at = slot.due
            self._set_due(slot, now)

    def take_due(self, now: float, limit: int) -> list[int]:
        """Up to `limit` devices due by `now`, earliest first; each is then being read until
        `done`."""
        taken: list[int] = []
        while self._heap and self._heap[0][0] <= now and len(taken) < limit:
            slot = self._current(*heapq.heappop(self._heap))
            if slot is not None:
                slot.reading = True
                taken.append(slot.device_id)
        return taken

    def record(self, device_id: int, status: DeviceStatus | None,
               now: float) -> tuple[Outcome, float]:
        """A reading finished (`status` None: no answer): how it went (`outcome_of`, knowing
        whether the device's last awake reading had supply levels) and the delay until the
        device's next reading."""
        slot = self.slots.get(device_id)
        outcome = outcome_of(status, levels_were_known=slot is not None and slot.levels_known)
        if slot is not None and status is not None and outcome is Outcome.AWAKE:
            slot.levels_known = levels_known(status)
        return outcome, self.done(device_id, outcome, now)

    def done(self, device_id: int, outcome: Outcome, now: float) -> float:
        """A reading finished; returns the delay until the device's next one."""
        slot = self.slots.get(device_id)
        if slot is None:  # no longer tracked (missing since): nothing to schedule
            return 0.0
        slot.streak = slot.streak + 1 if outcome is slot.outcome else 1
        self._unread -= slot.outcome is None
        slot.outcome = outcome
        slot.last_read = now
        slot.reading = False
        delay = self.delay(outcome, slot.streak)
        if slot.resume_at is not None and outcome is Outcome.AWAKE:
            delay = max(0.0, min(delay, slot.resume_at - now))  # an extra reading: on schedule
        slot.resume_at = None
        if slot.again and outcome is not Outcome.UNREACHABLE:
            slot.resume_at, delay = now + delay, 0.0
        slot.again = False
        self._set_due(slot, now + delay)
        return delay

    def delay(self, outcome: Outcome | None, streak: int) -> float:
        """The nominal delay after `streak` readings in a row with `outcome`, with jitter."""
        interval = self.settings.interval
        nominal = interval
        if outcome is Outcome.UNREACHABLE or outcome is Outcome.ASLEEP:
            cap = (self.settings.unreachable_backoff_max if outcome is Outcome.UNREACHABLE
                   else self.settings.sleep_backoff_max)
            nominal = min(interval * 2.0 ** min(streak, MAX_DOUBLINGS), max(cap, interval))
        return nominal * self.rng.uniform(1 - JITTER, 1 + JITTER)

    def next_due(self) -> float | None:
        """The earliest due time of a device not being read; None when there is none."""
        while self._heap:
            if self._current(*self._heap[0]) is not None:
                return self._heap[0][0]
            heapq.heappop(self._heap)
        return None

    def first_pass_done(self) -> bool:
        """Every device has been read (or tried) at least once."""
        return self._unread == 0
