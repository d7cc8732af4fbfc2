"""FIG. 10 again at the reading that changes what it judges, not only at the FIG. 7 sync.

The decision's inputs from a device (its functions, installed cartridge models and deliverable
data types: `gateway.uplink.services.abilities`) are compared at each reading with the previous
reading's; when they differ, the device's FIG. 7 runs at once (`CloudLink.sync_all` for that
device: the application information, FIG. 10, the activation or deactivation notices, the
transmission data type table and its S0611 report).  A compatible cartridge installed thus starts
its service right after the reading that shows it.

Only complete readings count (SNMP answered where it is used): a function or cartridge missing
from a partial one may be unseen.  A re-judgement that could not run (the link down, the device
being synchronised already, a cloud error) stays pending and is tried again at the device's next
reading.
"""

from __future__ import annotations

import asyncio
import logging

from gateway.device.model import DeviceStatus
from gateway.fleet.inventory import Device
from gateway.uplink.link import CloudLink
from gateway.uplink.services import DeviceAbilities, abilities

log = logging.getLogger(__name__)


def abilities_changed(previous: DeviceStatus | None, current: DeviceStatus) -> bool:
    """The reading changes an input of FIG. 10 (a first reading changes nothing: FIG. 7 has just
    judged it)."""
    if previous is None:
        return False
    now = abilities(current)
    return now.complete and _inputs(abilities(previous)) != _inputs(now)


def _inputs(device: DeviceAbilities) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    return device.functions, device.installed_models, frozenset(device.unavailable)


class ServiceRejudge:
    """`UploadPipeline.on_reading`: schedules the device's FIG. 7 when a reading changed its
    abilities (or an earlier re-judgement is pending)."""

    def __init__(self, link: CloudLink) -> None:
        self.link = link
        self.pending: set[int] = set()
        """Devices whose re-judgement is due (changed, not yet done)."""
        self._changes: dict[int, int] = {}
        """Per device, how many changes were seen: a re-judgement done on an older reading
        leaves the device pending."""
        self._running: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, device: Device, previous: DeviceStatus | None,
                 status: DeviceStatus) -> None:
        if abilities_changed(previous, status):
            self._changes[device.id] = self._changes.get(device.id, 0) + 1
            self.pending.add(device.id)
        if device.id not in self.pending or device.id in self._running:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # recorded outside the daemon's loop: at the next reading
            return
        self._running.add(device.id)
        task = loop.create_task(self._rejudge(device, status, self._changes.get(device.id, 0)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _rejudge(self, device: Device, status: DeviceStatus, change: int) -> None:
        try:
            if not self.link.status.connected:
                return
            log.debug("services: device %s: abilities changed, FIG. 10 again", device.id)
            done = await self.link.sync_all([(device, status)], full=False)
            if done and self._changes.get(device.id, 0) == change:
                self.pending.discard(device.id)
        finally:
            self._running.discard(device.id)

    async def settle(self) -> None:
        """Wait for the re-judgements under way (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
