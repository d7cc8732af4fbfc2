"""systemd's notify protocol (`Type=notify`): READY, RELOADING and STOPPING (sent by
`runner.py`), and while the daemon runs `Heartbeat`'s two messages:

- `STATUS=` the fleet in one line, shown by `systemctl status printgw` ("3 printers: 2 idle,
  1 unreachable; cloud connected; outbox 0"), sent when it changes;
- `WATCHDOG=1` at half of `$WATCHDOG_USEC` (the unit's `WatchdogSec=`), and only while the poll
  loop proves it is alive: each beat wakes it, and the next beat pings only if it came round in
  between.  A blocked event loop sends nothing either, so systemd kills and restarts a wedged
  daemon (`Restart=on-failure`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.wake import first_of

log = logging.getLogger(__name__)

STATUS_EVERY = 10.0
"""Seconds between two looks at the fleet for `STATUS=` (shorter with a short watchdog)."""


def sd_notify(message: str) -> None:
    """Tell systemd about the daemon's state; nothing without `$NOTIFY_SOCKET`."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), address)


def watchdog_interval() -> float | None:
    """Seconds between two `WATCHDOG=1`: half of `$WATCHDOG_USEC`; None when systemd watches
    nothing, or watches another process (`$WATCHDOG_PID`)."""
    pid = os.environ.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


@dataclass(frozen=True)
class FleetSummary:
    """What `STATUS=` says."""

    by_state: Mapping[str, int]
    """Devices by state (the status page's states), in the order to show them."""
    cloud: str
    """"connected", "not connected" or "none"."""
    outbox: int

    def __str__(self) -> str:
        total = sum(self.by_state.values())
        states = ", ".join(f"{n} {state}" for state, n in self.by_state.items() if n)
        fleet = f"{total} printer{'' if total == 1 else 's'}" + (f": {states}" if states else "")
        cloud = "no cloud link" if self.cloud == "none" else f"cloud {self.cloud}"
        return f"{fleet}; {cloud}; outbox {self.outbox}"


class Heartbeat:
    """`STATUS=` and `WATCHDOG=1` while the daemon runs (see the module docstring).

    `summary` gives the fleet's state; `wake_poll` wakes the poll loop, and `poll_came_round`
    says whether it came round since."""

    def __init__(self, summary: Callable[[], FleetSummary], wake_poll: Callable[[], None],
                 poll_came_round: Callable[[], bool]) -> None:
        self.summary = summary
        self.wake_poll = wake_poll
        self.poll_came_round = poll_came_round
        self.watchdog = watchdog_interval()
        self._last_status: str | None = None

    @property
    def beat(self) -> float:
        return STATUS_EVERY if self.watchdog is None else min(STATUS_EVERY, self.watchdog)

    def tell_status(self) -> None:
        """`STATUS=` when the summary changed since the last one sent."""
        try:
            status = str(self.summary())
        except Exception:  # a database error, say: the watchdog goes on, the status waits
            log.exception("systemd: the fleet summary failed")
            return
        if status != self._last_status:
            sd_notify(f"STATUS={status}")
            self._last_status = status

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: a beat every `beat` seconds."""
        if not os.environ.get("NOTIFY_SOCKET"):
            return
        self.wake_poll()
        self.tell_status()
        while True:
            await first_of(stop, seconds=self.beat)
            if stop.is_set():
                return
            if self.watchdog is not None and self.poll_came_round():
                sd_notify("WATCHDOG=1")
            self.wake_poll()  # the proof asked of the next beat
            self.tell_status()
