"""One full cycle, what `printgw run --once` does: discover when due, read every device, register
and synchronise it with the cloud, queue what the readings cause, deliver the outbox.  A device
discovery read in this cycle is not read again: that reading is its poll."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gateway.app.cloud_loop import CloudUplink
from gateway.app.discovery_loop import DiscoveryLoop
from gateway.app.intake import ReadingIntake
from gateway.device.model import DeviceStatus
from gateway.fleet.inventory import Device, Inventory
from gateway.fleet.poller import Poller
from gateway.uplink.outbox import Outbox


@dataclass
class CycleReport:
    devices: int = 0
    read: int = 0
    unreachable: list[int] = field(default_factory=list)
    queued: int = 0
    synced: int = 0
    delivered: int = 0
    outbox_depth: int = 0
    seconds: float = 0.0


@dataclass
class Cycle:
    discovery: DiscoveryLoop
    inventory: Inventory
    poller: Poller
    intake: ReadingIntake
    outbox: Outbox
    uplink: CloudUplink | None

    async def run(self, sync: bool | None = None, deliver: bool = True) -> CycleReport:
        """Read every device once, synchronise with the cloud where due (`sync`: always, never,
        or None: when due), queue, and deliver (or wake the sender)."""
        started = time.monotonic()
        report = CycleReport()
        queued = self.intake.queued
        # Without a cloud link nothing has to wait for the whole fleet: each reading is recorded
        # as it arrives (committed in groups) and dropped, so a cycle never holds every device's
        # reading at once.
        uplink = self.uplink
        answered: list[tuple[Device, DeviceStatus]] = []
        unreachable: set[int] = set()
        discovered: set[int] = set()

        def take(device: Device, status: DeviceStatus | None) -> None:
            if status is None:
                unreachable.add(device.id)
                return
            report.read += 1
            if uplink is None:  # nothing will sync it: not kept beyond its commit
                self.intake.submit(device, status)
            else:
                answered.append((device, status))

        async def take_discovered(readings: list[tuple[Device, DeviceStatus]]) -> None:
            """Discovery's readings: the devices' polls of this cycle, not read again."""
            for device, status in readings:
                if device.id not in discovered:
                    discovered.add(device.id)
                    take(device, status)

        if self.discovery.due(time.time()):
            await self.discovery.discover(take_discovered)
        devices = [d for d in self.inventory.devices() if d.missing_since is None]
        report.devices = len(devices)
        await self.poller.read_each((d for d in devices if d.id not in discovered), take)
        self.intake.flush()
        report.unreachable = [d.id for d in devices if d.id in unreachable]
        order = {d.id: i for i, d in enumerate(devices)}
        answered.sort(key=lambda reading: order.get(reading[0].id, len(order)))
        if uplink is not None and (uplink.connected or await uplink.connect()):
            report.synced = await uplink.sync(answered, sync)
        for device, status in answered:
            self.intake.latest[device.id] = status
        self.intake.record_many(answered)
        report.queued = self.intake.queued - queued
        if uplink is not None:
            if deliver:
                report.delivered = await uplink.deliver()
            elif report.queued:
                uplink.wake_sender.set()
        report.outbox_depth = self.outbox.depth()
        report.seconds = time.monotonic() - started
        return report
