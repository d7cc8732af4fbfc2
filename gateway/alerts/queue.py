"""The alerts accepted for each output, in the gateway's database until the output has them
(migration 12): a crash, a restart or an output that is down loses none."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from gateway.alerts.model import Alert
from gateway.store import Store


@dataclass(frozen=True)
class Queued:
    seq: int
    alert: Alert
    queued_at: float
    attempts: int


class AlertQueue:
    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def put(db: sqlite3.Connection, output: str, alert: Alert, now: float) -> None:
        """Queue `alert` for `output` inside the caller's transaction."""
        db.execute("INSERT INTO alert_queue (output, alert, queued_at) VALUES (?, ?, ?)",
                   (output, alert.dumps(), now))

    def due(self, output: str, now: float, limit: int = 200) -> list[Queued]:
        rows = self.store.conn.execute(
            "SELECT seq, alert, queued_at, attempts FROM alert_queue WHERE output = ? AND "
            "next_attempt_at <= ? ORDER BY seq LIMIT ?", (output, now, limit)).fetchall()
        return [Queued(row["seq"], Alert.loads(row["alert"]), row["queued_at"], row["attempts"])
                for row in rows]

    def next_due(self, output: str) -> float | None:
        row = self.store.conn.execute(
            "SELECT MIN(next_attempt_at) FROM alert_queue WHERE output = ?", (output,)).fetchone()
        return row[0]

    def depth(self, output: str | None = None) -> int:
        if output is None:
            return self.store.conn.execute("SELECT COUNT(*) FROM alert_queue").fetchone()[0]
        return self.store.conn.execute("SELECT COUNT(*) FROM alert_queue WHERE output = ?",
                                       (output,)).fetchone()[0]

    def done(self, seqs: list[int]) -> None:
        """Delivered (or expired): out of the queue."""
        with self.store.transaction() as db:
            db.executemany("DELETE FROM alert_queue WHERE seq = ?", [(s,) for s in seqs])

    def later(self, seqs: list[int], at: float, error: str | None) -> None:
        """Try again at `at`; `error` (None: held back, not a failure) is kept for the log."""
        with self.store.transaction() as db:
            db.executemany(
                "UPDATE alert_queue SET next_attempt_at = ?, last_error = ?, attempts = attempts "
                "+ ? WHERE seq = ?", [(at, error, 0 if error is None else 1, s) for s in seqs])
