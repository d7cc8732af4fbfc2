"""Polling inside the daemon: every device read on its own schedule (`gateway/fleet/schedule.py`:
`poll.interval` with jitter, less often while it does not answer or is asleep), at most
`poll.concurrency` at once; each reading taken in as soon as it is complete
(`gateway/app/intake.py`); the FIG. 7 sync of every device when due (the first at every start-up),
once every device has been read (or tried) since the start; FIG. 7 for the printers that answer
again after being unreachable, those that came back together in one round (`CloudLink.sync_all`
bounds the requests at once: a fleet coming back is no storm)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from gateway.app.intake import ReadingIntake
from gateway.device.model import DeviceStatus
from gateway.fleet.inventory import Device, Inventory
from gateway.fleet.poller import Poller
from gateway.fleet.schedule import Outcome, Schedule
from gateway.settings.schema import Config
from gateway.uplink.link import CloudLink
from gateway.wake import first_of

log = logging.getLogger(__name__)

ERROR_PAUSE = 5.0
"""Seconds the loop waits after an unexpected error before it tries again."""


class PollLoop:
    def __init__(self, config: Callable[[], Config], inventory: Inventory, poller: Poller,
                 schedule: Schedule, intake: ReadingIntake, link: CloudLink | None,
                 on_unreachable: Callable[[Device], None] | None = None) -> None:
        self.config = config
        self.inventory = inventory
        self.poller = poller
        self.schedule = schedule
        self.intake = intake
        self.link = link
        self.on_unreachable = on_unreachable
        """Told of each reading that got no answer (local alerts)."""
        self.devices: dict[int, Device] = {}
        self.reads: dict[int, asyncio.Task[None]] = {}
        """Readings under way, by device."""
        self.sync_task: asyncio.Task[None] | None = None
        self.returned: set[int] = set()
        """Devices that answered again after being unreachable, waiting for their FIG. 7."""
        self._stale = True
        self._wake = asyncio.Event()

    def devices_changed(self) -> None:
        """Discovery ran or the config changed: look at the inventory again."""
        self._stale = True
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def came_round(self) -> bool:
        """Whether the loop came round since the last `wake()`: the systemd watchdog's proof
        that polling is alive (`gateway/app/systemd.py`)."""
        return not self._wake.is_set()

    def read_now(self, device_id: int) -> None:
        """Read the device now, not at its next schedule (the cloud link wants its data)."""
        self.schedule.read_soon(device_id, time.monotonic())
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Start the readings that are due, as many as the concurrency limit allows; then wait
        for the next one due, a reading to finish, or new devices."""
        while not stop.is_set():
            self._wake.clear()
            now = time.monotonic()
            next_due = self.schedule.next_due()
            concurrency = self.config().poll.concurrency
            try:
                if self._stale:
                    self._refresh_devices(now)
                for device_id in self.schedule.take_due(now, concurrency - len(self.reads)):
                    self._start_read(self.devices[device_id])
                self._start_sync_round()
                next_due = self.schedule.next_due()
            except Exception:  # a database error, say: try again in a while
                log.exception("polling: scheduling failed")
                next_due = now + ERROR_PAUSE
            full = len(self.reads) >= concurrency
            timeout = None if next_due is None or full else max(0.0, next_due - time.monotonic())
            await first_of(stop, self._wake, seconds=timeout)

    def _refresh_devices(self, now: float) -> None:
        """The devices to read as the inventory has them now (after discovery or a reload); one
        at a new address is read at once."""
        fresh = {d.id: d for d in self.inventory.devices() if d.missing_since is None}
        self.schedule.track(fresh, now)
        for device_id, device in fresh.items():
            known = self.devices.get(device_id)
            if known is not None and known.addresses != device.addresses:
                self.schedule.read_soon(device_id, now)
        self.devices = fresh
        self._stale = False

    def _start_read(self, device: Device) -> None:
        task = asyncio.create_task(self._read(device), name=f"read-{device.id}")
        self.reads[device.id] = task
        task.add_done_callback(lambda _task: self._read_finished(device.id))

    def _read_finished(self, device_id: int) -> None:
        self.reads.pop(device_id, None)
        self._wake.set()

    async def _read(self, device: Device) -> None:
        """Read one device, reschedule it by how that went, and take the reading in."""
        started = time.monotonic()
        try:
            status: DeviceStatus | None = await self.poller.read(device)
        except Exception:  # a bug in a reader: the device counts as not answering
            log.exception("device %s: reading failed", device.id)
            status = None
        await self._take(device, status, started)

    async def take(self, readings: list[tuple[Device, DeviceStatus]]) -> None:
        """Discovery's readings taken in as the devices' polls, as `_read` takes its own, so
        they are not read again right away: the next reading of each comes one interval later.
        A device being read now keeps that reading.  All are marked before the first wait, so
        the loop starts no reading of them meanwhile."""
        if any(device.id not in self.devices for device, _ in readings):
            self._refresh_devices(time.monotonic())  # new ones: tracked, then taken here
        statuses = {device.id: status for device, status in readings}
        taken = [self.devices[i] for i in statuses
                 if i in self.devices and not self.schedule.slots[i].reading]
        for device in taken:
            self.schedule.slots[device.id].reading = True
            self.poller.errors.pop(device.id, None)  # it answered discovery
        pending = iter(taken)

        async def worker() -> None:
            for device in pending:
                await self._take(device, statuses[device.id], time.monotonic())

        await asyncio.gather(*(worker() for _ in range(self.config().poll.concurrency)))

    async def _take(self, device: Device, status: DeviceStatus | None, started: float) -> None:
        slot = self.schedule.slots.get(device.id)
        before = None if slot is None else slot.outcome
        outcome, delay = self.schedule.record(device.id, status, time.monotonic())
        _log_reading(device, before, outcome, delay, time.monotonic() - started)
        if status is None:
            if self.on_unreachable is not None:
                self.on_unreachable(device)
            return
        if before is Outcome.UNREACHABLE:
            self.returned.add(device.id)
        if outcome is not Outcome.ASLEEP or device.id not in self.intake.latest:
            self.intake.latest[device.id] = status
        try:
            await self.intake.accept(device, status)  # committed with others, in a moment
        except Exception:  # a bug, say: the next reading is taken as usual
            log.exception("device %s: the reading could not be taken in", device.id)

    def _start_sync_round(self) -> None:
        """The FIG. 7 sync of every device when it is due and every device has been read (or
        tried) since the start: it sends what the readings show."""
        link = self.link
        if link is None or not link.status.connected \
                or (self.sync_task is not None and not self.sync_task.done()):
            return
        if self.schedule.first_pass_done() and link.sync_due():
            self.returned.clear()
            self.sync_task = asyncio.create_task(self._sync_round(link, None), name="sync")
        elif self.returned:
            ids, self.returned = self.returned, set()
            self.sync_task = asyncio.create_task(self._sync_round(link, ids), name="sync")

    async def _sync_round(self, link: CloudLink, returned: set[int] | None) -> None:
        """FIG. 7 for every device read (`returned` None), or for those that came back."""
        devices = self.devices if returned is None else {
            i: d for i, d in self.devices.items() if i in returned}
        synced = read = 0
        try:
            for chunk in self.intake.readings(devices):  # decoded a chunk at a time
                synced += await link.sync_all(chunk, full=False)
                read += len(chunk)
            if returned is None:
                await link.sync_all([], full=True)  # the round is done: the next one is due later
        except Exception:  # not marked done: tried again at the next reading
            log.exception("cloud: the FIG. 7 sync failed")
            return
        log.log(logging.INFO if read else logging.DEBUG,
                "cloud: %d of %d devices synchronised (FIG. 7%s)", synced, read,
                "" if returned is None else ": answering again")


def _log_reading(device: Device, before: Outcome | None, outcome: Outcome, delay: float,
                 seconds: float) -> None:
    """One debug line per reading; a line at info or warning when a device changes state.  A
    printer going to sleep is no problem: info, not warning."""
    fields = {"device_id": device.id, "address": device.address, "outcome": outcome.value,
              "seconds": round(seconds, 3), "next_in": round(delay, 1)}
    log.debug("device %s: %s (%.1f s); next reading in %.0f s", device.id, outcome.value,
              seconds, delay, extra=fields)
    if outcome is before:
        return
    if outcome is Outcome.UNREACHABLE:
        log.warning("device %s at %s does not answer; trying again in %.0f s, then less and "
                    "less often", device.id, device.address, delay, extra=fields)
    elif outcome is Outcome.ASLEEP:
        log.info("device %s is asleep (power save); read less often while it sleeps",
                 device.id, extra=fields)
    elif before is Outcome.UNREACHABLE:
        log.info("device %s at %s answers again", device.id, device.address, extra=fields)
    elif before is Outcome.ASLEEP:
        log.info("device %s is awake", device.id, extra=fields)
