"""The cloud link's state in the gateway's store (migration 3), behind named accessors.

- `cloud_link`: the link's key/values — the gateway's ID and token from its enrolment, the
  regional endpoint and the region it was resolved for, the change stream cursor, the last sync.
- `cloud_printers`: the cloud's printer ID per device (S0604), the serial it was registered
  with and the contract function the cloud was told of (migration 7).
- `registration_refusals` (migration 6): devices whose registration the cloud refused, the
  fingerprint of the refused request, why and when (`RegistrationRefusal`).
- `applications`: the support service setting table (FIG. 5): per device and service, the
  application information from the cloud (S0606) beside the local enable setting, FIG. 10's
  decision and the last activation result (S0608 or FIG. 9).
- `transmission_types`: the transmission data type table per device (S0610-S0611): what the cloud
  requests and what the gateway sends, and the threshold of the printer's contract (migration 7).
- `last_status`: the previous reading per device (event detection survives restarts) and when
  its last periodic upload was.

Every writer takes an optional `db`: a connection inside the caller's `store.transaction()`, so
that a reading, the entries it queues and its new `last_status` commit together.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from gateway.store import Store
from gateway.uplink.services import ActivationDecision
from protocols.cloud import DATA_TYPES
from protocols.cloud.models import ActivationResult
from protocols.cloud.registration import Application

LinkKey = Literal["gateway_id", "token", "base_url", "push_url", "region", "valid_until",
                  "cursor", "last_sync"]
"""The keys of `cloud_link` in use; values are text (times as seconds since the epoch)."""


@dataclass(frozen=True)
class StoredApplication:
    """One row of the support service setting table."""

    service_id: str
    service_outline: str | None
    application_id: str | None
    provider: str | None
    application_date: str | None
    activation_state: str | None
    """As the cloud last said (application information, or an activation result since)."""
    compatible_cartridge_models: list[str]
    data_types: list[str]
    activation_by_first_upload: bool
    activated_at: str | None
    enabled: bool | None
    """The local enable setting the decision was made with (None: no decision stored)."""
    decision: str | None
    """FIG. 10: `activate`, `deactivate` or `none` (no notice); None when not decided."""
    decision_reason: str | None
    decision_detail: str | None
    activation_result: ActivationResult | None
    """The last `ActivationResult` for this application (S0608, or FIG. 9 from an upload)."""
    notified_application_id: str | None
    """The application ID the cloud last confirmed as activated."""
    first_upload: str | None
    """FIG. 9: `queued` while a queued upload carries the application ID, `refused` when the
    cloud refused that upload's activation (carried again after the next sync), else None."""
    updated_at: float

    @property
    def decision_activate(self) -> bool:
        return self.decision == "activate"

    @property
    def decision_deactivate(self) -> bool:
        return self.decision == "deactivate"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "activation_result": None if self.activation_result is None
                else self.activation_result.to_json()}


@dataclass(frozen=True)
class RegistrationRefusal:
    """The cloud refused to register a device (S0603 answered 4xx for its identity)."""

    fingerprint: str
    """Of the refused request (`PrinterRegistration`): the same request is not sent again."""
    status: int | None
    reason: str
    refused_at: float


class CloudState:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    @contextlib.contextmanager
    def _writing(self, db: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
        if db is not None:
            yield db
        else:
            with self.store.transaction() as own:
                yield own

    # -- the link ----------------------------------------------------------------------------------

    def get(self, key: LinkKey) -> str | None:
        row = self.store.conn.execute("SELECT value FROM cloud_link WHERE key = ?",
                                      (key,)).fetchone()
        return None if row is None else row["value"]

    def set(self, key: LinkKey, value: str, *, db: sqlite3.Connection | None = None) -> None:
        with self._writing(db) as conn:
            conn.execute("INSERT INTO cloud_link (key, value) VALUES (?, ?) ON CONFLICT (key) "
                         "DO UPDATE SET value = excluded.value", (key, value))

    def delete(self, key: LinkKey, *, db: sqlite3.Connection | None = None) -> None:
        with self._writing(db) as conn:
            conn.execute("DELETE FROM cloud_link WHERE key = ?", (key,))

    # -- printer IDs -------------------------------------------------------------------------------

    def printer_id(self, device_id: int) -> str | None:
        row = self.store.conn.execute("SELECT printer_id FROM cloud_printers WHERE device_id = ?",
                                      (device_id,)).fetchone()
        return None if row is None else row["printer_id"]

    def device_for_printer(self, printer_id: str) -> int | None:
        row = self.store.conn.execute("SELECT device_id FROM cloud_printers WHERE printer_id = ?",
                                      (printer_id,)).fetchone()
        return None if row is None else row["device_id"]

    def registered(self, device_id: int) -> tuple[str, bool | None] | None:
        """The serial the device was registered with, and the contract function the cloud was
        told of (None: not told); None when it is not registered."""
        row = self.store.conn.execute(
            "SELECT serial, contract_supported FROM cloud_printers WHERE device_id = ?",
            (device_id,)).fetchone()
        told = row and row["contract_supported"]
        return None if row is None else (row["serial"], None if told is None else bool(told))

    def told(self, device_id: int) -> dict[str, Any] | None:
        """The registration (`PrinterRegistration` JSON) the cloud last accepted for the
        device; None when unknown (registered by an older version)."""
        row = self.store.conn.execute("SELECT told FROM cloud_printers WHERE device_id = ?",
                                      (device_id,)).fetchone()
        return None if row is None or row["told"] is None else dict(json.loads(row["told"]))

    def set_printer(self, device_id: int, printer_id: str, serial: str,
                    contract_supported: bool | None = None, *,
                    told: dict[str, Any] | None = None,
                    db: sqlite3.Connection | None = None) -> None:
        """The device is this printer ID, registered with `contract_supported` (None: not
        told; a known value is kept) and, when given, the registration the cloud accepted
        (`told`).  A printer ID is one device's: if another record had it (two records that
        were one device), it moves here."""
        with self._writing(db) as conn:
            conn.execute("DELETE FROM cloud_printers WHERE printer_id = ? AND device_id != ?",
                         (printer_id, device_id))
            conn.execute(
                "INSERT INTO cloud_printers (device_id, printer_id, serial, registered_at, "
                "contract_supported, told) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (device_id) DO UPDATE "
                "SET printer_id = excluded.printer_id, serial = excluded.serial, "
                "registered_at = CASE WHEN printer_id = excluded.printer_id THEN registered_at "
                "ELSE excluded.registered_at END, "
                "contract_supported = coalesce(excluded.contract_supported, contract_supported), "
                "told = coalesce(excluded.told, told)",
                (device_id, printer_id, serial, self.clock(), contract_supported,
                 None if told is None else json.dumps(told, sort_keys=True)))

    # -- refused registrations ---------------------------------------------------------------------

    def refusal(self, device_id: int) -> RegistrationRefusal | None:
        row = self.store.conn.execute(
            "SELECT fingerprint, status, reason, refused_at FROM registration_refusals "
            "WHERE device_id = ?", (device_id,)).fetchone()
        return None if row is None else RegistrationRefusal(**dict(row))

    def refusals(self) -> dict[int, RegistrationRefusal]:
        """Every device whose registration the cloud refused (and that is not registered since)."""
        return {row["device_id"]: RegistrationRefusal(
            row["fingerprint"], row["status"], row["reason"], row["refused_at"])
            for row in self.store.conn.execute("SELECT * FROM registration_refusals")}

    def set_refusal(self, device_id: int, fingerprint: str, status: int | None, reason: str, *,
                    db: sqlite3.Connection | None = None) -> RegistrationRefusal:
        """Keep (replace) the device's refusal, dated now."""
        refusal = RegistrationRefusal(fingerprint, status, reason, self.clock())
        with self._writing(db) as conn:
            conn.execute(
                "INSERT INTO registration_refusals (device_id, fingerprint, status, reason, "
                "refused_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET "
                "fingerprint = excluded.fingerprint, status = excluded.status, "
                "reason = excluded.reason, refused_at = excluded.refused_at",
                (device_id, fingerprint, status, reason, refusal.refused_at))
        return refusal

    def clear_refusal(self, device_id: int, *, db: sqlite3.Connection | None = None) -> None:
        with self._writing(db) as conn:
            conn.execute("DELETE FROM registration_refusals WHERE device_id = ?", (device_id,))

    # -- the support service setting table ---------------------------------------------------------

    def save_applications(self, device_id: int, applications: Iterable[Application],
                          decisions: Mapping[str, ActivationDecision], *,
                          db: sqlite3.Connection | None = None) -> None:
        """Replace the device's rows with the cloud's application information (S0606) and FIG.
        10's decisions (by service ID).  The last activation result is kept for a service whose
        application ID did not change, and so is the mark of the FIG. 9 upload carrying it
        unless the cloud refused that upload's activation (then the next reading after this
        sync carries it once more).  Should the cloud list a service twice, the first entry with an
        application ID counts."""
        chosen: dict[str, Application] = {}
        for app in applications:
            service_id = app.service_id
            if service_id not in chosen or (not chosen[service_id].application_id
                                            and app.application_id):
                chosen[service_id] = app
        now = self.clock()
        with self._writing(db) as conn:
            kept = {row["service_id"]: row for row in conn.execute(
                "SELECT service_id, application_id, activation_result, activated_at, "
                "notified_application_id, first_upload "
                "FROM applications WHERE device_id = ?", (device_id,))}
            conn.execute("DELETE FROM applications WHERE device_id = ?", (device_id,))
            for service_id, app in chosen.items():
                old = kept.get(service_id)
                same = old is not None and old["application_id"] == app.application_id
                decision = decisions.get(service_id)
                conn.execute(
                    "INSERT INTO applications (device_id, service_id, application_id, provider, "
                    "outline, contracted_on, state, compatible_models, data_types, "
                    "activation_by_first_upload, enabled, decision, decision_reason, "
                    "decision_detail, activation_result, activated_at, notified_application_id, "
                    "first_upload, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (device_id, service_id, app.application_id, app.provider,
                     app.service_outline, app.application_date, app.activation_state,
                     json.dumps(list(app.compatible_cartridge_models)),
                     json.dumps(list(app.data_types)), app.activation_by_first_upload,
                     None if decision is None else decision.enabled,
                     None if decision is None else _decision_name(decision),
                     None if decision is None else decision.reason,
                     None if decision is None else decision.detail,
                     old["activation_result"] if same else None,
                     app.activated_at,
                     old["notified_application_id"] if same else None,
                     old["first_upload"] if same and old["first_upload"] != "refused" else None,
                     now))

    def applications(self, device_id: int) -> list[StoredApplication]:
        rows = self.store.conn.execute(
            "SELECT * FROM applications WHERE device_id = ? ORDER BY service_id",
            (device_id,)).fetchall()
        return [StoredApplication(
            service_id=row["service_id"], service_outline=row["outline"],
            application_id=row["application_id"], provider=row["provider"],
            application_date=row["contracted_on"], activation_state=row["state"],
            compatible_cartridge_models=json.loads(row["compatible_models"]),
            data_types=json.loads(row["data_types"]),
            activation_by_first_upload=bool(row["activation_by_first_upload"]),
            activated_at=row["activated_at"],
            enabled=None if row["enabled"] is None else bool(row["enabled"]),
            decision=row["decision"], decision_reason=row["decision_reason"],
            decision_detail=row["decision_detail"],
            activation_result=(ActivationResult.from_json(json.loads(row["activation_result"]))
                               if row["activation_result"] else None),
            notified_application_id=row["notified_application_id"],
            first_upload=row["first_upload"],
            updated_at=row["updated_at"]) for row in rows]

    def mark_carried(self, device_id: int, application_ids: Iterable[str], *,
                     db: sqlite3.Connection | None = None) -> None:
        """FIG. 9: a queued upload carries these application IDs; later readings do not."""
        with self._writing(db) as conn:
            conn.executemany(
                "UPDATE applications SET first_upload = 'queued' "
                "WHERE device_id = ? AND application_id = ?",
                [(device_id, application_id) for application_id in application_ids])

    def record_activation(self, device_id: int, service_id: str, result: ActivationResult, *,
                          db: sqlite3.Connection | None = None) -> bool:
        """Keep an `ActivationResult` (S0608, or FIG. 9 from an upload) beside its application;
        the activation state becomes the result's (and a queued FIG. 9 upload refused is marked
        so).  False when the device has no such service (its applications changed meanwhile):
        nothing is stored."""
        with self._writing(db) as conn:
            updated = conn.execute(
                "UPDATE applications SET activation_result = ?, state = ?, "
                "activated_at = ?, "
                "notified_application_id = CASE ? WHEN 'activated' THEN ? "
                "WHEN 'deactivated' THEN NULL ELSE notified_application_id END, "
                "first_upload = CASE WHEN ? = 'refused' AND first_upload = 'queued' "
                "THEN 'refused' ELSE first_upload END, "
                "updated_at = ? WHERE device_id = ? AND service_id = ?",
                (json.dumps(result.to_json()), result.activation_state,
                 result.activated_at, result.result, result.application_id, result.result,
                 self.clock(), device_id, service_id)).rowcount
        return updated > 0

    # -- the transmission data type table ----------------------------------------------------------

    def transmission_types(self, device_id: int) -> tuple[list[str], list[str]]:
        """(requested by the cloud, sent by the gateway); both empty before the first S0610."""
        row = self.store.conn.execute(
            "SELECT requested, current FROM transmission_types WHERE device_id = ?",
            (device_id,)).fetchone()
        if row is None:
            return [], []
        return json.loads(row["requested"]), json.loads(row["current"])

    def set_transmission_types(self, device_id: int, requested: Iterable[str],
                               current: Iterable[str], *, contract_threshold: int | None = None,
                               db: sqlite3.Connection | None = None) -> bool:
        """The cloud's requested types and the table of the types the gateway sends (catalogue
        order, once each), and the printer's contract's threshold (None: no contract); the S0611
        report of it is pending until `mark_reported`.  Raises ValueError for a name outside the
        data type catalogue.

        A type the table did not hold before (a service was activated) makes the device's next
        upload a periodic one, so the new type is sent with its next reading, not only at the
        next periodic upload; True then (the caller has the device read now)."""
        requested, current = _catalogue_order(requested), _catalogue_order(current)
        with self._writing(db) as conn:
            row = conn.execute("SELECT current FROM transmission_types WHERE device_id = ?",
                               (device_id,)).fetchone()
            gained = row is not None and bool(set(current) - set(json.loads(row["current"])))
            if gained:
                conn.execute("UPDATE last_status SET last_periodic = NULL WHERE device_id = ?",
                             (device_id,))
            conn.execute(
                "INSERT INTO transmission_types (device_id, requested, current, reported_at, "
                "updated_at, contract_threshold) VALUES (?, ?, ?, NULL, ?, ?) "
                "ON CONFLICT (device_id) DO UPDATE SET "
                "requested = excluded.requested, current = excluded.current, "
                "reported_at = NULL, updated_at = excluded.updated_at, "
                "contract_threshold = excluded.contract_threshold",
                (device_id, json.dumps(requested), json.dumps(current), self.clock(),
                 contract_threshold))
        return gained

    def add_transmission_types(self, device_id: int, data_types: Iterable[str], *,
                               db: sqlite3.Connection | None = None) -> None:
        """FIG. 9: a service activated by the device's first upload adds its data types (from the
        application information) to the table, requested and sent, with no control-information
        round trip; the cloud knows them from that upload, so nothing is left to report."""
        with self._writing(db) as conn:
            row = conn.execute("SELECT requested, current, reported_at FROM transmission_types "
                               "WHERE device_id = ?", (device_id,)).fetchone()
            requested = [] if row is None else json.loads(row["requested"])
            current = [] if row is None else json.loads(row["current"])
            conn.execute(
                "INSERT INTO transmission_types (device_id, requested, current, reported_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET "
                "requested = excluded.requested, current = excluded.current, "
                "updated_at = excluded.updated_at",
                (device_id, json.dumps(_catalogue_order([*requested, *data_types])),
                 json.dumps(_catalogue_order([*current, *data_types])),
                 self.clock() if row is None else row["reported_at"], self.clock()))

    def contract_threshold(self, device_id: int) -> int | None:
        """The threshold of the printer's contract as the cloud last said (None: no contract)."""
        row = self.store.conn.execute(
            "SELECT contract_threshold FROM transmission_types WHERE device_id = ?",
            (device_id,)).fetchone()
        return None if row is None else row["contract_threshold"]

    def mark_reported(self, device_id: int, *, db: sqlite3.Connection | None = None) -> None:
        """The cloud has the S0611 report of the device's current table."""
        with self._writing(db) as conn:
            conn.execute("UPDATE transmission_types SET reported_at = ? WHERE device_id = ?",
                         (self.clock(), device_id))

    def report_pending(self, device_id: int) -> bool:
        """The table changed since the cloud last had a report of it (e.g. the report failed)."""
        row = self.store.conn.execute(
            "SELECT reported_at FROM transmission_types WHERE device_id = ?",
            (device_id,)).fetchone()
        return row is not None and row["reported_at"] is None

    # -- the previous reading ----------------------------------------------------------------------

    def last_status(self, device_id: int) -> dict[str, Any] | None:
        row = self.store.conn.execute("SELECT status FROM last_status WHERE device_id = ?",
                                      (device_id,)).fetchone()
        return None if row is None else json.loads(row["status"])

    def set_last_status(self, device_id: int, status: Mapping[str, Any], read_at: float,
                        periodic: bool, *, db: sqlite3.Connection | None = None) -> None:
        """Keep a reading (a `DeviceStatus.to_json()` document, or the events module's
        baseline) as the device's previous one; `periodic`: a periodic upload was queued for it,
        at `read_at` (seconds since the epoch)."""
        with self._writing(db) as conn:
            conn.execute(
                "INSERT INTO last_status (device_id, read_at, status, last_periodic) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET "
                "read_at = excluded.read_at, status = excluded.status, "
                "last_periodic = coalesce(excluded.last_periodic, last_periodic)",
                (device_id, read_at, json.dumps(dict(status), separators=(",", ":")),
                 read_at if periodic else None))

    def last_periodic(self, device_id: int) -> float | None:
        """When the device's last periodic upload was queued (None: never)."""
        row = self.store.conn.execute("SELECT last_periodic FROM last_status WHERE device_id = ?",
                                      (device_id,)).fetchone()
        return None if row is None else row["last_periodic"]


def _decision_name(decision: ActivationDecision) -> str:
    return "activate" if decision.activate else "deactivate" if decision.deactivate else "none"


def _catalogue_order(data_types: Iterable[str]) -> list[str]:
    wanted = set(data_types)
    unknown = wanted - set(DATA_TYPES)
    if unknown:
        raise ValueError(f"not data types of the catalogue: {', '.join(sorted(unknown))}")
    return [data_type for data_type in DATA_TYPES if data_type in wanted]
