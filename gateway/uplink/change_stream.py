"""FIG. 8 for `CloudLink`: the change stream, pushed over a WebSocket, polled while the
WebSocket is down.  A cursor the cloud no longer retains (410, close code 4410) means a
resynchronisation: FIG. 7 again for every device, and `listPendingCommands` so that no command
issued in the lost part is lost; a change that does not match the document is skipped and its
command refused, the others go on.

`application-info-changed` runs S0605-S0608 (and S0609-S0611 only when a notice changed what is
active); `control-info-changed` runs S0609-S0611.  The two come apart so that a service activated
by its first upload (FIG. 9) costs no control-information round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from protocols.cloud.errors import CloudError, CloudRejected
from protocols.cloud.models import (
    Change,
    Command,
    CommandIssued,
    PushHello,
    UnreadableChange,
    UnreadableCommand,
)

if TYPE_CHECKING:
    from gateway.fleet.inventory import Device, Inventory
    from gateway.settings.schema import CloudSettings
    from gateway.uplink.cloud_state import CloudState
    from gateway.uplink.link_state import LinkState
    from protocols.cloud.client import CloudClient

log = logging.getLogger(__name__)

PUSH_RETRY_MIN = 1.0
PUSH_RETRY_MAX = 60.0


class ChangeStream:
    """The change stream half of `CloudLink` (mixed into it: it uses the link's client, state,
    status and FIG. 7 steps)."""

    cloud: Callable[[], CloudSettings]
    state: CloudState
    inventory: Inventory
    on_command: Callable[[Command | UnreadableCommand], Awaitable[None]] | None
    _pending_due: bool
    status: LinkState

    if TYPE_CHECKING:

        @property
        def client(self) -> CloudClient: ...

        def record_error(self, message: str) -> None: ...

        async def sync_applications(self, device: Device, printer_id: str) -> bool: ...

        async def sync_control_information(self, device: Device, printer_id: str) -> None: ...

    async def handle_change(self, change: Change) -> None:
        """Act on one change, then move the cursor past it.  A change that does not match the
        document (`UnreadableChange`) is logged and skipped; the command it carries goes to
        `on_command` all the same, to be refused with the reason."""
        if isinstance(change, UnreadableChange):
            await self._unreadable(change)
        elif isinstance(change, CommandIssued):
            command = change.command
            if self.on_command is not None:
                await self.on_command(command)
            else:
                log.info("cloud: command %s (%s) for printer %s: no relay in this gateway",
                         command.command_id, command.kind, command.printer_id)
        else:
            await self._on_printer_change(change.printer_id,
                                          applications=change.type == "application-info-changed")
        if change.cursor is not None:
            self.state.set("cursor", change.cursor)
        self.status.changes_handled += 1

    async def _unreadable(self, change: UnreadableChange) -> None:
        self.record_error(f"a change ({change.type or 'no type'}) at cursor {change.cursor} "
                          f"does not match the document, skipped: {change.detail}")
        if change.command is not None and self.on_command is not None:
            await self.on_command(change.command)

    async def _on_printer_change(self, printer_id: str, applications: bool) -> None:
        device_id = self.state.device_for_printer(printer_id)
        if device_id is None:
            log.warning("cloud: change for printer %s, which this gateway does not manage",
                        printer_id)
            return
        device = self.inventory.get(device_id)
        try:
            if not applications or await self.sync_applications(device, printer_id):
                await self.sync_control_information(device, printer_id)
        except CloudError as exc:
            self.record_error(f"printer {printer_id}: {exc}")

    async def follow_changes(self, stop: asyncio.Event) -> None:
        """Push while the WebSocket is up, poll while it is down, until `stop` is set."""
        delay = PUSH_RETRY_MIN
        while not stop.is_set():
            if self.cloud().push:
                try:
                    await self._pending_commands()
                    await self._push()
                    delay = PUSH_RETRY_MIN
                except CloudRejected as exc:
                    if exc.status == 410:
                        await self._resynchronise()
                        continue  # and open the channel again at once, without a cursor
                    self.record_error(f"push channel refused: {exc}")
                except CloudError as exc:
                    self.record_error(f"push channel down: {exc}")
            if stop.is_set():
                break
            self.status.channel = "polling"
            await self._poll_for(delay if self.cloud().push else None, stop)
            delay = min(PUSH_RETRY_MAX, delay * 2)
        self.status.channel = "down"

    async def _push(self) -> None:
        """Handle pushed changes until the channel drops (raises `CloudError`)."""
        async with contextlib.aclosing(self.client.push(self.state.get("cursor"))) as stream:
            async for item in stream:
                if isinstance(item, PushHello):
                    self.status.channel = "push"
                    continue
                await self.handle_change(item)

    async def _poll_for(self, duration: float | None, stop: asyncio.Event) -> None:
        """Poll the change stream every `changes_poll_interval` for `duration` seconds (with
        jitter), or until stopped when `duration` is None."""
        interval = self.cloud().changes_poll_interval
        end = None if duration is None else time.monotonic() + duration * random.uniform(0.5, 1)
        while not stop.is_set():
            await self.poll_changes()
            remaining = interval if end is None else min(interval, end - time.monotonic())
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), remaining)

    async def poll_changes(self) -> None:
        """Fetch and handle every change after the stored cursor (410: resynchronise)."""
        try:
            await self._pending_commands()
            while True:
                page = await self.client.poll_changes(self.state.get("cursor"))
                for change in page.changes:
                    await self.handle_change(change)
                if page.changes and page.next_cursor is not None:
                    # past the page, also when its last change had no usable cursor
                    self.state.set("cursor", page.next_cursor)
                if not page.has_more:
                    return
        except CloudRejected as exc:
            if exc.status != 410:
                self.record_error(f"polling changes: {exc}")
                return
            await self._resynchronise()
        except CloudError as exc:
            self.record_error(f"polling changes: {exc}")

    async def _resynchronise(self) -> None:
        """The cursor is no longer retained: go on without it, run FIG. 7 for every device at the
        next cycle, and fetch the commands still open — those issued in the part of the stream
        that is lost arrive no other way."""
        log.warning("cloud: change cursor expired; resynchronising every printer")
        self.state.delete("cursor")
        self.state.delete("last_sync")
        self._pending_due = True
        await self._pending_commands()

    async def _pending_commands(self) -> None:
        """After a resynchronisation, until it worked: `listPendingCommands`, each handed to
        `on_command` (the relay applies each command ID once, so one it already has costs
        nothing)."""
        if not self._pending_due:
            return
        if self.on_command is not None:
            try:
                pending = await self.client.list_pending_commands()
            except CloudError as exc:
                self.record_error(f"listing pending commands: {exc}")
                return
            for status in pending:  # one that cannot be understood goes to be refused
                await self.on_command(status if isinstance(status, UnreadableCommand)
                                      else status.command)
        self._pending_due = False
