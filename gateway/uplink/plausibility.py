"""Page counters that rise faster than any printer prints are problems, not facts.

A device reports its counters as it likes: a firmware bug, a counter read from the wrong object or
a value that wrapped can make the page count jump by millions between two readings.  Uploaded, such
a jump is billed.  So a counter that rose by more than `MAX_PAGES_PER_MINUTE` for the time since the
device's previous reading (plus `SLACK` pages) is withheld from this reading (None: unknown) and
reported as a problem of the reading, where the status page shows it.  If the device goes on
reporting the new value, the next reading is compared with it: a lasting change (a new controller
board, a counter reset to another base) is taken after one reading, a glitch is never uploaded.

A counter that goes down is not judged here: a replaced board or a reset counter does that too.
"""

from __future__ import annotations

from gateway.device.model import DeviceStatus

COUNTERS = ("total", "color", "mono", "contract")
MAX_PAGES_PER_MINUTE = 600
"""Above the rated speed of the fastest cut-sheet production printers (about 300 pages a minute);
an office printer makes 20 to 80."""
SLACK = 500
"""Pages a counter may gain on top, whatever the time between the readings."""


def withhold_implausible_counters(previous: DeviceStatus | None, current: DeviceStatus) -> None:
    """Set to None, with a problem, each counter of `current` that rose more than a printer can
    print since `previous`."""
    if previous is None:
        return
    minutes = max(0.0, (current.read_at - previous.read_at).total_seconds() / 60)
    allowed = SLACK + MAX_PAGES_PER_MINUTE * minutes
    for name in COUNTERS:
        before = getattr(previous.counters, name)
        now = getattr(current.counters, name)
        if before is None or now is None or now - before <= allowed:
            continue
        setattr(current.counters, name, None)
        current.problem("counters", name,
                        f"rose from {before} to {now} in {minutes:.0f} min, more than a printer "
                        f"can print ({MAX_PAGES_PER_MINUTE} pages a minute): not used")
