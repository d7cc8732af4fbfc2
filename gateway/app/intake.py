"""What happens to each reading the daemon takes: kept as the device's newest good reading (what
the FIG. 7 sync goes by, compact: `gateway.uplink.latest`), the device registered first when it is
new and the cloud link is up, then what the reading causes queued by the uplink pipeline (committed
with it) and the sender woken.

Group commits: the readings that arrive within `BATCH_SECONDS` of each other (at most
`BATCH_READINGS`) are committed in one transaction (`UploadPipeline.record_many`): one fsync for
them all instead of one each, which at thousands of printers was the event loop's largest wait.
The commit is synchronous, between two awaits, so no other task (the sender above all) ever sees
an entry before it is committed and durable; the sender is woken after it.  A crash loses at most
the readings of the last `BATCH_SECONDS` (each simply read again after the restart), never half
of one; `flush()` commits what is gathered at once (shutdown, the end of a cycle)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping

from gateway.device.model import DeviceStatus
from gateway.fleet.inventory import Device
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.latest import LatestReadings
from gateway.uplink.link import CloudLink
from gateway.uplink.pipeline import UploadPipeline

log = logging.getLogger(__name__)

BATCH_READINGS = 64
"""At most this many readings in one commit: a commit blocks the event loop while it records
them (about 0.3 ms of CPU each)."""
BATCH_SECONDS = 0.1
"""A reading waits at most this long for others to be committed with."""
SYNC_CHUNK = 128
"""Readings decoded at once for a sync of many devices (`CloudLink.sync_all` works on at most
`SYNC_CONCURRENCY` of them at a time anyway)."""


class ReadingIntake:
    def __init__(self, pipeline: UploadPipeline, state: CloudState, link: CloudLink | None,
                 wake_sender: asyncio.Event) -> None:
        self.pipeline = pipeline
        self.state = state
        self.link = link
        self.wake_sender = wake_sender
        self.latest = LatestReadings() if link is None else link.statuses
        """The newest good reading of each device (a printer asleep keeps the one it had
        awake), compact; the cloud link's own, with one: one copy of each."""
        self.queued = 0
        """Entries queued by the readings committed since the start."""
        self._pending: list[tuple[Device, DeviceStatus]] = []
        self._timer: asyncio.TimerHandle | None = None

    def record(self, device: Device, status: DeviceStatus) -> int:
        """Queue what a reading causes, committed when this returns (after what is gathered);
        the number of entries queued.  Raises what the store raises."""
        self.flush()
        queued = len(self.pipeline.record(device, status))
        self.queued += queued
        return queued

    def submit(self, device: Device, status: DeviceStatus) -> None:
        """Gather the reading: committed with the others within `BATCH_SECONDS`, or at once
        when `BATCH_READINGS` are gathered.  In the event loop."""
        self._pending.append((device, status))
        if len(self._pending) >= BATCH_READINGS:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(BATCH_SECONDS, self.flush)

    def record_many(self, readings: Iterable[tuple[Device, DeviceStatus]]) -> int:
        """Commit these readings now, after what is gathered (`BATCH_READINGS` a commit); the
        number of entries queued."""
        before = self.queued
        for device, status in readings:
            self._pending.append((device, status))
            if len(self._pending) >= BATCH_READINGS:
                self.flush()
        self.flush()
        return self.queued - before

    def flush(self) -> int:
        """Commit every reading gathered, in one transaction, and wake the sender when they
        queued anything; the number of entries queued.  A failed commit is logged (its readings
        are read again at their next schedule)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        if not pending:
            return 0
        try:
            results = self.pipeline.record_many(pending)
        except Exception:
            log.exception("%d readings could not be recorded", len(pending))
            return 0
        queued = sum(len(entries) for entries in results if entries)
        self.queued += queued
        if queued:
            self.wake_sender.set()
        return queued

    async def accept(self, device: Device, status: DeviceStatus) -> None:
        """A new device is registered first (when the cloud link is up); then the reading is
        gathered (`submit`) and what it causes queued when it is committed (events are detected
        against the last known levels: `events.baseline` keeps those of a printer asleep)."""
        link = self.link
        if link is not None and link.status.connected and self.state.printer_id(device.id) is None:
            await link.sync_all([(device, status)], full=False)
        self.submit(device, status)

    def readings(self, devices: Mapping[int, Device]) -> Iterator[list[tuple[Device,
                                                                             DeviceStatus]]]:
        """The newest reading of each of `devices` that has one, `SYNC_CHUNK` at a time: each
        decoded only when its chunk comes, so a sync of the whole fleet never holds every
        reading as objects at once."""
        ids = [i for i in self.latest if i in devices]
        for start in range(0, len(ids), SYNC_CHUNK):
            yield [(devices[i], self.latest[i]) for i in ids[start:start + SYNC_CHUNK]
                   if i in self.latest]

    async def register_read_devices(self, devices: Mapping[int, Device]) -> None:
        """Once the link is up: the devices read while it was not are registered, and their
        newest reading queued (it queued nothing while they had no printer ID)."""
        assert self.link is not None
        fresh = {i: d for i, d in devices.items()
                 if i in self.latest and self.state.printer_id(i) is None}
        for chunk in self.readings(fresh):
            await self.link.sync_all(chunk, full=False)
            self.record_many((d, s) for d, s in chunk if self.state.printer_id(d.id))
