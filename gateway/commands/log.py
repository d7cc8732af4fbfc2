"""The command log: the `commands` and `command_audit` tables (store migration 4) and the
acknowledgements due from them."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable

from gateway.commands.plan import CommandOutcome
from gateway.store import Store
from protocols.cloud.models import Command, CommandAcknowledgement, Reason, UnreadableCommand
from protocols.cloud.times import rfc3339

WHO = "cloud"
"""Who causes every command: the authenticated cloud link, nobody else."""


class CommandLog:
    """The `commands` and `command_audit` tables (store migration 4)."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def get(self, command_id: str) -> sqlite3.Row | None:
        return self.store.conn.execute("SELECT * FROM commands WHERE command_id = ?",
                                       (command_id,)).fetchone()

    def add(self, command: Command) -> None:
        parameters = json.dumps(dict(command.parameters))
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO commands (command_id, printer_id, kind, parameters, issued_at, "
                "deadline, received_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'received')",
                (command.command_id, command.printer_id, command.kind, parameters,
                 command.issued_at, command.deadline, self.clock()))
            self._audit(db, command.command_id, f"{command.kind} {parameters} for printer "
                        f"{command.printer_id}", "received")

    def add_refused(self, command: UnreadableCommand, outcome: CommandOutcome) -> None:
        """A command that cannot be understood (`UnreadableCommand`), stored already completed
        with its refusal and the `completed` acknowledgement due, in one transaction.  What
        could not be read is stored empty (`issued_at`, `deadline`) or as `?` (`kind`)."""
        assert command.command_id is not None and command.printer_id is not None
        now = self.clock()
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO commands (command_id, printer_id, kind, parameters, issued_at, "
                "deadline, received_at, state, result, reason, contract_state, completed_at, "
                "completed_ack) VALUES (?, ?, ?, '{}', '', '', ?, 'completed', ?, ?, ?, ?, 'due')",
                (command.command_id, command.printer_id, command.kind or "?", now,
                 outcome.result, json.dumps(outcome.reason()),
                 json.dumps(outcome.contract_state.to_json()), now))
            self._audit(db, command.command_id, f"{command.kind or '?'} for printer "
                        f"{command.printer_id}: cannot be understood ({command.detail})",
                        f"{outcome.result}: {outcome.code}")

    def audit(self, command_id: str, what: str, result: str) -> None:
        with self.store.transaction() as db:
            self._audit(db, command_id, what, result)

    def _audit(self, db: sqlite3.Connection, command_id: str, what: str, result: str) -> None:
        db.execute("INSERT INTO command_audit (command_id, at, who, what, result) "
                   "VALUES (?, ?, ?, ?, ?)", (command_id, self.clock(), WHO, what, result))

    def set_device(self, command_id: str, device_id: int) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE commands SET device_id = ? WHERE command_id = ?",
                       (device_id, command_id))

    def received_due(self, command_id: str) -> None:
        """The `received` acknowledgement is to be sent (once)."""
        with self.store.transaction() as db:
            db.execute("UPDATE commands SET received_ack = 'due' WHERE command_id = ? "
                       "AND received_ack IS NULL", (command_id,))

    def complete(self, command_id: str, outcome: CommandOutcome) -> None:
        setting = outcome.service_setting
        with self.store.transaction() as db:
            db.execute(
                "UPDATE commands SET state = 'completed', result = ?, reason = ?, "
                "contract_state = ?, service_setting = ?, completed_at = ?, "
                "completed_ack = 'due' WHERE command_id = ?",
                (outcome.result, json.dumps(outcome.reason()),
                 json.dumps(outcome.contract_state.to_json()),
                 None if setting is None else json.dumps(dict(setting)), self.clock(),
                 command_id))
            detail = f": {outcome.code}: {outcome.detail}" if outcome.code else ""
            self._audit(db, command_id, f"completed, device contract state "
                        f"{json.dumps(outcome.contract_state.to_json())}",
                        f"{outcome.result}{detail}")

    def acknowledge_again(self, command_id: str) -> None:
        """A replayed command: send its final acknowledgement again."""
        with self.store.transaction() as db:
            db.execute("UPDATE commands SET completed_ack = 'due' WHERE command_id = ?",
                       (command_id,))

    def open_commands(self) -> list[str]:
        rows = self.store.conn.execute(
            "SELECT command_id FROM commands WHERE state != 'completed' ORDER BY received_at")
        return [row["command_id"] for row in rows]

    def due_acks(self) -> list[sqlite3.Row]:
        return self.store.conn.execute(
            "SELECT * FROM commands WHERE received_ack = 'due' OR completed_ack = 'due' "
            "ORDER BY received_at").fetchall()

    def ack_sent(self, command_id: str, stage: str) -> None:
        with self.store.transaction() as db:
            if stage == "completed":  # a completed acknowledgement implies the received one
                db.execute("UPDATE commands SET completed_ack = 'sent', received_ack = 'sent', "
                           "ack_error = NULL WHERE command_id = ?", (command_id,))
            else:
                db.execute("UPDATE commands SET received_ack = 'sent', ack_error = NULL "
                           "WHERE command_id = ?", (command_id,))
            self._audit(db, command_id, f"{stage} acknowledgement", "sent")

    def ack_failed(self, command_id: str, error: str) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE commands SET ack_attempts = ack_attempts + 1, ack_error = ? "
                       "WHERE command_id = ?", (error, command_id))

    def ack_rejected(self, command_id: str, stage: str, error: str) -> None:
        column = "completed_ack" if stage == "completed" else "received_ack"
        with self.store.transaction() as db:
            db.execute(f"UPDATE commands SET {column} = 'rejected', ack_error = ? "
                       "WHERE command_id = ?", (error, command_id))
            self._audit(db, command_id, f"{stage} acknowledgement", f"rejected: {error}")


def acknowledgement(row: sqlite3.Row) -> CommandAcknowledgement:
    """The next acknowledgement due for a command.  A due `completed` goes alone: it implies
    `received`."""
    if row["completed_ack"] == "due":
        reason = json.loads(row["reason"]) if row["reason"] else None
        return CommandAcknowledgement(
            printer_id=row["printer_id"], stage="completed",
            at=rfc3339(row["completed_at"], "milliseconds"), result=row["result"],
            reason=Reason.maybe(reason),
            contract_state=json.loads(row["contract_state"]),
            service_setting=json.loads(row["service_setting"]) if row["service_setting"]
            else None)
    return CommandAcknowledgement(printer_id=row["printer_id"], stage="received",
                                  at=rfc3339(row["received_at"], "milliseconds"))


