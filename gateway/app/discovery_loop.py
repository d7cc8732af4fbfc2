"""Discovery inside the daemon: a run at the start and again every `discovery.interval`, or at
once after a reload that changed what or how to discover.  The reading that identified each
device is its poll: handed on (`on_read`), not read again right away."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from gateway.device.reader import DeviceReader
from gateway.fleet.discovery import Discovery, ReadingsCallback
from gateway.fleet.inventory import Inventory
from gateway.settings.schema import Config
from gateway.wake import first_of

log = logging.getLogger(__name__)


class DiscoveryLoop:
    def __init__(self, config: Callable[[], Config], inventory: Inventory,
                 reader: DeviceReader, on_found: Callable[[], None],
                 on_read: ReadingsCallback | None = None) -> None:
        self.config = config
        self.inventory = inventory
        self.reader = reader
        self.on_found = on_found
        """Called after each run: the devices to poll may have changed."""
        self.on_read = on_read
        """Takes the readings of the runs `run` makes in as the devices' polls."""
        self.last_run: float | None = None
        self._again = asyncio.Event()

    def due(self, now: float) -> bool:
        return self.last_run is None or now - self.last_run >= self.config().discovery.interval

    def run_again(self, now: bool) -> None:
        """A reload: wake the loop to look at the (new) interval; `now` forces a run."""
        if now:
            self.last_run = None
        self._again.set()

    async def discover(self, on_read: ReadingsCallback | None = None) -> None:
        """One run; `on_read` takes its readings in as the devices' polls."""
        report = await Discovery(self.config(), self.inventory, self.reader,
                                 on_read=on_read).run()
        self.last_run = time.time()
        self.on_found()
        log.info("discovery: %d devices found in %.1f s (%d errors)", len(report.found),
                 report.seconds, len(report.errors))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._again.clear()
            if self.due(time.time()):
                try:
                    await self.discover(self.on_read)
                except Exception:  # tried again at the next interval
                    log.exception("discovery failed")
                    self.last_run = time.time()
                    self.on_found()
            assert self.last_run is not None
            wait = self.last_run + self.config().discovery.interval - time.time()
            await first_of(stop, self._again, seconds=max(0.0, wait))
