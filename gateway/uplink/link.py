"""The gateway's side of the cloud link (SPEC §6, Canon JP6736621B2 FIG. 6-9).

`CloudLink` runs the sequences per device against the information management server:

- S0601-S0602 connection destination, then enrolment (once: the credential is kept in the store);
- S0603-S0604 registration of each device by serial → the cloud's printer ID;
- S0605-S0608 application information into the support service setting table, FIG. 10's
  activation decision per service, activation notices only for the services it allows;
- S0609-S0611 device control information into the transmission data type table (and the meter
  schedule, `gateway.uplink.meter_snapshots`), and the report of the types the gateway will now
  send;
- FIG. 7: the same again at every start-up (the first round after the daemon starts, whatever the
  stored last sync says) and every `sync_interval`; for one device when it answers again after
  being unreachable, or when asked (`printgw sync`);
- FIG. 8: the change stream (`gateway.uplink.change_stream`);
- FIG. 9: where a service allows activation by the first upload, no notice is sent: the device is
  read at once, the upload carries the application ID (see `UploadPipeline`) and its result is
  recorded here; once activated, the service's data types from the application information join
  the transmission data type table directly, with no control-information round trip.

Data when it is due: whenever the table gains a type (an activation, a control-information
change), the device's next upload is periodic (every type), and `on_due` asks for that reading now
rather than at the device's next schedule.  The connection destination is asked for again before
its `valid_until` passes (`keep_destination`, `gateway.uplink.destination`).

Cloud errors never escape a device's sequence: a device whose step failed is retried at the next
sync, the others go on; one whose identity the cloud refuses is flagged, not asked for in a loop
(`gateway.uplink.refusals`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence

from gateway.device.model import DeviceStatus
from gateway.fleet.inventory import Device, Inventory
from gateway.settings.schema import CloudSettings, GatewaySettings
from gateway.uplink import refusals
from gateway.uplink.change_stream import ChangeStream
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.data_types import available
from gateway.uplink.destination import RETRY_MAX, RETRY_MIN, DestinationStore
from gateway.uplink.enable_overrides import EnableOverrides
from gateway.uplink.latest import LatestReadings
from gateway.uplink.link_state import LinkState
from gateway.uplink.meter_snapshots import MeterSnapshots
from gateway.uplink.registering import registration_request
from gateway.uplink.service_judge import judge_services
from gateway.uplink.services import ServiceSettings
from gateway.wake import first_of, jittered
from protocols.cloud.client import CloudClient
from protocols.cloud.errors import CloudError, CloudRejected
from protocols.cloud.models import ActivationResult, Command, UnreadableCommand
from protocols.cloud.registration import (
    Activation,
    EnrolmentRequest,
    PrinterRegistration,
    TransmissionDataTypesReport,
    UnavailableDataType,
)
from protocols.version import VERSION

log = logging.getLogger(__name__)

SYNC_CONCURRENCY = 8
"""Devices synchronised at once, over every round and request together (each is a few requests
in sequence): a fleet coming back at once is no storm."""


class NotEnrolled(Exception):
    """The gateway has no credential and no enrolment token to get one."""


class CloudLink(ChangeStream):
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
        self.on_due: Callable[[int], None] | None = None
        """"Read this device now": its next upload carries every type of its table."""
        self.destination = DestinationStore(state, lambda: gateway().region,
                                            lambda: self._client_for(str(cloud().url)))
        self._client: CloudClient | None = None
        self._connecting = asyncio.Lock()
        self._sync_slots = asyncio.Semaphore(SYNC_CONCURRENCY)
        self.statuses = LatestReadings()
        """Each device's newest reading (FIG. 10 and the data types it can deliver go by it),
        compact; the daemon's intake keeps its readings in this same one."""
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
        stored = self.destination.stored()
        if stored is None or (stored.valid_until is not None
                              and stored.valid_until <= time.time()):
            # checked by the client before it is stored: an unusable one is retried with back-off
            stored = await self.destination.resolve()
        client = self._client_for(stored.base_url)
        token = self.state.get("token")
        if token is None:
            token = await self._enrol(client)
        self._client = client.with_token(token)
        await client.close()
        self.status.connected = True

    async def keep_destination(self, stop: asyncio.Event) -> None:
        """Until `stop`: the connection destination asked for again before its `valid_until`
        passes; a new endpoint is used from then on.  A failed request keeps the one stored and
        is retried with back-off."""
        delay = RETRY_MIN
        while not stop.is_set():
            stored = self.destination.stored()
            await first_of(stop, seconds=self.destination.refresh_in(stored))
            if stop.is_set():
                return
            try:
                fresh = await self.destination.resolve()
            except CloudError as exc:
                self.record_error(f"asking for the connection destination again (the stored one "
                                  f"is kept; retrying in {delay:.0f} s): {exc}")
                await first_of(stop, seconds=jittered(delay))
                delay = min(RETRY_MAX, delay * 2)
                continue
            delay = RETRY_MIN
            if self._client is not None and stored is not None \
                    and fresh.base_url != stored.base_url:
                bare = self._client_for(fresh.base_url)
                old, self._client = self._client, bare.with_token(self.state.get("token"))
                await bare.close()
                await old.close()
                log.info("cloud: now using %s", fresh.base_url)

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
            await self._tell_changes(device.id, printer_id, request,
                                     complete=bool(status.reachable)
                                     and all(status.reachable.values()))
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
                               request.contract_supported, told=request.to_json())
        self.state.clear_refusal(device.id)
        self.status.skipped.pop(device.id, None)
        log.info("cloud: device %s (serial %s) is printer %s", device.id, request.serial,
                 result.printer_id)
        return result.printer_id

    async def _tell_changes(self, device_id: int, printer_id: str,
                            request: PrinterRegistration | None, *, complete: bool) -> None:
        """S0603 again for a registered device (the cloud updates the printer) when the reading
        knows something the cloud was not told: its contract function once read over SNMP, a
        device type, time zone or shipping destination that changed (a site rule, an upgrade
        from a version that sent `unknown`), new firmware.  What a reading does not know (None)
        is no change, nor is a device type from a reading some protocol did not answer (an
        MFP read over IPP alone may look like a printer); never under another serial."""
        registered = self.state.registered(device_id)
        if request is None or registered is None or registered[0] != request.serial:
            return
        told = self.state.told(device_id)
        if told is None:  # registered by an older version: told again once
            told = {"serial": registered[0], "contract_supported": registered[1]}
        known = {key: value for key, value in request.to_json().items() if value is not None}
        if not complete or known.get("device_type") == "unknown":
            known.pop("device_type", None)
        if all(told.get(key) == value for key, value in known.items()):
            return
        update = {**told, **known}
        try:
            await self.client.register_printer(PrinterRegistration.from_json(update))
        except CloudError as exc:  # the device's other steps go on; told at the next sync
            self.record_error(f"device {device_id}: registering its changes again: {exc}")
            return
        log.info("cloud: device %s registered again: %s", device_id, ", ".join(
            sorted(key for key, value in known.items() if told.get(key) != value)))
        self.state.set_printer(device_id, printer_id, request.serial, request.contract_supported,
                               told=update)

    # -- S0605-S0611 -----------------------------------------------------------------------------

    async def sync_device(self, device: Device, status: DeviceStatus) -> bool:
        """Register (if needed), then FIG. 7 for one device; False when a step failed."""
        self.statuses[device.id] = status
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

    async def sync_applications(self, device: Device, printer_id: str) -> bool:
        """S0605-S0608: the support service setting table and FIG. 10's activation notices;
        True when a notice changed what is active (the requested data types moved).  A service
        to be activated by its first upload (FIG. 9) has the device read at once."""
        info = await self.client.get_applications(printer_id)
        before = {a.service_id: a.decision_reason for a in self.state.applications(device.id)}
        decisions = judge_services(device, self.statuses.get(device.id), info.applications,
                                   self.services, EnableOverrides(self.state.store), before)
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
            elif decision.activate and app.activation_state != "active":
                self._due(device.id)  # FIG. 9: the upload that activates it goes now
        if not notices:
            return False
        result = await self.client.notify_activation(printer_id, notices)
        self.status.activations_sent += len(notices)
        for outcome in result.results:
            if outcome.service_id is not None:
                self.state.record_activation(device.id, outcome.service_id, outcome)
            if outcome.result == "refused":
                log.warning("cloud: activation of %s on printer %s refused: %s",
                            outcome.service_id, printer_id, outcome.reason)
        return any(outcome.result in ("activated", "deactivated") for outcome in result.results)

    async def sync_control_information(self, device: Device, printer_id: str) -> None:
        """S0609-S0611: the transmission data type table, and the report of what will be sent."""
        control = await self.client.get_control_information(printer_id)
        requested = list(control.requested_data_types)
        status = self.statuses.get(device.id)
        missing = available(status) if status is not None else {}
        unavailable = tuple(UnavailableDataType(t, reason) for t in requested
                            if (reason := missing.get(t)))
        current = [t for t in requested if not missing.get(t)]
        if self.state.set_transmission_types(
                device.id, requested, current,
                contract_threshold=control.contract_threshold_percent):
            self._due(device.id)
        if MeterSnapshots(self.state.store).set_schedule(device.id, control.meter_schedule):
            log.info("cloud: printer %s meter schedule: %s", printer_id,  # issue 17
                     control.meter_schedule or "none")
        await self.client.report_transmission_data_types(printer_id, TransmissionDataTypesReport(
            transmission_data_types=tuple(current), based_on_revision=control.revision,
            unavailable=unavailable))
        self.state.mark_reported(device.id)

    def record_first_upload_activations(self, printer_id: str,
                                        results: list[ActivationResult]) -> None:
        """FIG. 9: the activation results a status upload came back with.  An activated
        service's data types (from the application information, those the device can deliver)
        join the transmission data type table at once: no control-information round trip."""
        device_id = self.state.device_for_printer(printer_id)
        if device_id is None:
            return
        status = self.statuses.get(device_id)
        missing = available(status) if status is not None else {}
        apps = {app.service_id: app for app in self.state.applications(device_id)}
        for outcome in results:
            if outcome.service_id is None:
                continue
            self.state.record_activation(device_id, outcome.service_id, outcome)
            app = apps.get(outcome.service_id)
            if outcome.result == "activated" and app is not None:
                self.state.add_transmission_types(
                    device_id, [t for t in app.data_types if not missing.get(t)])
                log.info("cloud: %s active on printer %s by its first upload (FIG. 9)",
                         outcome.service_id, printer_id)

    def _due(self, device_id: int) -> None:
        if self.on_due is not None:
            self.on_due(device_id)

    async def refresh_control_information(self, printer_id: str) -> None:
        """After an upload's `ignored_data_types`: the table is stale."""
        await self._on_printer_change(printer_id, applications=False)

    async def sync_all(self, readings: Sequence[tuple[Device, DeviceStatus]], *,
                       full: bool = True) -> int:
        """Register and FIG. 7 for these devices (`sync_each`); the number synchronised.
        `full`: this is the FIG. 7 round of every device read, and the next one is due
        `sync_interval` from now (`sync_due`)."""
        done = sum(ok is True for ok in (await self.sync_each(readings)).values())
        if full:
            self.status.last_sync = time.time()
            self.state.set("last_sync", str(self.status.last_sync))
        return done

    async def sync_each(self, readings: Sequence[tuple[Device, DeviceStatus]],
                        ) -> dict[int, bool | None]:
        """Register and FIG. 7 for these devices, `SYNC_CONCURRENCY` at a time over every caller;
        per device ID, whether it worked (None: it was being synchronised already, skipped)."""
        outcome: dict[int, bool | None] = {d.id: None for d, _s in readings
                                           if d.id in self._syncing}
        readings = [(d, s) for d, s in readings if d.id not in self._syncing]
        ids = {d.id for d, _s in readings}
        self._syncing |= ids

        async def one(device: Device, status: DeviceStatus) -> bool:
            async with self._sync_slots:
                return await self.sync_device(device, status)

        try:
            results = await asyncio.gather(*(one(d, s) for d, s in readings))
        finally:
            self._syncing -= ids
        outcome.update({d.id: ok for (d, _s), ok in zip(readings, results, strict=True)})
        return outcome

    def sync_due(self, now: float | None = None) -> bool:
        """FIG. 7 for every device is due: none since this process started (every start-up), or
        the last is `sync_interval` old (or forgotten: a resynchronisation, new settings)."""
        last = self.state.get("last_sync")
        now = time.time() if now is None else now
        return self.status.last_sync is None or last is None \
            or now - float(last) >= self.cloud().sync_interval

    def record_error(self, message: str) -> None:
        self.status.errors += 1
        self.status.last_error = message
        log.warning("cloud: %s", message)
