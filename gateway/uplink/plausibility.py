"""Page counters that cannot be true are problems, not facts: they are withheld from the upload.

A device reports its counters as it likes: a firmware bug, a counter read from the wrong object, a
value that wrapped or a board swapped for one with another count can make a meter jump by
millions or fall between two readings.  Uploaded, such a number is billed.  Every counter of
`Counters` but `cartridge_replacements` (a count of events, not of pages) is judged against the
device's previous reading:

- **backwards**: a counter lower than at the previous reading;
- **jump**: a counter that rose by more than `MAX_PAGES_PER_MINUTE` for the time since the previous
  reading, plus `SLACK` pages.

Such a counter is withheld from this reading (None: unknown, so neither uploaded nor in a meter
snapshot) and reported as a problem of the reading, where the status page shows it.

**A lasting change is taken after one reading.**  The reading stored for the next comparison
holds the withheld counter as unknown, so the next reading's value is taken as it is: a replaced
controller board or a counter reset to another base, reported again, is accepted after one
reading; a one-off glitch (the next reading back on the old track) is never uploaded.

**Parts larger than their whole.**  In one reading, sub-counters that together exceed the total
they are part of by more than `MARGIN` (`SUM_MARGIN_PAGES` plus `SUM_MARGIN_RATIO` of the total:
the counters are read at slightly different instants, and vendors round) are withheld, the total
kept:

- colour + mono + two-colour impressions, each of them alone as well;
- print + copy + fax impressions, each of them alone as well (scan counts originals, not
  impressions: not judged);
- duplex sheets (each sheet is two impressions).

Large and small media are not judged against the total: devices count a large sheet as one or
two (an A3 sheet as two A4 "clicks"), as their billing contract says.
"""

from __future__ import annotations

from dataclasses import fields

from gateway.device.model import Counters, DeviceStatus

COUNTERS = tuple(f.name for f in fields(Counters) if f.name != "cartridge_replacements")
"""The counters judged (every page counter of `Counters`)."""
MAX_PAGES_PER_MINUTE = 600
"""Above the rated speed of the fastest cut-sheet production printers (about 300 pages a minute);
an office printer makes 20 to 80."""
SLACK = 500
"""Pages a counter may gain on top, whatever the time between the readings."""
SUM_MARGIN_PAGES = 100
SUM_MARGIN_RATIO = 0.02
PARTS = (("color", "mono", "two_color"), ("print", "copy", "fax"), ("duplex",))
"""Sub-counters of the total impressions, in groups that together are at most the total."""


def withhold_implausible_counters(previous: DeviceStatus | None, current: DeviceStatus) -> None:
    """Set to None, with a problem, each counter of `current` that went backwards or rose more
    than a printer can print since `previous`, then the sub-counters larger than their total."""
    if previous is not None:
        _against_previous(previous, current)
    _against_total(current)


def _against_previous(previous: DeviceStatus, current: DeviceStatus) -> None:
    minutes = max(0.0, (current.read_at - previous.read_at).total_seconds() / 60)
    allowed = SLACK + MAX_PAGES_PER_MINUTE * minutes
    for name in COUNTERS:
        before = getattr(previous.counters, name)
        now = getattr(current.counters, name)
        if before is None or now is None:
            continue
        if now < before:
            _withhold(current, name, f"went backwards from {before} to {now} (a reset counter "
                      "or another board: taken if the next reading says so again)")
        elif now - before > allowed:
            _withhold(current, name, f"rose from {before} to {now} in {minutes:.0f} min, more "
                      f"than a printer can print ({MAX_PAGES_PER_MINUTE} pages a minute)")


def margin(total: int) -> int:
    """How far parts may exceed their total in one reading."""
    return SUM_MARGIN_PAGES + int(total * SUM_MARGIN_RATIO)


def _against_total(current: DeviceStatus) -> None:
    counters = current.counters
    total = counters.total
    if total is None:
        return
    limit = total + margin(total)
    for group in PARTS:
        known = {name: getattr(counters, name) for name in group}
        known = {name: count for name, count in known.items() if count is not None}
        if "duplex" in known:  # sheets: two impressions each
            known["duplex"] *= 2
        over = {name for name, count in known.items() if count > limit}
        if not over and sum(known.values()) > limit:
            over = set(known)
        for name in sorted(over, key=group.index):
            parts = " + ".join("2 * duplex" if part == "duplex" else part for part in known)
            _withhold(current, name, f"{parts} = {sum(known.values())} is more than the total "
                      f"impressions ({total}), the total kept")


def _withhold(current: DeviceStatus, name: str, why: str) -> None:
    value = getattr(current.counters, name)
    setattr(current.counters, name, None)
    current.problem("counters", name, f"{name} {why}: {value} not used")
