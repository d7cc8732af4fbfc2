"""What happens to each reading the daemon takes: kept as the device's newest good reading (what
the FIG. 7 sync goes by), the device registered first when it is new and the cloud link is up,
then what the reading causes queued by the uplink pipeline (committed with it) and the sender
woken."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from gateway.device.model import DeviceStatus
from gateway.fleet.inventory import Device
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.link import CloudLink
from gateway.uplink.pipeline import UploadPipeline


class ReadingIntake:
    def __init__(self, pipeline: UploadPipeline, state: CloudState, link: CloudLink | None,
                 wake_sender: asyncio.Event) -> None:
        self.pipeline = pipeline
        self.state = state
        self.link = link
        self.wake_sender = wake_sender
        self.latest: dict[int, DeviceStatus] = {}
        """The newest good reading of each device: a printer asleep keeps the one it had
        awake."""

    def record(self, device: Device, status: DeviceStatus) -> int:
        """Queue what a reading causes (committed with it); the number of entries queued."""
        return len(self.pipeline.record(device, status))

    async def accept(self, device: Device, status: DeviceStatus) -> None:
        """A new device is registered first (when the cloud link is up); then what the reading
        causes is queued (events are detected against the last known levels: `events.baseline`
        keeps those of a printer asleep)."""
        link = self.link
        if link is not None and link.status.connected and self.state.printer_id(device.id) is None:
            await link.sync_all([(device, status)], full=False)
        if self.record(device, status):
            self.wake_sender.set()

    def readings(self, devices: Mapping[int, Device]) -> list[tuple[Device, DeviceStatus]]:
        """The newest reading of each of `devices` that has one."""
        return [(devices[i], s) for i, s in list(self.latest.items()) if i in devices]

    async def register_read_devices(self, devices: Mapping[int, Device]) -> None:
        """Once the link is up: the devices read while it was not are registered, and their
        newest reading queued (it queued nothing while they had no printer ID)."""
        assert self.link is not None
        fresh = [(d, s) for d, s in self.readings(devices) if self.state.printer_id(d.id) is None]
        if not fresh:
            return
        await self.link.sync_all(fresh, full=False)
        queued = sum(self.record(d, s) for d, s in fresh if self.state.printer_id(d.id))
        if queued:
            self.wake_sender.set()
