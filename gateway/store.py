"""The gateway's local SQLite database: everything it must not lose lives here.

One file in the data directory (`printgw.db`), in WAL mode with full synchronous commits, so a
crash or a power cut loses no committed write.  The directory is created 0700 and the file 0600:
the database holds device identities and, later, the cloud link's state.

The schema is versioned with `PRAGMA user_version`; `MIGRATIONS` only ever grows, and a database
written by a newer printgw is refused rather than damaged.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

DATABASE_NAME = "printgw.db"

MIGRATIONS: tuple[str, ...] = (
    # 1: the inventory (issue 4)
    """
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        serial TEXT UNIQUE,
        uuid TEXT UNIQUE,
        mac TEXT UNIQUE,
        manufacturer TEXT,
        model TEXT,
        hostname TEXT,
        ipp_uri TEXT,
        snmp_port INTEGER,
        snmp_version INTEGER,
        snmp_user TEXT,
        sources TEXT NOT NULL DEFAULT '[]',
        protocols TEXT NOT NULL DEFAULT '[]',
        services TEXT NOT NULL DEFAULT '[]',
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        missing_since REAL
    );
    CREATE TABLE device_addresses (
        device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        address TEXT NOT NULL,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        current INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (device_id, address)
    );
    CREATE INDEX device_addresses_by_address ON device_addresses(address);
    CREATE TABLE inventory_events (
        id INTEGER PRIMARY KEY,
        device_id INTEGER NOT NULL,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX inventory_events_by_device ON inventory_events(device_id, at);
    """,
    # 2: the outbox (issue 5): status entries accepted for upload, until the cloud has them.
    # Keyed by the cloud's printer ID, not by device row, so a merge of device records can never
    # delete an accepted entry.  `counters` keeps the outbox's running totals across restarts.
    """
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        entry_id TEXT NOT NULL UNIQUE,
        printer_id TEXT NOT NULL,
        device_id INTEGER,
        event TEXT NOT NULL,
        queued_at REAL NOT NULL,
        body TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox(next_attempt_at, seq);
    CREATE TABLE outbox_rejected (
        entry_id TEXT PRIMARY KEY,
        printer_id TEXT NOT NULL,
        rejected_at REAL NOT NULL,
        code TEXT NOT NULL,
        detail TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    """,
    # 3: the cloud link's state (issue 5): the gateway's credential and regional endpoint, the
    # printer ID per device, the support service setting table (application information beside
    # the activation results), the transmission data type table, and the last status per device
    # (event detection needs the previous reading across restarts).
    """
    CREATE TABLE cloud_link (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE cloud_printers (
        device_id INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
        printer_id TEXT NOT NULL UNIQUE,
        serial TEXT NOT NULL,
        registered_at REAL NOT NULL
    );
    CREATE TABLE applications (
        device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        service_id TEXT NOT NULL,
        application_id TEXT,
        provider TEXT,
        outline TEXT,
        contracted_on TEXT,
        state TEXT,
        compatible_models TEXT NOT NULL DEFAULT '[]',
        data_types TEXT NOT NULL DEFAULT '[]',
        activation_by_first_upload INTEGER NOT NULL DEFAULT 0,
        enabled INTEGER,
        decision TEXT,
        decision_reason TEXT,
        decision_detail TEXT,
        activation_result TEXT,
        activated_at TEXT,
        notified_application_id TEXT,
        updated_at REAL NOT NULL,
        PRIMARY KEY (device_id, service_id)
    );
    CREATE TABLE transmission_types (
        device_id INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
        requested TEXT NOT NULL DEFAULT '[]',
        current TEXT NOT NULL DEFAULT '[]',
        reported_at REAL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE last_status (
        device_id INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
        read_at REAL NOT NULL,
        status TEXT NOT NULL,
        last_periodic REAL
    );
    """,
    # 4: contract-mode commands (issue 6): every command the cloud sent with its outcome and the
    # state of its two acknowledgements (`received`, `completed`: NULL not due, `due`, `sent`,
    # `rejected`), and the audit trail of what was done, append-only (the triggers refuse any
    # UPDATE or DELETE of it).
    """
    CREATE TABLE commands (
        command_id TEXT PRIMARY KEY,
        printer_id TEXT NOT NULL,
        device_id INTEGER,
        kind TEXT NOT NULL,
        parameters TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        deadline TEXT NOT NULL,
        received_at REAL NOT NULL,
        state TEXT NOT NULL,
        result TEXT,
        reason TEXT,
        contract_state TEXT,
        completed_at REAL,
        received_ack TEXT,
        completed_ack TEXT,
        ack_attempts INTEGER NOT NULL DEFAULT 0,
        ack_error TEXT
    );
    CREATE INDEX commands_open ON commands(state, received_at);
    CREATE TABLE command_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        command_id TEXT NOT NULL,
        at REAL NOT NULL,
        who TEXT NOT NULL,
        what TEXT NOT NULL,
        result TEXT NOT NULL
    );
    CREATE INDEX command_audit_by_command ON command_audit(command_id, id);
    CREATE TRIGGER command_audit_no_update BEFORE UPDATE ON command_audit
    BEGIN SELECT RAISE(ABORT, 'command_audit is append-only'); END;
    CREATE TRIGGER command_audit_no_delete BEFORE DELETE ON command_audit
    BEGIN SELECT RAISE(ABORT, 'command_audit is append-only'); END;
    """,
    # 5: what the status page shows (issue 7, `gateway/local/live_view.py`): every device's newest
    # reading (a summary, registered or not) and when the cloud last took an entry of it, and
    # the history of its supply levels (thinned and pruned as it is written).
    """
    CREATE TABLE device_readings (
        device_id INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
        read_at REAL NOT NULL,
        printer_state TEXT NOT NULL,
        summary TEXT NOT NULL,
        uploaded_at REAL,
        uploaded_read_at TEXT
    );
    CREATE TABLE level_history (
        device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        read_at REAL NOT NULL,
        supply_index TEXT NOT NULL,
        level_percent INTEGER NOT NULL,
        PRIMARY KEY (device_id, read_at, supply_index)
    ) WITHOUT ROWID;
    """,
    # 6: devices whose registration the cloud refused (issue 19, `gateway/uplink/link.py`): the
    # refused request's fingerprint (it is sent again only once the identity changes, or after
    # the sync interval), why, and when; shown on the status page, kept across restarts.
    """
    CREATE TABLE registration_refusals (
        device_id INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
        fingerprint TEXT NOT NULL,
        status INTEGER,
        reason TEXT NOT NULL,
        refused_at REAL NOT NULL
    );
    """,
    # 7: the contract function (issue 15): the threshold of a printer's contract
    # (`DeviceControlInformation`) beside its transmission data types, which its
    # `threshold-crossed` events follow; whether the cloud was told the device has the contract
    # function (`PrinterRegistration.contract_supported`, NULL: not told).
    """
    ALTER TABLE transmission_types ADD COLUMN contract_threshold INTEGER;
    ALTER TABLE cloud_printers ADD COLUMN contract_supported INTEGER;
    """,
    # 8: the operator's enable overrides (issue 16, `gateway/uplink/enable_overrides.py`): per
    # device and service, what a `set-service-enabled` command set (the config file stays the
    # upper bound); kept across restarts and reloads.  Such a command's effective setting, as
    # its acknowledgement reports it (`commands.service_setting`, JSON).
    """
    CREATE TABLE enable_overrides (
        device_id TEXT NOT NULL,
        service_id TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        set_at REAL NOT NULL,
        PRIMARY KEY (device_id, service_id)
    );
    ALTER TABLE commands ADD COLUMN service_setting TEXT;
    """,
    # 9: what the cloud was told at registration (issue 16): the last accepted
    # `PrinterRegistration` as JSON, so a device whose type, site (time zone, shipping
    # destination) or other identity changed is registered again (NULL: registered by an older
    # version, told again once).
    """
    ALTER TABLE cloud_printers ADD COLUMN told TEXT;
    """,
    # 10: supply forecasts (issue 17, `gateway/fleet/forecast.py`): the device's total page
    # counter at each level history point (NULL: the device told none), so a supply's use is
    # measured per page printed as well as per day.
    """
    ALTER TABLE level_history ADD COLUMN page_total INTEGER;
    """,
    # 11: meter snapshots (issue 17, `gateway/uplink/meter_snapshots.py`): the meter schedule
    # the cloud set per device (`MeterSchedule` JSON) and since when the gateway has it; each
    # period whose snapshot entered the outbox, by the cloud's printer ID (exactly once per
    # period and printer, across restarts).
    """
    CREATE TABLE meter_schedules (
        device_id INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
        schedule TEXT NOT NULL,
        since REAL NOT NULL
    );
    CREATE TABLE meter_snapshots (
        printer_id TEXT NOT NULL,
        period TEXT NOT NULL,
        scheduled_at TEXT NOT NULL,
        read_at REAL NOT NULL,
        entry_id TEXT NOT NULL,
        PRIMARY KEY (printer_id, period)
    );
    """,
    # 12: local alerts (issue 18, `gateway/alerts/`): each device's last reading as the alerts
    # compare it (registered with a cloud or not) and whether it is unreachable; when each alert
    # (device, kind, key) was last accepted (de-duplication across restarts); the alerts accepted
    # for each output until it has them.
    """
    CREATE TABLE alert_devices (
        device_id INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
        baseline TEXT,
        unreachable_since REAL,
        unreachable_alerted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE alert_sent (
        device_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (device_id, kind, key)
    );
    CREATE TABLE alert_queue (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        output TEXT NOT NULL,
        alert TEXT NOT NULL,
        queued_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL DEFAULT 0,
        last_error TEXT
    );
    CREATE INDEX alert_queue_due ON alert_queue(output, next_attempt_at, seq);
    """,
    # 13: FIG. 9 (`gateway/uplink/pipeline.py`): whether a queued upload already carries the
    # application ID (`queued`), so a second reading before the cloud's answer does not carry it
    # again, or the cloud refused it (`refused`: tried again after the next sync).
    """
    ALTER TABLE applications ADD COLUMN first_upload TEXT;
    """,
)


class StoreError(Exception):
    """The database cannot be opened or is not one this printgw can use."""


class Store:
    """One connection to the gateway database, with transactions and migrations."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._batch = False
        """A `batch()` is open: `transaction()` makes savepoints."""
        try:
            if self.path != ":memory:":
                _create_private(Path(self.path))
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}") from exc
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StoreError(f"{self.path} is not a usable printgw database: {exc}") from exc

    @classmethod
    def in_directory(cls, data_dir: Path | str) -> Store:
        """The database in the gateway's data directory, created (0700) when missing."""
        directory = Path(data_dir)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {directory}: {exc}") from exc
        return cls(directory / DATABASE_NAME)

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path} has schema version {version}, newer than this printgw "
                             f"understands ({len(MIGRATIONS)}); upgrade printgw")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in _statements(script):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception.  Inside `batch()`, a savepoint
        of the batch's transaction instead: undone alone on an exception, committed with the
        batch."""
        if self._batch:
            with self._savepoint():
                yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:  # a COMMIT that failed may leave it open
                self.conn.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def batch(self) -> Iterator[sqlite3.Connection]:
        """One transaction, one commit (one fsync) for many: every `transaction()` inside it is
        a savepoint of it.  Nothing of it is committed, or durable, before it ends; so it is
        never held across an `await`: another task on this connection would see, and could
        send, what is not committed yet.  A batch inside a batch is part of it."""
        if self._batch:
            yield self.conn
            return
        with self.transaction() as conn:
            self._batch = True
            try:
                yield conn
            finally:
                self._batch = False

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        self.conn.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO part")
            self.conn.execute("RELEASE part")
            raise
        self.conn.execute("RELEASE part")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a migration, one by one (a trigger's body holds semicolons too).
    Not `executescript`: it would commit the migration's transaction half-way."""
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.replace(";", " ").strip():
                yield pending
            pending = ""
    if pending.replace(";", " ").strip():
        raise StoreError(f"incomplete SQL statement in a migration: {pending.strip()[:80]}")


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite does (it would honour the umask, often 0644)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
