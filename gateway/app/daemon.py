"""`printgw run`: discovery, polling, the cloud link and the outbox, tied together.

One `Gateway` per process.  `run_once()` is one full cycle (discover, read every device, register
and synchronise it with the cloud, queue what the readings cause, deliver the outbox) and is what
`printgw run --once` does.  `run(stop)` is the daemon, until `stop` is set:

- every device read on its own schedule (`gateway/fleet/schedule.py`): `poll.interval` with jitter,
  less often while it does not answer or is asleep, at most `poll.concurrency` at once; what a
  reading causes is queued as soon as it is taken (`_record`);
- discovery again every `discovery.interval`;
- a device seen for the first time registered (FIG. 7 for it) at its first reading, or as soon
  as the cloud link is up; the FIG. 7 sync of every device when due (`cloud.sync_interval`, or
  after a resynchronisation), once every device has been read since the start;
- the change stream (push, or polling while the WebSocket is down) all along;
- the outbox sender all along, woken as soon as a reading queues something.

The cloud being unreachable never stops polling: readings of registered devices keep going into
the outbox and are delivered when it is back.

Stopping (SIGTERM, SIGINT; a second signal stops at once): no reading starts any more; readings
and an upload under way get `gateway.shutdown_grace` to finish, then they are cancelled.  That
loses nothing: a reading is committed, with the entries it causes, in one transaction once it is
complete, so a cancelled one leaves no trace and is simply taken again after the restart; an
upload's entries leave the outbox only when the cloud's answer has been read, so a cancelled
upload is sent again (the same entries in the same order: the same batch and `Idempotency-Key`;
the cloud deduplicates each entry ID in any case); a command is stored before it is applied and
its acknowledgements before they are sent (`gateway/commands/relay.py`).  What the readings
queued during the grace period is offered to the cloud once more before the exit.

Reloading (SIGHUP, `reload()`): the config file is read and validated again; a valid one is
applied at once (polling, SNMP and IPP settings, discovery, events, services, the cloud settings
that need no new connection, logging), the settings that need a restart are kept as they were
and named in the log; an invalid one is refused, its mistakes logged as `check-config` names
them, and the gateway runs on as it was.  Nothing queued is touched.

With `$NOTIFY_SOCKET` set (systemd `Type=notify`), `READY=1`, `RELOADING=1` and `STOPPING=1`
are sent there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gateway import __version__
from gateway.commands.relay import CommandRelay
from gateway.device.model import DeviceStatus
from gateway.device.reader import DeviceReader
from gateway.fleet.discovery import Discovery
from gateway.fleet.inventory import Device, Inventory
from gateway.fleet.poller import Poller
from gateway.fleet.readings import record_uploads
from gateway.fleet.schedule import Outcome, Schedule
from gateway.local import logs
from gateway.local.metrics import GatewayMetrics
from gateway.settings.config import Config, ConfigError, changed_keys, load_config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.link import SYNC_CONCURRENCY, CloudLink, NotEnrolled
from gateway.uplink.outbox import Outbox
from gateway.uplink.pipeline import StatusQueue
from gateway.uplink.sender import FlushReport, OutboxSender
from gateway.uplink.services import ServiceSettings
from protocols.cloud.client import CloudError

log = logging.getLogger(__name__)

CONNECT_RETRY_MAX = 300.0
ERROR_PAUSE = 5.0
"""Seconds the poll loop waits after an unexpected error before it tries again."""
RESTART_NEEDED = ("gateway.data_dir", "gateway.region", "cloud.url", "cloud.verify_tls",
                  "cloud.ca_file", "cloud.proxy", "cloud.timeout", "contract.enabled",
                  "status_page")
"""Settings a reload cannot apply: the store, the cloud connection, the relay and the status page
are set up with them at the start."""


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
        logs.protect(self.state.get("token"))
        self.outbox = Outbox(self.store, max_entries=config.cloud.outbox_max_entries)
        self.queue = StatusQueue(config, self.state, self.outbox)
        self.reader = DeviceReader()
        self.metrics = GatewayMetrics()
        self.poller = Poller(config, self.reader, config.poll.concurrency, self.metrics)
        self.schedule = Schedule(config.poll)
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
        self.latest: dict[int, DeviceStatus] = {}
        """The newest good reading of each device (what the FIG. 7 sync goes by): a printer
        asleep keeps the one it had awake."""
        self._last_discovery: float | None = None
        self._devices: dict[int, Device] = {}
        self._devices_stale = True
        self._reads: dict[int, asyncio.Task[None]] = {}
        self._syncing: set[int] = set()
        self._sync_task: asyncio.Task[None] | None = None
        self._wake_poll = asyncio.Event()
        self._rediscover = asyncio.Event()
        self._hurry = asyncio.Event()

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
        logs.protect(self.state.get("token"))
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
        self.metrics.flushed(report)
        record_uploads(self.store, report.delivered_readings)
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

    async def _sync_devices(self, readings: list[tuple[Device, DeviceStatus]]) -> int:
        """FIG. 7 for these devices (registering the new ones), none twice at once; the number
        synchronised."""
        assert self.link is not None
        link = self.link
        readings = [(d, s) for d, s in readings if d.id not in self._syncing]
        ids = {d.id for d, _s in readings}
        self._syncing |= ids
        semaphore = asyncio.Semaphore(SYNC_CONCURRENCY)

        async def one(device: Device, status: DeviceStatus) -> bool:
            async with semaphore:
                return await link.sync_device(device, status)
        try:
            return sum(await asyncio.gather(*(one(d, s) for d, s in readings)))
        finally:
            self._syncing -= ids

    # -- one cycle -------------------------------------------------------------------------------

    def _discovery_due(self, now: float) -> bool:
        interval = self.config.discovery.interval
        return self._last_discovery is None or now - self._last_discovery >= interval

    async def discover(self) -> None:
        report = await Discovery(self.config, self.inventory, self.reader).run()
        self._last_discovery = time.time()
        self._devices_stale = True
        log.info("discovery: %d devices found in %.1f s (%d errors)", len(report.found),
                 report.seconds, len(report.errors))

    def _record(self, device: Device, status: DeviceStatus) -> int:
        """Queue what a reading causes (committed with it); the number of entries queued."""
        return len(self.queue.record(device, status))

    async def cycle(self, sync: bool | None = None, deliver: bool = True) -> CycleReport:
        """Read every device once, synchronise with the cloud where due, queue, and deliver (or
        wake the sender)."""
        started = time.monotonic()
        report = CycleReport()
        if self._discovery_due(time.time()):
            await self.discover()
        devices = [d for d in self.inventory.devices() if d.missing_since is None]
        report.devices = len(devices)
        # Without a cloud link nothing has to wait for the whole fleet: each reading is recorded
        # as it arrives and dropped, so a cycle never holds every device's reading at once.
        stream = self.link is None
        answered: list[tuple[Device, DeviceStatus]] = []
        unreachable: set[int] = set()

        def take(device: Device, status: DeviceStatus | None) -> None:
            if status is None:
                unreachable.add(device.id)
                return
            report.read += 1
            if stream:
                self.latest[device.id] = status
                report.queued += self._record(device, status)
            else:
                answered.append((device, status))

        await self.poller.read_each(devices, take)
        report.unreachable = [d.id for d in devices if d.id in unreachable]
        if not stream:
            order = {d.id: i for i, d in enumerate(devices)}
            answered.sort(key=lambda reading: order[reading[0].id])
        if self.link is not None and (self.link.status.connected or await self.connect()):
            report.synced = await self._sync(answered, sync)
        for device, status in answered:
            self.latest[device.id] = status
            report.queued += self._record(device, status)
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
        page = None
        if self.config.status_page.enabled:
            # imported here: the page's aiohttp server and templates (~4 MB) only when it is on
            from gateway.local.status_page import start_status_page

            page = await start_status_page(self)  # None when its port is taken
        loops = [asyncio.create_task(self._poll_loop(stop), name="poll"),
                 asyncio.create_task(self._discovery_loop(stop), name="discovery")]
        link = (asyncio.create_task(self._link_loop(stop), name="cloud-link")
                if self.link is not None else None)
        try:
            await stop.wait()
        finally:
            await self._shut_down(loops, link)
            if page is not None:
                await page.close()

    def hurry(self) -> None:
        """Stop at once: what is still under way is cancelled without waiting for the grace
        period (a second SIGTERM or Ctrl-C)."""
        self._hurry.set()

    # -- polling ---------------------------------------------------------------------------------

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        """Start the readings that are due, as many as the concurrency limit allows; then wait
        for the next one due, a reading to finish, or new devices."""
        while not stop.is_set():
            self._wake_poll.clear()
            now = time.monotonic()
            next_due = self.schedule.next_due()
            try:
                if self._devices_stale:
                    self._refresh_devices(now)
                room = self.config.poll.concurrency - len(self._reads)
                for device_id in self.schedule.take_due(now, room):
                    self._start_read(self._devices[device_id])
                self._start_sync_round()
                next_due = self.schedule.next_due()
            except Exception:  # a database error, say: try again in a while
                log.exception("polling: scheduling failed")
                next_due = now + ERROR_PAUSE
            full = len(self._reads) >= self.config.poll.concurrency
            timeout = None if next_due is None or full else max(0.0, next_due - time.monotonic())
            await _first_of(stop.wait(), self._wake_poll.wait(), seconds=timeout)

    def _refresh_devices(self, now: float) -> None:
        """The devices to read as the inventory has them now (after discovery or a reload); one
        at a new address is read at once."""
        fresh = {d.id: d for d in self.inventory.devices() if d.missing_since is None}
        self.schedule.track(fresh, now)
        for device_id, device in fresh.items():
            known = self._devices.get(device_id)
            if known is not None and known.addresses != device.addresses:
                self.schedule.read_soon(device_id, now)
        self._devices = fresh
        self._devices_stale = False

    def _start_read(self, device: Device) -> None:
        task = asyncio.create_task(self._read(device), name=f"read-{device.id}")
        self._reads[device.id] = task
        task.add_done_callback(lambda _task: self._read_finished(device.id))

    def _read_finished(self, device_id: int) -> None:
        self._reads.pop(device_id, None)
        self._wake_poll.set()

    async def _read(self, device: Device) -> None:
        """Read one device, reschedule it by how that went, and take the reading in."""
        started = time.monotonic()
        try:
            status = await self.poller.read(device)
        except Exception:  # a bug in a reader: the device counts as not answering
            log.exception("device %s: reading failed", device.id)
            status = None
        slot = self.schedule.slots.get(device.id)
        before = None if slot is None else slot.outcome
        outcome, delay = self.schedule.record(device.id, status, time.monotonic())
        _log_reading(device, before, outcome, delay, time.monotonic() - started)
        if status is None:
            return
        if outcome is not Outcome.ASLEEP or device.id not in self.latest:
            self.latest[device.id] = status
        try:
            await self._accept(device, status)
        except Exception:  # the store refused it, say: the next reading is taken as usual
            log.exception("device %s: the reading could not be recorded", device.id)

    async def _accept(self, device: Device, status: DeviceStatus) -> None:
        """A new device is registered first (when the cloud link is up); then what the reading
        causes is queued (events are detected against the last known levels: `events.baseline`
        keeps those of a printer asleep)."""
        link = self.link
        if link is not None and link.status.connected and self.state.printer_id(device.id) is None:
            await self._sync_devices([(device, status)])
        if self._record(device, status):
            self.wake_sender.set()

    def _start_sync_round(self) -> None:
        """The FIG. 7 sync of every device when it is due and every device has been read (or
        tried) since the start: it sends what the readings show."""
        link = self.link
        if link is None or not link.status.connected or not self.schedule.first_pass_done() \
                or (self._sync_task is not None and not self._sync_task.done()) \
                or not link.sync_due():
            return
        self._sync_task = asyncio.create_task(self._sync_round(link), name="sync")

    async def _sync_round(self, link: CloudLink) -> None:
        readings = [(self._devices[i], s) for i, s in self.latest.items() if i in self._devices]
        try:
            synced = await link.sync_all([(d, s) for d, s in readings
                                          if d.id not in self._syncing])
        except Exception:  # not marked done: tried again at the next reading
            log.exception("cloud: the FIG. 7 sync failed")
            return
        log.log(logging.INFO if readings else logging.DEBUG,
                "cloud: %d of %d devices synchronised (FIG. 7)", synced, len(readings))

    async def _register_read_devices(self) -> None:
        """Once the link is up: the devices read while it was not are registered, and their
        newest reading queued (it queued nothing while they had no printer ID)."""
        fresh = [(self._devices[i], s) for i, s in list(self.latest.items())
                 if i in self._devices and self.state.printer_id(i) is None]
        if not fresh:
            return
        await self._sync_devices(fresh)
        queued = sum(self._record(d, s) for d, s in fresh if self.state.printer_id(d.id))
        if queued:
            self.wake_sender.set()

    # -- discovery -------------------------------------------------------------------------------

    async def _discovery_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._rediscover.clear()
            if self._discovery_due(time.time()):
                try:
                    await self.discover()
                except Exception:  # tried again at the next interval
                    log.exception("discovery failed")
                    self._last_discovery = time.time()
                self._wake_poll.set()
            assert self._last_discovery is not None
            wait = self._last_discovery + self.config.discovery.interval - time.time()
            await _first_of(stop.wait(), self._rediscover.wait(), seconds=max(0.0, wait))

    # -- the cloud link --------------------------------------------------------------------------

    async def _link_loop(self, stop: asyncio.Event) -> None:
        assert self.link is not None
        delay = 1.0
        while not await self.connect():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            delay = min(CONNECT_RETRY_MAX, delay * 2)
        await self._register_read_devices()
        self._wake_poll.set()  # a FIG. 7 sync may be due now
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
        """Deliver the outbox whenever a reading queues something or a retry falls due; after
        `stop`, the delivery under way is finished first."""
        while not stop.is_set():
            self.wake_sender.clear()
            try:
                await self.deliver()
            except Exception:  # the outbox keeps the entries; try again later
                log.exception("outbox delivery failed")
            next_attempt = self.outbox.stats().next_attempt_at
            timeout = None if next_attempt is None else max(0.05, next_attempt - time.time())
            await _first_of(self.wake_sender.wait(), stop.wait(), seconds=timeout)

    # -- stopping --------------------------------------------------------------------------------

    async def _shut_down(self, loops: list[asyncio.Task[None]],
                         link: asyncio.Task[None] | None) -> None:
        """No new reading; what is under way gets `gateway.shutdown_grace` (see the module
        docstring), then is cancelled."""
        grace = self.config.gateway.shutdown_grace
        deadline = time.monotonic() + grace
        log.info("stopping: readings and uploads under way get up to %g s to finish", grace,
                 extra={"in_flight": len(self._reads)})
        await self._finish(loops, deadline=0.0)
        dropped = await self._finish(list(self._reads.values()), deadline)
        if dropped:
            log.info("stopping: %d readings not finished in time, dropped (read again after "
                     "the restart)", len(dropped))
        if self._sync_task is not None:  # a FIG. 7 round not finished is done again
            await self._finish([self._sync_task], deadline=0.0)
        if link is not None:
            await self._finish([link], deadline)
            if self.link is not None and self.link.status.connected and self.outbox.depth():
                await self._finish([asyncio.create_task(self.deliver())], deadline)
            if self.relay is not None and self.link is not None and self.link.status.connected:
                await self._finish([asyncio.create_task(self.relay.flush_acks())], deadline)
        log.info("stopped: %d statuses in the outbox for the next start", self.outbox.depth())

    async def _finish(self, tasks: Iterable[asyncio.Task[object]],
                      deadline: float) -> set[asyncio.Task[object]]:
        """Wait for `tasks` until `deadline` (monotonic) or `hurry()`; cancel the ones still
        running and return them."""
        pending = {t for t in tasks if not t.done()}
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            while pending and not self._hurry.is_set() and time.monotonic() < deadline:
                done, _ = await asyncio.wait(pending | {hurry},
                                             timeout=deadline - time.monotonic(),
                                             return_when=asyncio.FIRST_COMPLETED)
                pending -= done
        finally:
            hurry.cancel()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return pending

    # -- reloading -------------------------------------------------------------------------------

    def reload(self, path: Path) -> Config | None:
        """SIGHUP: read `path` again and apply it; the config now in force, or None when the file
        is refused (its mistakes logged; the gateway goes on as it was)."""
        try:
            config = load_config(path)
        except ConfigError as exc:
            log.error("reload refused: %s has %d problem(s); still running on the previous "
                      "config", path, len(exc.problems), extra={"problems": exc.problems})
            for problem in exc.problems:
                log.error("reload refused: %s: %s", path, problem)
            return None
        return self.apply_config(config)

    def apply_config(self, new: Config) -> Config:
        """Apply a valid config (see the module docstring); returns the config in force."""
        old = self.config
        changed = changed_keys(old, new)
        if not changed:
            log.info("reload: nothing changed")
            return old
        restart = [key for key in changed if _needs_restart(key)]
        config = _keep(new, old, restart)
        self.config = config
        self.poller.reconfigure(config)
        self.queue.config = config
        self.schedule.configure(config.poll, time.monotonic())
        self.outbox.max_entries = config.cloud.outbox_max_entries
        if self.sender is not None:
            self.sender.batch_size = config.cloud.batch_size
        if self.relay is not None:
            self.relay.config = config
        if self.link is not None:
            self.link.config = config
            if any(key.startswith("services.") for key in changed):
                self.link.services = ServiceSettings.from_config(config)
                self.state.delete("last_sync")  # FIG. 10 again with the new settings
        if any(key.startswith(("discovery.", "snmp.")) and key != "discovery.interval"
               for key in changed):
            self._last_discovery = None
        self._rediscover.set()
        self._devices_stale = True
        self._wake_poll.set()
        applied = [key for key in changed if key not in restart]
        log.info("reload: applied %s%s", ", ".join(applied) or "nothing",
                 f"; needs a restart (kept as before until then): {', '.join(restart)}"
                 if restart else "", extra={"changed": applied, "restart_needed": restart})
        return config


def _needs_restart(key: str) -> bool:
    return any(key == prefix or key.startswith(f"{prefix}.") for prefix in RESTART_NEEDED)


def _keep(new: Config, old: Config, keys: list[str]) -> Config:
    """`new` with the values of `keys` (`section` or `section.key`) taken from `old`."""
    for key in keys:
        section, _, name = key.partition(".")
        value = getattr(old, section) if not name else getattr(new, section).model_copy(
            update={name: getattr(getattr(old, section), name)})
        new = new.model_copy(update={section: value})
    return new


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


async def _first_of(*waits: Awaitable[object], seconds: float | None) -> None:
    """Wait until one of `waits` is done or `seconds` have passed (None: no limit)."""
    futures = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(futures, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in futures:
            future.cancel()


def sd_notify(message: str) -> None:
    """Tell systemd (`Type=notify`) about the daemon's state; nothing without `$NOTIFY_SOCKET`."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), address)


async def run_gateway(config: Config, once: bool = False, *, config_path: Path | None = None,
                      log_overrides: logs.LogOverrides | None = None) -> int:
    """`printgw run`: 0 when done (for `--once`: everything queued was delivered), 1 when the
    cloud could not take it all now (it stays in the outbox for the next run).  SIGHUP reloads
    `config_path` (logging as `[logging]` and `log_overrides` say)."""
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

        def on_stop() -> None:
            if stop.is_set():
                log.info("stopping now (second signal)")
                gateway.hurry()
                return
            sd_notify("STOPPING=1")
            stop.set()

        def on_reload() -> None:
            if config_path is None:
                log.warning("reload: no config file to read again")
                return
            sd_notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
            log.info("reload: reading %s", config_path)
            now_in_force = gateway.reload(config_path)
            if now_in_force is not None:
                logs.configure(now_in_force, log_overrides or logs.LogOverrides())
            sd_notify("READY=1")

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_stop)
        loop.add_signal_handler(signal.SIGHUP, on_reload)
        log.info("printgw %s running (data in %s)", __version__, config.gateway.data_dir)
        sd_notify("READY=1")
        await gateway.run(stop)
        log.info("printgw stopped")
    return 0
