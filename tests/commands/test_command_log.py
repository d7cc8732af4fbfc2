"""The command log on a real SQLite store: commands, their acknowledgements and the audit trail."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.commands.log import WHO, CommandLog, acknowledgement
from gateway.commands.plan import CommandOutcome
from gateway.store import Store
from protocols.cloud.models import Command, CommandAcknowledgement, Reason
from protocols.snmp.contract import ContractState
from tests.support.outbox_entries import Clock

T0 = 1_700_000_000.0
BILLING = ContractState(supported=True, mode="contract-billing", printing_prohibited=False,
                        panel_message=None)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.in_directory(tmp_path) as opened:
        yield opened


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def log(store: Store, clock: Clock) -> CommandLog:
    return CommandLog(store, clock)


def command(command_id: str = "c1", kind: str = "billing-start",
            parameters: dict[str, Any] | None = None) -> Command:
    return Command(command_id=command_id, printer_id="P-1", kind=kind,
                   parameters=parameters or {}, issued_at="2023-11-14T22:13:00Z",
                   deadline="2023-11-15T22:13:00Z")


def audit(store: Store, command_id: str) -> list[tuple[str, str, str]]:
    rows = store.conn.execute("SELECT who, what, result FROM command_audit WHERE command_id = ? "
                              "ORDER BY id", (command_id,))
    return [(r["who"], r["what"], r["result"]) for r in rows]


def test_a_command_is_stored_received_with_an_audit_row(log: CommandLog, store: Store) -> None:
    log.add(command(kind="panel-message", parameters={"message": "Hi"}))
    row = log.get("c1")
    assert row is not None
    assert (row["printer_id"], row["kind"], json.loads(row["parameters"])) == (
        "P-1", "panel-message", {"message": "Hi"})
    assert (row["state"], row["received_at"], row["device_id"]) == ("received", T0, None)
    assert (row["received_ack"], row["completed_ack"], row["result"]) == (None, None, None)
    assert audit(store, "c1") == [(WHO, 'panel-message {"message": "Hi"} for printer P-1',
                                   "received")]
    assert log.get("c2") is None


def test_a_command_id_is_stored_once(log: CommandLog) -> None:
    log.add(command())
    with pytest.raises(sqlite3.IntegrityError):
        log.add(command())


def test_open_commands_are_the_unfinished_ones_in_arrival_order(log: CommandLog,
                                                                clock: Clock) -> None:
    for n, command_id in enumerate(("b", "a", "c")):
        clock.now = T0 + n
        log.add(command(command_id))
    log.set_device("a", 7)
    log.complete("c", CommandOutcome.done(BILLING))
    assert log.open_commands() == ["b", "a"]
    row = log.get("a")
    assert row is not None and row["device_id"] == 7


def test_complete_stores_the_outcome_and_makes_its_acknowledgement_due(
        log: CommandLog, store: Store, clock: Clock) -> None:
    log.add(command())
    clock.now = T0 + 2.5
    log.complete("c1", CommandOutcome.failed("verify-failed", "read back otherwise", BILLING))
    row = log.get("c1")
    assert row is not None
    assert (row["state"], row["result"], row["completed_at"], row["completed_ack"]) == (
        "completed", "failed", T0 + 2.5, "due")
    assert json.loads(row["reason"]) == {"code": "verify-failed",
                                         "detail": "read back otherwise"}
    assert json.loads(row["contract_state"]) == BILLING.to_json()
    assert audit(store, "c1")[-1] == (
        WHO, f"completed, device contract state {json.dumps(BILLING.to_json())}",
        "failed: verify-failed: read back otherwise")
    assert acknowledgement(row) == CommandAcknowledgement(
        printer_id="P-1", stage="completed", at="2023-11-14T22:13:22.500Z", result="failed",
        reason=Reason("verify-failed", "read back otherwise"), contract_state=BILLING.to_json())


def test_received_is_due_once_and_goes_before_completion(log: CommandLog) -> None:
    log.add(command())
    assert log.due_acks() == []
    log.received_due("c1")
    [due] = log.due_acks()
    assert acknowledgement(due) == CommandAcknowledgement(
        printer_id="P-1", stage="received", at="2023-11-14T22:13:20.000Z")
    log.ack_sent("c1", "received")
    log.received_due("c1")  # already sent: not due again
    assert log.due_acks() == []
    log.complete("c1", CommandOutcome.done(BILLING))
    [due] = log.due_acks()
    ack = acknowledgement(due)
    assert (ack.stage, ack.result, ack.reason) == ("completed", "done", None)


def test_a_sent_completion_implies_the_received_acknowledgement(log: CommandLog,
                                                                store: Store) -> None:
    log.add(command())
    log.received_due("c1")
    log.complete("c1", CommandOutcome.done(BILLING))
    log.ack_failed("c1", "cloud unreachable")
    log.ack_failed("c1", "cloud unreachable again")
    row = log.get("c1")
    assert row is not None
    assert (row["ack_attempts"], row["ack_error"]) == (2, "cloud unreachable again")
    log.ack_sent("c1", "completed")
    row = log.get("c1")
    assert row is not None
    assert (row["received_ack"], row["completed_ack"], row["ack_error"]) == ("sent", "sent", None)
    assert log.due_acks() == []
    assert audit(store, "c1")[-1] == (WHO, "completed acknowledgement", "sent")


def test_a_replayed_command_has_its_completion_acknowledged_again(log: CommandLog) -> None:
    log.add(command())
    log.complete("c1", CommandOutcome.refused("invalid-mode", "not from non-contract"))
    log.ack_sent("c1", "completed")
    log.acknowledge_again("c1")
    [due] = log.due_acks()
    ack = acknowledgement(due)
    assert (ack.stage, ack.result, ack.reason) == (
        "completed", "refused", Reason("invalid-mode", "not from non-contract"))


def test_a_rejected_acknowledgement_is_not_due_any_more(log: CommandLog, store: Store) -> None:
    log.add(command())
    log.received_due("c1")
    log.ack_rejected("c1", "received", "unknown command")
    row = log.get("c1")
    assert row is not None
    assert (row["received_ack"], row["ack_error"]) == ("rejected", "unknown command")
    assert log.due_acks() == []
    log.complete("c1", CommandOutcome.done(BILLING))
    log.ack_rejected("c1", "completed", "too late")
    row = log.get("c1")
    assert row is not None and row["completed_ack"] == "rejected"
    assert audit(store, "c1")[-2:] == [
        (WHO, "completed, device contract state " + json.dumps(BILLING.to_json()), "done"),
        (WHO, "completed acknowledgement", "rejected: too late")]


def test_the_audit_table_refuses_update_and_delete(log: CommandLog, store: Store) -> None:
    log.add(command())
    log.audit("c1", "read device", "already in place: no SET")
    for statement in ("UPDATE command_audit SET result = 'forged'",
                      "DELETE FROM command_audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"), \
                store.transaction() as db:
            db.execute(statement)
    assert [result for _who, _what, result in audit(store, "c1")] == [
        "received", "already in place: no SET"]
