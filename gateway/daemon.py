"""`printgw run`: discovery, polling, the cloud link and the outbox, tied together.

One `Gateway` per process.  `run_once()` is one full cycle (discover, read every device, register
and synchronise it with the cloud, queue what the readings cause, deliver the outbox) and is what
`printgw run --once` does; `run(stop)` keeps doing it on schedule until `stop` is set:

- a poll cycle every `poll.interval` (the cycle's start jittered by up to a tenth of it);
- discovery again every `discovery.interval`;
- the FIG. 7 sync at start-up and every `cloud.sync_interval`;
- the change stream (push, or polling while the WebSocket is down) all along;
- the outbox sender all along, woken as soon as a reading queues something.

The cloud being unreachable never stops polling: readings of registered devices keep going into
the outbox and are delivered when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway import __version__
from gateway.cloud_state import CloudState
from gateway.config import Config
from gateway.discovery import Discovery
from gateway.inventory import Device, Inventory
from gateway.model import DeviceStatus
from gateway.outbox import FlushReport, Outbox, OutboxSender
from gateway.poller import Poller
from gateway.reader import DeviceReader
from gateway.relay import CommandRelay
from gateway.services import ServiceSettings
from gateway.status_queue import StatusQueue
from gateway.store import Store
from gateway.uplink import CloudLink, NotEnrolled
from protocols.cloud.client import CloudError

log = logging.getLogger(__name__)

CONNECT_RETRY_MAX = 300.0


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


class Gateway:
    """The daemon's parts, opened together and closed together."""

    def __init__(self, config: Config, data_dir: Path | None = None) -> None:
        self.config = config
        self.store = Store.in_directory(data_dir or config.gateway.data_dir)
        self.inventory = Inventory(self.store)
        self.state = CloudState(self.store)
        self.outbox = Outbox(self.store, max_entries=config.cloud.outbox_max_entries)
        self.queue = StatusQueue(config, self.state, self.outbox)
        self.reader = DeviceReader()
        self.poller = Poller(config, self.reader, config.poll.concurrency)
        self.link = (CloudLink(config, self.state, self.inventory,
                               ServiceSettings.from_config(config))
                     if config.cloud.url is not None else None)
        self.relay: CommandRelay | None = None
        if self.link is not None and config.contract.enabled:
            link, reader = self.link, self.reader
            self.relay = CommandRelay(config, self.state, self.inventory, lambda: link.client,
                                      lambda: reader.snmp)
            link.on_command = self.relay.handle
        self.sender: OutboxSender | None = None
        self.wake_sender = asyncio.Event()
        self.last_cycle: CycleReport | None = None
        self._last_discovery: float | None = None

    async def __aenter__(self) -> Gateway:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self.relay is not None:
            await self.relay.close()
        if self.link is not None:
            await self.link.close()
        await self.reader.close()
        self.store.close()

    # -- the cloud link --------------------------------------------------------------------------

    async def connect(self) -> bool:
        """Connect the cloud link once; False (logged) when the cloud cannot be reached now."""
        if self.link is None:
            return False
        try:
            await self.link.connect()
        except (CloudError, NotEnrolled) as exc:
            self.link.record_error(f"cannot connect: {exc}")
            return False
        if self.sender is None:
            link = self.link
            self.sender = OutboxSender(self.outbox, lambda: link.client,
                                       batch_size=self.config.cloud.batch_size)
        return True

    async def deliver(self) -> int:
        """Send what the outbox holds now; returns the number of entries the cloud has now."""
        if self.sender is None:
            return 0
        report = await self.sender.flush()
        if report.error and self.link is not None:
            self.link.record_error(f"uploading statuses: {report.error}")
        await self._after_upload(report)
        return report.accepted + report.duplicate

    async def _after_upload(self, report: FlushReport) -> None:
        assert self.link is not None
        for printer_id, results in report.activations.items():
            self.link.record_first_upload_activations(printer_id, results)
        for printer_id in report.ignored_data_types:
            await self.link.refresh_control_information(printer_id)

    # -- one cycle -------------------------------------------------------------------------------

    def _discovery_due(self, now: float) -> bool:
        interval = self.config.discovery.interval
        return self._last_discovery is None or now - self._last_discovery >= interval

    async def discover(self) -> None:
        report = await Discovery(self.config, self.inventory, self.reader).run()
        self._last_discovery = time.time()
        log.info("discovery: %d devices found in %.1f s (%d errors)", len(report.found),
                 report.seconds, len(report.errors))

    async def cycle(self, sync: bool | None = None, deliver: bool = True) -> CycleReport:
        """Read every device once, synchronise with the cloud where due, queue, and deliver (or,
        in the daemon, wake the sender)."""
        started = time.monotonic()
        report = CycleReport()
        if self._discovery_due(time.time()):
            await self.discover()
        devices = [d for d in self.inventory.devices() if d.missing_since is None]
        report.devices = len(devices)
        readings = await self.poller.read_all(devices)
        answered: list[tuple[Device, DeviceStatus]] = []
        for device, status in readings:
            if status is None:
                report.unreachable.append(device.id)
            else:
                answered.append((device, status))
        report.read = len(answered)
        if self.link is not None and (self.link.status.connected or await self.connect()):
            report.synced = await self._sync(answered, sync)
        for device, status in answered:
            report.queued += len(self.queue.record(device, status))
        if deliver:
            report.delivered = await self.deliver()
        elif report.queued:
            self.wake_sender.set()
        report.outbox_depth = self.outbox.depth()
        report.seconds = time.monotonic() - started
        self.last_cycle = report
        return report

    async def _sync(self, answered: list[tuple[Device, DeviceStatus]], sync: bool | None) -> int:
        """FIG. 7 for every device when due (or asked); else register the new ones only."""
        assert self.link is not None
        if sync is None:
            sync = self.link.sync_due()
        if sync:
            return await self.link.sync_all(answered)
        fresh = [(d, s) for d, s in answered if self.state.printer_id(d.id) is None]
        return await self.link.sync_all(fresh) if fresh else 0

    async def run_once(self) -> CycleReport:
        """`printgw run --once`: one full cycle with a full sync, then the change stream polled."""
        report = await self.cycle(sync=True)
        if self.link is not None and self.link.status.connected:
            await self.link.poll_changes()
        return report

    # -- the daemon ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._poll_loop(stop), name="poll")]
        if self.link is not None:
            tasks.append(asyncio.create_task(self._link_loop(stop), name="cloud-link"))
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        interval = self.config.poll.interval
        while not stop.is_set():
            try:
                await self.cycle(deliver=False)
            except Exception:  # one bad cycle must not end the daemon
                log.exception("poll cycle failed")
            delay = interval + random.uniform(-interval / 10, interval / 10)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(delay, 0.0))

    async def _link_loop(self, stop: asyncio.Event) -> None:
        assert self.link is not None
        delay = 1.0
        while not await self.connect():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            delay = min(CONNECT_RETRY_MAX, delay * 2)
        if self.relay is not None:
            await self.relay.resume()
        changes = asyncio.create_task(self.link.follow_changes(stop), name="changes")
        try:
            await self._send_loop(stop)
        finally:
            changes.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await changes

    async def _send_loop(self, stop: asyncio.Event) -> None:
        """Deliver the outbox whenever a reading queues something or a retry falls due."""
        while not stop.is_set():
            self.wake_sender.clear()
            try:
                await self.deliver()
            except Exception:  # the outbox keeps the entries; try again later
                log.exception("outbox delivery failed")
            next_attempt = self.outbox.stats().next_attempt_at
            timeout = None if next_attempt is None else max(0.05, next_attempt - time.time())
            waits = {asyncio.ensure_future(self.wake_sender.wait()),
                     asyncio.ensure_future(stop.wait())}
            _done, pending = await asyncio.wait(waits, timeout=timeout,
                                                return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()


async def run_gateway(config: Config, once: bool = False) -> int:
    """`printgw run`: 0 when done (for `--once`: everything queued was delivered), 1 when the
    cloud could not take it all now (it stays in the outbox for the next run)."""
    async with Gateway(config) as gateway:
        if once:
            report = await gateway.run_once()
            print(f"printgw: {report.read}/{report.devices} devices read, {report.synced} "
                  f"synchronised, {report.queued} statuses queued, {report.delivered} delivered, "
                  f"{report.outbox_depth} in the outbox")
            link = gateway.link
            if link is not None and (not link.status.connected or report.outbox_depth):
                if report.outbox_depth:
                    print(f"printgw: {report.outbox_depth} statuses stay in the outbox for the "
                          "next run (retried with back-off)", file=sys.stderr)
                if link.status.last_error:
                    print(f"printgw: cloud: {link.status.last_error}", file=sys.stderr)
                return 1
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        log.info("printgw %s running (data in %s)", __version__, config.gateway.data_dir)
        await gateway.run(stop)
        log.info("printgw stopped")
    return 0
