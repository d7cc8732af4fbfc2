"""The daemon's side of the cloud link: connecting (with back-off while the cloud cannot be
reached), delivering the outbox and acting on what an upload's answer says, and, once connected,
the change stream, the command relay and the connection destination (asked for again before its
`valid_until`) all along.

The cloud being unreachable never stops polling: readings of registered devices keep going into
the outbox and are delivered when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.commands.relay import CommandRelay
from gateway.device.model import DeviceStatus
from gateway.fleet.inventory import Device
from gateway.fleet.readings import record_uploads
from gateway.local import logs
from gateway.local.metrics import GatewayMetrics
from gateway.settings.schema import Config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.link import CloudLink, NotEnrolled
from gateway.uplink.outbox import Outbox
from gateway.uplink.sender import FlushReport, OutboxSender
from gateway.wake import first_of, jittered
from protocols.cloud.client import CloudError
from protocols.cloud.errors import shorten

log = logging.getLogger(__name__)

CONNECT_RETRY_MAX = 300.0
RESTART_MIN = 1.0
RESTART_MAX = 120.0
"""Back-off of a part of the link started again after an unexpected error (`CloudUplink.run`);
a part that ran this long before failing starts again after `RESTART_MIN`."""
T = TypeVar("T")


class CloudUplink:
    """The cloud link, the outbox sender and the relay, as the daemon drives them."""

    def __init__(self, config: Callable[[], Config], link: CloudLink, state: CloudState,
                 outbox: Outbox, store: Store, metrics: GatewayMetrics,
                 relay: CommandRelay | None) -> None:
        self.config = config
        self.link = link
        self.state = state
        self.outbox = outbox
        self.store = store
        self.metrics = metrics
        self.relay = relay
        self.sender: OutboxSender | None = None
        self.wake_sender = asyncio.Event()
        """Set when a reading queued something."""

    @property
    def connected(self) -> bool:
        return self.link.status.connected

    async def connect(self) -> bool:
        """Connect the cloud link once; False (logged) when the cloud cannot be reached now."""
        try:
            await self.link.connect()
        except (CloudError, NotEnrolled) as exc:
            self.link.record_error(f"cannot connect: {exc}")
            return False
        logs.protect(self.state.get("token"))
        if self.sender is None:
            link = self.link
            self.sender = OutboxSender(self.outbox, lambda: link.client,
                                       batch_size=self.config().cloud.batch_size)
        return True

    async def sync(self, answered: list[tuple[Device, DeviceStatus]], sync: bool | None) -> int:
        """FIG. 7 for every device when due (or asked); else register the new ones only."""
        if sync is None:
            sync = self.link.sync_due()
        if sync:
            return await self.link.sync_all(answered)
        fresh = [(d, s) for d, s in answered if self.state.printer_id(d.id) is None]
        return await self.link.sync_all(fresh) if fresh else 0

    async def deliver(self) -> int:
        """Send what the outbox holds now; returns the number of entries the cloud has now."""
        if self.sender is None:
            return 0
        report = await self.sender.flush()
        await self.after_flush(report)
        return report.accepted + report.duplicate

    async def after_flush(self, report: FlushReport) -> None:
        """What an upload's answer asks for: counted, the page's "last upload" of each device,
        the error kept for the status page, FIG. 9 results recorded, stale transmission data
        type tables fetched again."""
        self.metrics.flushed(report)
        record_uploads(self.store, report.delivered_readings)
        if report.error:
            self.link.record_error(f"uploading statuses: {report.error}")
        for printer_id, results in report.activations.items():
            self.link.record_first_upload_activations(printer_id, results)
        for printer_id in report.ignored_data_types:
            try:
                await self.link.refresh_control_information(printer_id)
            except CloudError as exc:  # fetched again at the next sync
                self.link.record_error(f"control information of {printer_id}: {exc}")

    async def run(self, stop: asyncio.Event,
                  on_connected: Callable[[], Awaitable[None]]) -> None:
        """Connect (retrying with back-off until `stop`), then deliver the outbox until `stop`
        (the delivery under way is finished first); meanwhile the start-up steps (`on_connected`
        awaited, the relay resumed), and after them the change stream and the connection
        destination.

        The sender starts as soon as the link is connected: what was queued while the cloud was
        away need not wait for the start-up steps, which read every device (seconds each for a
        sleeping printer, long for a large fleet).

        It never ends before `stop` on its own: an unexpected error (a bug, an answer nothing
        else caught) is logged with its traceback and kept for the status page, and the part it
        ended starts again after a back-off (`RESTART_MIN` doubling to `RESTART_MAX`): the
        connection, the start-up steps, the change stream or the sender alone (one failing does
        not stop the others)."""
        connected = await self._supervised("connecting", stop, lambda: self._connect(stop))
        if not connected or stop.is_set():
            return
        parts = [asyncio.create_task(
            self._supervised("the outbox sender", stop, lambda: self._send(stop)), name="sender")]
        try:
            await self._supervised("the start-up steps", stop, lambda: self._start_up(on_connected))
            if not stop.is_set():
                parts += [asyncio.create_task(self._supervised(what, stop, part), name=name)
                          for what, name, part in (
                              ("the change stream", "changes",
                               lambda: self.link.follow_changes(stop)),
                              ("the connection destination", "destination",
                               lambda: self.link.keep_destination(stop)))]
            await parts[0]
        finally:
            for part in parts:
                part.cancel()
            for part in parts:
                with contextlib.suppress(asyncio.CancelledError):
                    await part

    async def _connect(self, stop: asyncio.Event) -> bool:
        """Connect with back-off; False when stopped first."""
        delay = 1.0
        while not await self.connect():
            await first_of(stop, seconds=jittered(delay))
            if stop.is_set():
                return False
            delay = min(CONNECT_RETRY_MAX, delay * 2)
        return True

    async def _start_up(self, on_connected: Callable[[], Awaitable[None]]) -> None:
        await on_connected()
        if self.relay is not None:
            await self.relay.resume()

    async def _send(self, stop: asyncio.Event) -> None:
        assert self.sender is not None
        await self.sender.run(stop, self.wake_sender, on_report=self.after_flush)

    async def _supervised(self, what: str, stop: asyncio.Event,
                          part: Callable[[], Awaitable[T]]) -> T | None:
        """`part()`, started again after a back-off whenever it raises, until it returns (its
        result) or `stop` is set (None)."""
        delay = RESTART_MIN
        while not stop.is_set():
            started = time.monotonic()
            try:
                return await part()
            except Exception as exc:
                log.exception("cloud link: %s failed unexpectedly; starting it again in %g s",
                              what, delay)
                self.link.record_error(f"{what} failed unexpectedly ({type(exc).__name__}: "
                                       f"{shorten(str(exc))}); starting again in {delay:g} s")
            if time.monotonic() - started >= RESTART_MAX:  # it had run well for a while
                delay = RESTART_MIN
            await first_of(stop, seconds=delay)
            delay = min(RESTART_MAX, delay * 2)
        return None

    async def close(self) -> None:
        if self.relay is not None:
            await self.relay.close()
        await self.link.close()
