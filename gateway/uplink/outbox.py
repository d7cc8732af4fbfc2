"""The outbox: every status entry bound for the cloud waits here, on disk, until the cloud has it.

An entry is a `StatusEntry` (`protocols.cloud.models`; `new_entry` builds one), complete with its
`entry_id` (a uuid4 chosen when it enters the outbox and never changed: the cloud stores each
entry ID once).  It is serialised once, when it is put, and `due` reads it back as the same
`StatusEntry` for every attempt.  `put` commits it to the store (WAL, synchronous FULL) before
returning — or with the caller's transaction, when given one — so an entry that was put survives
a crash or a power cut; it leaves the outbox only when the cloud answered `accepted` or
`duplicate` (`delivered`), or `rejected` (moved to `outbox_rejected`, where the last
`REJECTED_KEPT` stay for diagnosis).
Delivery is at least once; the cloud's per-entry deduplication makes it exactly once.

Retries: a failed entry is tried again after an exponential back-off with full jitter (a random
delay between 0 and 1 s, 2 s, 4 s… up to 15 min), never earlier than the cloud's `Retry-After`
(itself capped at `RETRY_AFTER_CAP`).  One delay is drawn per failed batch, so the batch stays
together and its retry carries the same `Idempotency-Key` and body.

Bound: the outbox holds at most `max_entries` entries.  When a `put` would exceed it, the oldest
`periodic` entries are dropped first (the next periodic upload carries the same kind of
snapshot), then the oldest event entries; the entries being put are never dropped.  Drops are
counted (`outbox.dropped` in `counters`) and logged.

`gateway.uplink.sender.OutboxSender` empties it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from gateway.store import Store
from protocols.cloud.models import EventDetail, JsonValue, StatusEntry
from protocols.cloud.times import rfc3339

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0
BACKOFF_CAP = 15 * 60.0
RETRY_AFTER_CAP = 3600.0
"""A `Retry-After` longer than this is taken as this (a misconfigured cloud must not stall the
outbox for days)."""
REJECTED_KEPT = 1000
LAST_ERROR_LENGTH = 500

COUNTER_DROPPED = "outbox.dropped"
COUNTER_DELIVERED = "outbox.delivered"
COUNTER_REJECTED = "outbox.rejected"


def new_entry(printer_id: str, read_at: datetime | str, event: str,
              data: Mapping[str, JsonValue], event_detail: EventDetail | None = None,
              application_ids: Sequence[str] | None = None) -> StatusEntry:
    """A `StatusEntry` with a fresh uuid4 `entry_id`, ready for `Outbox.put`.

    `read_at` is a timezone-aware datetime (written as RFC 3339, UTC) or an RFC 3339 string
    (`DeviceStatus.to_json()["read_at"]`).
    """
    if isinstance(read_at, datetime):
        if read_at.tzinfo is None:
            raise ValueError("read_at must be timezone-aware (RFC 3339 needs an offset)")
        read_at = rfc3339(read_at)
    return StatusEntry(entry_id=str(uuid.uuid4()), printer_id=printer_id, read_at=read_at,
                       event=event, data=dict(data), event_detail=event_detail,
                       application_ids=None if application_ids is None
                       else tuple(application_ids))


@dataclass(frozen=True)
class Pending:
    """An entry waiting in the outbox."""

    seq: int
    entry_id: str
    printer_id: str
    device_id: int | None
    event: str
    queued_at: float
    attempts: int
    next_attempt_at: float
    last_error: str | None
    entry: StatusEntry


@dataclass(frozen=True)
class OutboxStats:
    """The outbox at a glance; times are the outbox clock's (epoch seconds).  `next_attempt_at`
    is in the past (0 for entries never tried) when something is due now, None when empty."""

    depth: int
    oldest_queued_at: float | None
    dropped: int
    delivered: int
    rejected: int
    next_attempt_at: float | None


def backoff(attempts: int, rng: random.Random) -> float:
    """Full-jitter exponential back-off after `attempts` failed attempts (≥ 1): uniform in
    [0, min(15 min, 1 s * 2^(attempts-1))]."""
    ceiling = min(BACKOFF_CAP, BACKOFF_FIRST * 2.0 ** min(max(attempts, 1) - 1, 30))
    return rng.uniform(0.0, ceiling)


class Outbox:
    """The on-disk queue of status entries (tables `outbox`, `outbox_rejected`, `counters`)."""

    def __init__(self, store: Store, *, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, not {max_entries}")
        self.store = store
        self.max_entries = max_entries
        self.clock = clock
        self.rng = rng or random.Random()

    def put(self, entries: Sequence[StatusEntry], *, device_id: int | None = None,
            db: sqlite3.Connection | None = None) -> None:
        """Queue `entries` (of the device row `device_id`) in one transaction.

        Committed when this returns; with `db` (a transaction of the caller's on this store) the
        entries are written in it instead and committed with it, e.g. together with the reading
        they came from.  An entry ID already queued is left as it is.  Raises ValueError for an
        entry without the fields the outbox needs, or for more entries than the outbox holds.
        """
        if not entries:
            return
        if len(entries) > self.max_entries:
            raise ValueError(f"{len(entries)} entries do not fit an outbox of "
                             f"{self.max_entries}")
        rows = [_row(entry) for entry in entries]
        now = self.clock()
        transaction = contextlib.nullcontext(db) if db is not None else self.store.transaction()
        with transaction as conn:
            conn.executemany(
                "INSERT INTO outbox (entry_id, printer_id, device_id, event, queued_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (entry_id) DO NOTHING",
                [(entry_id, printer_id, device_id, event, now, body)
                 for entry_id, printer_id, event, body in rows])
            excess = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] - self.max_entries
            dropped = _drop_oldest(conn, excess, {row[0] for row in rows}) if excess > 0 else {}
            total = sum(dropped.values())
            if total:
                _count(conn, COUNTER_DROPPED, total)
        if total:
            log.warning("outbox full (%d entries): dropped the %d oldest (%d periodic, %d event)",
                        self.max_entries, total, dropped["periodic"], dropped["event"])

    def due(self, limit: int = 500, now: float | None = None) -> list[Pending]:
        """Up to `limit` entries whose next attempt is due, oldest first."""
        now = self.clock() if now is None else now
        rows = self.store.conn.execute(
            "SELECT seq, entry_id, printer_id, device_id, event, queued_at, attempts, "
            "next_attempt_at, last_error, body FROM outbox WHERE next_attempt_at <= ? "
            "ORDER BY seq LIMIT ?", (now, limit)).fetchall()
        return [Pending(*row[:9], entry=StatusEntry.from_json(json.loads(row[9])))
                for row in rows]

    def delivered(self, entry_ids: Iterable[str]) -> None:
        """The cloud has these entries (`accepted` or `duplicate`): they leave the outbox."""
        ids = [(entry_id,) for entry_id in entry_ids]
        if not ids:
            return
        with self.store.transaction() as conn:
            removed = conn.executemany("DELETE FROM outbox WHERE entry_id = ?", ids).rowcount
            if removed:
                _count(conn, COUNTER_DELIVERED, removed)

    def rejected(self, entry_id: str, code: str, detail: str) -> None:
        """The cloud refused this entry for good: it moves to `outbox_rejected`."""
        with self.store.transaction() as conn:
            row = conn.execute("SELECT printer_id, body FROM outbox WHERE entry_id = ?",
                               (entry_id,)).fetchone()
            if row is None:
                return
            conn.execute(
                "INSERT OR REPLACE INTO outbox_rejected "
                "(entry_id, printer_id, rejected_at, code, detail, body) VALUES (?, ?, ?, ?, ?, ?)",
                (entry_id, row[0], self.clock(), code, detail, row[1]))
            conn.execute("DELETE FROM outbox WHERE entry_id = ?", (entry_id,))
            conn.execute("DELETE FROM outbox_rejected WHERE entry_id IN (SELECT entry_id FROM "
                         "outbox_rejected ORDER BY rejected_at DESC LIMIT -1 OFFSET ?)",
                         (REJECTED_KEPT,))
            _count(conn, COUNTER_REJECTED, 1)
        log.warning("the cloud rejected status entry %s of printer %s: %s: %s",
                    entry_id, row[0], code, detail)

    def failed(self, entry_ids: Iterable[str], error: str, *,
               retry_after: float | None = None) -> float:
        """These entries were not delivered: count the attempt and schedule the next one.

        One back-off is drawn for all of them (from the highest attempt count), at least
        `retry_after` seconds.  Returns the time of the next attempt.
        """
        ids = list(entry_ids)
        now = self.clock()
        floor = min(max(retry_after or 0.0, 0.0), RETRY_AFTER_CAP)
        with self.store.transaction() as conn:
            attempts = 0
            for entry_id in ids:
                row = conn.execute("SELECT attempts FROM outbox WHERE entry_id = ?",
                                   (entry_id,)).fetchone()
                attempts = max(attempts, row[0] if row else 0)
            next_at = now + max(backoff(attempts + 1, self.rng), floor)
            conn.executemany(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
                "WHERE entry_id = ?",
                [(next_at, error[:LAST_ERROR_LENGTH], entry_id) for entry_id in ids])
        return next_at

    def depth(self) -> int:
        return int(self.store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def next_attempt_at(self) -> float | None:
        """When the next entry becomes due (now or in the past when one is due already)."""
        return self.store.conn.execute("SELECT MIN(next_attempt_at) FROM outbox").fetchone()[0]

    def stats(self) -> OutboxStats:
        depth, oldest, next_at = self.store.conn.execute(
            "SELECT COUNT(*), MIN(queued_at), MIN(next_attempt_at) FROM outbox").fetchone()
        counters = dict(self.store.conn.execute(
            "SELECT name, value FROM counters WHERE name IN (?, ?, ?)",
            (COUNTER_DROPPED, COUNTER_DELIVERED, COUNTER_REJECTED)).fetchall())
        return OutboxStats(depth=depth, oldest_queued_at=oldest,
                           dropped=counters.get(COUNTER_DROPPED, 0),
                           delivered=counters.get(COUNTER_DELIVERED, 0),
                           rejected=counters.get(COUNTER_REJECTED, 0), next_attempt_at=next_at)


def _row(entry: StatusEntry) -> tuple[str, str, str, str]:
    """(entry_id, printer_id, event, body) of an entry, checked for what the outbox relies on
    (the cloud checks the rest)."""
    for key in ("entry_id", "printer_id", "event", "read_at"):
        if not isinstance(getattr(entry, key), str) or not getattr(entry, key):
            raise ValueError(f"a status entry needs a string {key}: {entry!r:.200}")
    if not isinstance(entry.data, Mapping):
        raise ValueError(f"status entry {entry.entry_id} has no data object")
    try:
        uuid.UUID(entry.entry_id)
    except ValueError:
        raise ValueError(f"entry_id {entry.entry_id!r} is not a UUID") from None
    body = json.dumps(entry.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return entry.entry_id, entry.printer_id, entry.event, body


def _drop_oldest(conn: sqlite3.Connection, excess: int, keep: set[str]) -> dict[str, int]:
    """Delete `excess` entries, oldest periodic ones first, then the oldest others; never those
    in `keep`.  Returns how many of each were dropped."""
    dropped = {"periodic": 0, "event": 0}
    for kind, periodic in (("periodic", 1), ("event", 0)):
        wanted = excess - sum(dropped.values())
        if wanted <= 0:
            break
        rows = conn.execute("SELECT seq, entry_id FROM outbox WHERE (event = 'periodic') = ? "
                            "ORDER BY seq LIMIT ?", (periodic, wanted + len(keep))).fetchall()
        victims = [(seq,) for seq, entry_id in rows if entry_id not in keep][:wanted]
        conn.executemany("DELETE FROM outbox WHERE seq = ?", victims)
        dropped[kind] = len(victims)
    return dropped


def _count(conn: sqlite3.Connection, name: str, amount: int) -> None:
    conn.execute("INSERT INTO counters (name, value) VALUES (?, ?) "
                 "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                 (name, amount))
