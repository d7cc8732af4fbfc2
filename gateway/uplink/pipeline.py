"""From readings to the outbox: what each reading of a registered device must upload.

A reading causes one entry per event it shows against the previous reading (threshold crossed —
at the configured thresholds and the printer's contract's —, supply replaced or empty, alert
raised or cleared, state change, contract cartridge installed or removed, contract mode changed),
plus a `periodic` entry when the device's last one is older than `poll.periodic_upload` (the
first reading of a device is always periodic), plus a `meter-snapshot` entry (its `counters.*`
types) when a period of the meter schedule the cloud set is due (`gateway.uplink.meter_snapshots`:
once per period, marked in the same transaction).  Each entry holds only the data types of the
device's transmission data type table.  Where a service allows activation by the first upload
(FIG. 9) and FIG. 10 allows it, the entry carries its application ID and the service's types.

The reading stays a `DeviceStatus` all the way: events compare it with the device's previous reading
(kept in the store as its `to_json()` document and read back with `from_json`), the data types are
projected from it, and the outbox gets `StatusEntry` values. A page counter that cannot be true
(backwards, faster than a printer prints, more than its total) is withheld first
(`gateway/uplink/plausibility.py`); then each supply's forecast
is put on the reading (`gateway.fleet.readings.supply_forecasts`), so `supplies.forecast` is
projected from it like any data type. The entries and the reading
they came from are committed together, so a crash can neither lose an event nor detect it twice; the
status page's copy of the reading and its level history (`gateway.fleet.readings.record_reading`)
are in the same transaction.  Readings that arrive together are committed together
(`record_many`: one transaction, one fsync, each reading a savepoint of it; the daemon gathers them
in `gateway.app.intake`), and the callbacks are told only after the commit.  What the next
reading of a device needs of its history (each supply's newest level point, the last forecasts)
is kept in memory between readings (`gateway.fleet.recent_history`, checked against the store at
each use and forgotten with a reading that is undone), so a reading whose levels did not change
asks the store for none of it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.device.model import DeviceStatus
from gateway.fleet.inventory import Device
from gateway.fleet.readings import new_levels, record_reading, supply_forecasts
from gateway.fleet.recent_history import Recent, RecentHistory
from gateway.settings.schema import EventSettings, PollSettings
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.data_types import project
from gateway.uplink.events import baseline, detect
from gateway.uplink.meter_schedule import Period
from gateway.uplink.meter_snapshots import MeterSnapshots, carries_counts, meter_types
from gateway.uplink.outbox import Outbox, new_entry
from gateway.uplink.plausibility import withhold_implausible_counters
from protocols.cloud.models import EventDetail, StatusEntry
from protocols.cloud.times import rfc3339

log = logging.getLogger(__name__)


@dataclass
class _Recorded:
    """One reading as committed, for the callbacks."""

    device: Device
    previous: DeviceStatus | None
    status: DeviceStatus
    entries: list[StatusEntry]
    registered: bool


class UploadPipeline:
    """Turns each reading of a device into the status entries it must upload, in the outbox."""

    def __init__(self, events: Callable[[], EventSettings], poll: Callable[[], PollSettings],
                 state: CloudState, outbox: Outbox, clock: Callable[[], float] = time.time,
                 on_recorded: Callable[[Device, DeviceStatus], None] | None = None) -> None:
        self.events = events
        self.poll = poll
        self.state = state
        self.outbox = outbox
        self.clock = clock
        self.meters = MeterSnapshots(state.store, clock)
        self.history = RecentHistory()
        """What each device's next reading needs of its history, kept between readings."""
        self.on_recorded = on_recorded
        """Told of every reading, of a registered device or not, once it is committed (local
        alerts: `gateway.alerts.source`)."""
        self.on_reading: Callable[[Device, DeviceStatus | None, DeviceStatus], None] | None = None
        """Told of each registered device's reading once it is committed, with the previous one
        (FIG. 10 again when the device's abilities changed: `gateway.uplink.rejudge`)."""

    def first_upload_activations(self, device_id: int) -> tuple[list[str], list[str]]:
        """(application IDs, their data types) a FIG. 9 upload should carry for the device:
        those not active yet that no queued upload carries already (the cloud's answer to that
        one decides)."""
        ids: list[str] = []
        types: list[str] = []
        for app in self.state.applications(device_id):
            if (app.activation_by_first_upload and app.decision_activate
                    and app.application_id and app.activation_state != "active"
                    and app.first_upload is None):
                ids.append(app.application_id)
                types += [t for t in app.data_types if t not in types]
        return ids, types

    def record(self, device: Device, status: DeviceStatus) -> list[StatusEntry]:
        """Queue what the reading causes; returns the entries queued (none for an unregistered
        device: it is registered at the next sync, and its first upload is then periodic).
        Every reading, registered or not, is also kept for the status page
        (`gateway.fleet.readings`).  Committed when this returns; raises what the store
        raises (then nothing of the reading is kept)."""
        recorded = self._record(device, status)
        self._tell([recorded])
        return recorded.entries

    def record_many(self, readings: Sequence[tuple[Device, DeviceStatus]],
                    ) -> list[list[StatusEntry] | None]:
        """Each reading as `record` does, in order, all in ONE transaction: one commit, one
        fsync for the lot.  Each reading is a savepoint of its own: one the store refuses (None
        in the result, logged) leaves nothing behind and the others are kept.  Two readings of
        a device in one call are compared in turn, as if recorded one after the other.
        `on_reading` and `on_recorded` are told once every reading is committed.  Raises when
        the commit fails: then none is kept."""
        done: list[_Recorded | None] = []
        store = self.state.store
        try:
            with store.batch():
                for device, status in readings:
                    try:
                        done.append(self._record(device, status))
                    except Exception:
                        log.exception("device %s: the reading could not be recorded", device.id)
                        done.append(None)
        except BaseException:  # nothing of the batch is kept: nor what is known of it
            self.history.forget([device.id for device, _ in readings])
            raise
        recorded = [r for r in done if r is not None]
        if recorded and (self.on_reading is not None or self.on_recorded is not None):
            try:
                with store.batch():  # what the callbacks write (local alerts): one commit too
                    self._tell(recorded)
            except Exception:
                log.exception("after %d readings: telling what they show failed", len(recorded))
        return [None if r is None else r.entries for r in done]

    def _tell(self, recorded: Sequence[_Recorded]) -> None:
        """`on_reading` (registered devices) and `on_recorded` (every one), once committed."""
        for r in recorded:
            if self.on_reading is not None and r.registered:
                self.on_reading(r.device, r.previous, r.status)
            if self.on_recorded is not None:
                self.on_recorded(r.device, r.status)

    def _record(self, device: Device, status: DeviceStatus) -> _Recorded:
        """What `record` writes, in one transaction (a savepoint inside `Store.batch`); the
        device's history kept in `history` follows it, or is forgotten when it is undone."""
        read_at = status.read_at.timestamp()
        try:
            with self.state.store.transaction() as db:
                recent = self.history.recall(db, device.id, read_at)
                printer_id = self.state.printer_id(device.id)
                if printer_id is None:
                    kept = _forecast(db, device.id, status, recent)
                    record_reading(db, device.id, status, kept)
                    recorded = _Recorded(device, None, status, [], registered=False)
                else:
                    recorded, kept = self._record_registered(db, device, printer_id, status,
                                                             recent)
        except BaseException:
            self.history.forget([device.id])
            raise
        self.history.recorded(device.id, recent, read_at, kept, status.forecasts)
        return recorded

    def _record_registered(self, db: sqlite3.Connection, device: Device, printer_id: str,
                           status: DeviceStatus, recent: Recent,
                           ) -> tuple[_Recorded, dict[str, int]]:
        stored = self.state.last_status(device.id)
        previous = None if stored is None else DeviceStatus.from_json(stored)
        withhold_implausible_counters(previous, status)
        kept = _forecast(db, device.id, status, recent)
        events = detect(previous, status, self.events(),
                        self.state.contract_threshold(device.id))
        _requested, types = self.state.transmission_types(device.id)
        application_ids, fig9_types = self.first_upload_activations(device.id)
        types = list(types) + [t for t in fig9_types if t not in types]
        now = self.clock()
        last_periodic = self.state.last_periodic(device.id)
        periodic = last_periodic is None or now - last_periodic >= \
            self.poll().periodic_upload or bool(application_ids)
        entries: list[StatusEntry] = []
        if types:
            data = project(status, types)
            read_at = status.read_at.isoformat()
            for event in events:
                entries.append(new_entry(printer_id, read_at, event.kind, data,
                                         event_detail=event.detail))
            if periodic:
                entries.append(new_entry(printer_id, read_at, "periodic", data,
                                         application_ids=application_ids or None))
        snapshot = self.meter_snapshot(device.id, printer_id, status, types)
        if snapshot is not None:
            entries.append(snapshot[1])
            self.meters.mark(printer_id, snapshot[0], status.read_at.timestamp(),
                             snapshot[1].entry_id, db=db)
        self.outbox.put(entries, device_id=device.id, db=db)
        if any(entry.application_ids for entry in entries):
            self.state.mark_carried(device.id, application_ids, db=db)
        self.state.set_last_status(device.id, baseline(previous, status).to_json(),
                                   status.read_at.timestamp(),
                                   periodic=periodic and bool(entries), db=db)
        record_reading(db, device.id, status, kept)
        return _Recorded(device, previous, status, entries, registered=True), kept

    def meter_snapshot(self, device_id: int, printer_id: str, status: DeviceStatus,
                       types: list[str]) -> tuple[Period, StatusEntry] | None:
        """The `meter-snapshot` entry this reading makes, if a period of the device's meter
        schedule is due (`gateway.uplink.meter_snapshots`), with its period."""
        counters = meter_types(types)
        if not counters:
            return None
        zone = (self.state.told(device_id) or {}).get("time_zone")
        period = self.meters.due(device_id, printer_id, status, zone)
        data = project(status, counters) if period is not None else {}
        if period is None or not carries_counts(data):
            return None
        return period, new_entry(printer_id, status.read_at, "meter-snapshot", data,
                                 event_detail=EventDetail(
                                     period=period.label,
                                     scheduled_at=rfc3339(period.scheduled_at)))


def _forecast(db: sqlite3.Connection, device_id: int, status: DeviceStatus,
              recent: Recent) -> dict[str, int]:
    """Put each supply's forecast on the reading; the levels its history keeps (`new_levels`)."""
    kept = new_levels(db, device_id, status, recent)
    status.forecasts = supply_forecasts(db, device_id, status, kept, recent)
    return kept
