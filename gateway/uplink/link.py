"""The gateway's side of the cloud link (SPEC §6, Canon JP6736621B2 FIG. 6-9).

`CloudLink` runs the sequences per device against the information management server:

- S0601-S0602 connection destination, then enrolment (once: the credential is kept in the store);
- S0603-S0604 registration of each device by serial → the cloud's printer ID;
- S0605-S0608 application information into the support service setting table, FIG. 10's
  activation decision per service, activation notices only for the services it allows;
- S0609-S0611 device control information into the transmission data type table, and the report of
  the types the gateway will now send;
- FIG. 7: the same again at start-up and every `sync_interval`;
- FIG. 8: the change stream, pushed over a WebSocket, polled while the WebSocket is down; a cursor
  the cloud no longer retains (410, close code 4410) means a resynchronisation: FIG. 7 again for
  every device, and `listPendingCommands` so that no command issued in the lost part is lost; a
  change that does not match the document is skipped and its command refused, the others go on;
- FIG. 9: where a service allows activation by the first upload, no notice is sent: the next status
  upload carries the application ID (see `UploadPipeline`) and its result is recorded here.

Cloud errors never escape a device's sequence: a device whose step failed is retried at the next
sync, the others go on; one whose identity the cloud refuses is flagged, not asked for in a loop
(`gateway.uplink.refusals`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from gateway.device.model import DeviceStatus
from gateway.fleet.inventory import Device, Inventory
from gateway.settings.schema import CloudSettings, GatewaySettings
from gateway.uplink import refusals
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.data_types import available
from gateway.uplink.registering import registration_request
from gateway.uplink.services import ServiceSettings, decide_activation, installed_models
from protocols.cloud.client import CloudClient
from protocols.cloud.errors import CloudError, CloudRejected
from protocols.cloud.models import (
    ActivationResult,
    Change,
    Command,
    CommandIssued,
    PushHello,
    UnreadableChange,
    UnreadableCommand,
)
from protocols.cloud.registration import (
    Activation,
    ConnectionDestinationRequest,
    EnrolmentRequest,
    PrinterRegistration,
    TransmissionDataTypesReport,
    UnavailableDataType,
)
from protocols.cloud.transport import checked_url
from protocols.version import VERSION

log = logging.getLogger(__name__)

PUSH_RETRY_MIN = 1.0
PUSH_RETRY_MAX = 60.0
SYNC_CONCURRENCY = 8
"""Devices synchronised at once (each is a few requests in sequence)."""


class NotEnrolled(Exception):
    """The gateway has no credential and no enrolment token to get one."""


@dataclass
class LinkState:
    """What the status page and `printgw status` show about the link."""

    connected: bool = False
    channel: str = "down"
    """`push` (WebSocket open), `polling` (fall-back) or `down`."""
    last_sync: float | None = None
    last_error: str | None = None
    errors: int = 0
    changes_handled: int = 0
    activations_sent: int = 0
    skipped: dict[int, str] = field(default_factory=dict)
    """Devices that cannot be registered, and why (no serial, the cloud refused its identity…)."""


class CloudLink:
    def __init__(self, gateway: Callable[[], GatewaySettings], cloud: Callable[[], CloudSettings],
                 state: CloudState, inventory: Inventory, services: ServiceSettings) -> None:
        if cloud().url is None:
            raise ValueError("no [cloud] url in the config")
        self.gateway = gateway
        self.cloud = cloud
        self.state = state
        self.inventory = inventory
        self.services = services
        self.status = LinkState()
        self.on_command: Callable[[Command | UnreadableCommand], Awaitable[None]] | None = None
        """Where `command` changes go (contract-mode relay), those that cannot be understood as
        well (to be refused); without it they are only logged."""
        self._client: CloudClient | None = None
        self._connecting = asyncio.Lock()
        self._statuses: dict[int, DeviceStatus] = {}
        self._syncing: set[int] = set()
        """The devices being synchronised now (none is synchronised twice at once)."""
        self._pending_due = False
        """A resynchronisation has to list the pending commands still (a restart does it anyway:
        the relay's `resume`)."""

    # -- connection ------------------------------------------------------------------------------

    def _client_for(self, url: str) -> CloudClient:
        cloud = self.cloud()
        return CloudClient(url, verify_tls=cloud.verify_tls,
                           ca_file=str(cloud.ca_file) if cloud.ca_file else None,
                           proxy=cloud.proxy, timeout=cloud.timeout)

    @property
    def client(self) -> CloudClient:
        if self._client is None:
            raise RuntimeError("CloudLink.connect() first")
        return self._client

    async def connect(self) -> None:
        """S0601-S0602 and enrolment; raises `CloudError` or `NotEnrolled`."""
        async with self._connecting:  # the enrolment token is single-use: enrol once
            if self._client is None:
                await self._connect()

    async def _connect(self) -> None:
        region = self.gateway().region
        base_url = self._stored_destination()
        if base_url is None or self.state.get("region") != region:
            # checked by the client before it is stored: an unusable one is retried with back-off
            async with self._client_for(str(self.cloud().url)) as entry:
                destination = await entry.resolve_connection_destination(
                    ConnectionDestinationRequest(region, gateway_version=VERSION))
            base_url = destination.base_url
            self.state.set("base_url", base_url)
            self.state.set("region", region)
            log.info("cloud: region %s served by %s", region, base_url)
        client = self._client_for(base_url)
        token = self.state.get("token")
        if token is None:
            token = await self._enrol(client)
        self._client = client.with_token(token)
        await client.close()
        self.status.connected = True

    def _stored_destination(self) -> str | None:
        """The stored base URL; one not usable (stored unchecked by an older version) is
        discarded, to be asked for again."""
        try:
            return checked_url(url, secure="https", plain="http") if (
                url := self.state.get("base_url")) else None
        except ValueError as exc:
            log.warning("cloud: stored connection destination discarded: %s", exc)
            self.state.delete("base_url")
            return None

    async def _enrol(self, client: CloudClient) -> str:
        secret = self.cloud().enrolment_token
        if secret is None:
            raise NotEnrolled("the gateway is not enrolled with the cloud yet: set "
                              "cloud.enrolment_token (a one-time token from the cloud operator)")
        token = secret.get_secret_value()
        # The enrolment token is single-use: a retry after a crash before the credential was
        # stored must get the same answer, so the request's idempotency key derives from it.
        key = hashlib.sha256(f"printgw-enrol:{token}".encode()).hexdigest()
        credential = await client.enrol(
            EnrolmentRequest(token, self.gateway().name, software_version=VERSION,
                             hostname=socket.gethostname()), idempotency_key=key)
        self.state.set("gateway_id", credential.gateway_id)
        self.state.set("token", credential.token)
        log.info("cloud: enrolled as gateway %s", credential.gateway_id)
        return credential.token

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        self.status.connected = False
        self.status.channel = "down"

    # -- S0603-S0604 -----------------------------------------------------------------------------

    async def register(self, device: Device, status: DeviceStatus) -> str | None:
        """The device's printer ID, registering it first if needed; None when it cannot be."""
        request = registration_request(device, status, self.gateway())
        printer_id = self.state.printer_id(device.id)
        if printer_id is not None:
            await self._tell_contract_function(device.id, printer_id, request)
            return printer_id
        if request is None:
            self.status.skipped[device.id] = "no readable serial number: cannot be registered"
            return None
        interval = self.cloud().sync_interval
        if (reason := refusals.withheld(self.state, device.id, request, interval)) is not None:
            self.status.skipped[device.id] = reason  # refused as it is: not asked again yet
            return None
        try:
            result = await self.client.register_printer(request)
        except CloudRejected as exc:
            if exc.status not in refusals.REFUSED_IDENTITY:
                raise
            self.status.skipped[device.id] = refusals.record(self.state, device.id, request, exc,
                                                             interval)
            return None
        self.state.set_printer(device.id, result.printer_id, request.serial,
                               request.contract_supported)
        self.state.clear_refusal(device.id)
        self.status.skipped.pop(device.id, None)
        log.info("cloud: device %s (serial %s) is printer %s", device.id, request.serial,
                 result.printer_id)
        return result.printer_id

    async def _tell_contract_function(self, device_id: int, printer_id: str,
                                      request: PrinterRegistration | None) -> None:
        """S0603 again for a registered device (the cloud updates the printer) when its contract
        function is known now and not what the cloud was told: a device registered before it
        was read over SNMP, or by an older gateway, gets it; never under another serial."""
        registered = self.state.registered(device_id)
        if request is None or request.contract_supported is None or registered is None \
                or registered[0] != request.serial \
                or registered[1] == request.contract_supported:
            return
        try:
            await self.client.register_printer(request)
        except CloudError as exc:  # the device's other steps go on; told at the next sync
            self.record_error(f"device {device_id}: telling its contract function: {exc}")
            return
        self.state.set_printer(device_id, printer_id, request.serial, request.contract_supported)

    # -- S0605-S0611 -----------------------------------------------------------------------------

    async def sync_device(self, device: Device, status: DeviceStatus) -> bool:
        """Register (if needed), then FIG. 7 for one device; False when a step failed."""
        self._statuses[device.id] = status
        try:
            printer_id = await self.register(device, status)
            if printer_id is None:
                return False
            await self.sync_applications(device, printer_id)
            await self.sync_control_information(device, printer_id)
        except CloudError as exc:
            self.record_error(f"device {device.id}: {exc}")
            return False
        return True

    async def sync_applications(self, device: Device, printer_id: str) -> None:
        """S0605-S0608: the support service setting table and FIG. 10's activation notices."""
        info = await self.client.get_applications(printer_id)
        status = self._statuses.get(device.id)
        models = installed_models(status) if status is not None else set()
        decisions = {}
        for app in info.applications:
            enabled = self.services.enabled(app.service_id, model=device.model,
                                            serial=device.serial)
            decisions[app.service_id] = decide_activation(app, enabled=enabled,
                                                          installed_models=models)
        self.state.save_applications(device.id, info.applications, decisions)
        notices = []
        for app in info.applications:
            decision = decisions[app.service_id]
            if app.application_id is None:  # cancelled: FIG. 10 decided no notice
                continue
            if decision.deactivate:  # active in the cloud, disabled here
                notices.append(Activation(app.service_id, app.application_id, "deactivate"))
            elif decision.activate and not app.activation_by_first_upload:
                notices.append(Activation(app.service_id, app.application_id))
        if not notices:
            return
        result = await self.client.notify_activation(printer_id, notices)
        self.status.activations_sent += len(notices)
        for outcome in result.results:
            if outcome.service_id is not None:
                self.state.record_activation(device.id, outcome.service_id, outcome)
            if outcome.result == "refused":
                log.warning("cloud: activation of %s on printer %s refused: %s",
                            outcome.service_id, printer_id, outcome.reason)

    async def sync_control_information(self, device: Device, printer_id: str) -> None:
        """S0609-S0611: the transmission data type table, and the report of what will be sent."""
        control = await self.client.get_control_information(printer_id)
        requested = list(control.requested_data_types)
        status = self._statuses.get(device.id)
        missing = available(status) if status is not None else {}
        unavailable = tuple(UnavailableDataType(t, reason) for t in requested
                            if (reason := missing.get(t)))
        current = [t for t in requested if not missing.get(t)]
        self.state.set_transmission_types(device.id, requested, current,
                                          contract_threshold=control.contract_threshold_percent)
        await self.client.report_transmission_data_types(printer_id, TransmissionDataTypesReport(
            transmission_data_types=tuple(current), based_on_revision=control.revision,
            unavailable=unavailable))
        self.state.mark_reported(device.id)

    def record_first_upload_activations(self, printer_id: str,
                                        results: list[ActivationResult]) -> None:
        """FIG. 9: the activation results a status upload came back with."""
        device_id = self.state.device_for_printer(printer_id)
        if device_id is None:
            return
        for outcome in results:
            if outcome.service_id is not None:
                self.state.record_activation(device_id, outcome.service_id, outcome)

    async def refresh_control_information(self, printer_id: str) -> None:
        """After an upload's `ignored_data_types`: the table is stale."""
        await self._on_printer_change(printer_id, applications=False)

    async def sync_all(self, readings: Sequence[tuple[Device, DeviceStatus]], *,
                       full: bool = True) -> int:
        """Register and FIG. 7 for these devices, `SYNC_CONCURRENCY` at a time, skipping those
        being synchronised already; the number synchronised.  `full`: this is the FIG. 7 round
        of every device read, and the next one is due `sync_interval` from now (`sync_due`)."""
        readings = [(d, s) for d, s in readings if d.id not in self._syncing]
        ids = {d.id for d, _s in readings}
        self._syncing |= ids
        semaphore = asyncio.Semaphore(SYNC_CONCURRENCY)

        async def one(device: Device, status: DeviceStatus) -> bool:
            async with semaphore:
                return await self.sync_device(device, status)

        try:
            done = sum(await asyncio.gather(*(one(d, s) for d, s in readings)))
        finally:
            self._syncing -= ids
        if full:
            self.status.last_sync = time.time()
            self.state.set("last_sync", str(self.status.last_sync))
        return done

    def sync_due(self, now: float | None = None) -> bool:
        last = self.state.get("last_sync")
        now = time.time() if now is None else now
        return last is None or now - float(last) >= self.cloud().sync_interval

    # -- the change stream (FIG. 8) --------------------------------------------------------------

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
            if applications:
                await self.sync_applications(device, printer_id)
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

    def record_error(self, message: str) -> None:
        self.status.errors += 1
        self.status.last_error = message
        log.warning("cloud: %s", message)
