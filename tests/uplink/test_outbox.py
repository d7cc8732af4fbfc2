"""The outbox (`gateway/uplink/outbox.py`) on real SQLite files: entries put, due, delivered,
rejected and retried, its bound, and its durability (a reopened store, a killed process).  Its
sender is tested in `test_sender.py`."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import select
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import gateway.uplink.outbox as outbox_module
from gateway.store import Store
from gateway.uplink.outbox import (
    BACKOFF_CAP,
    RETRY_AFTER_CAP,
    Outbox,
    backoff,
    new_entry,
)
from protocols.cloud.models import EventDetail
from tests.support.cloud_document import schema_validator
from tests.support.fake_cloud import KNOWN_PRINTER
from tests.support.outbox_entries import LEVEL, READ_AT, Clock, entry, ids
from tests.support.paths import REPO

# -- entries ---------------------------------------------------------------------------------------

def test_new_entry_builds_a_status_entry() -> None:
    first = new_entry(KNOWN_PRINTER, READ_AT.astimezone(timezone(timedelta(hours=9))),
                      "threshold-crossed", {"supplies.level": [LEVEL]},
                      event_detail=EventDetail(supply_index="1.1", threshold_percent=20),
                      application_ids=["abc123"])
    second = new_entry(KNOWN_PRINTER, "2025-07-01T10:15:02Z", "periodic",
                       {"counters.total": {"total": 5}})
    assert first.read_at == "2025-07-01T10:15:02Z"
    assert uuid.UUID(first.entry_id).version == 4
    assert first.entry_id != second.entry_id
    assert first.to_json()["event_detail"] == {"supply_index": "1.1", "threshold_percent": 20}
    assert first.application_ids == ("abc123",)
    assert "event_detail" not in second.to_json() and "application_ids" not in second.to_json()
    validator = schema_validator("StatusEntry")
    for queued in (first, second):
        errors = list(validator.iter_errors(queued.to_json()))
        assert not errors, [e.message for e in errors]
    with pytest.raises(ValueError, match="timezone-aware"):
        new_entry(KNOWN_PRINTER, datetime(2025, 7, 1), "periodic", {})


def test_put_refuses_what_it_cannot_queue(outbox: Outbox) -> None:
    good = entry()
    no_printer = dataclasses.replace(entry(), printer_id="")
    not_uuid = dataclasses.replace(entry(), entry_id="entry-1")
    for bad, message in ((no_printer, "needs a string printer_id"),
                         (not_uuid, "is not a UUID")):
        with pytest.raises(ValueError, match=message):
            outbox.put([good, bad])
    assert outbox.depth() == 0, "nothing of a refused put is kept"
    outbox.put([good])
    outbox.put([good])
    assert outbox.depth() == 1, "an entry ID already queued is not queued twice"


# -- put, due, delivered, rejected, failed ---------------------------------------------------------

def test_put_can_join_the_callers_transaction(outbox: Outbox, store: Store) -> None:
    """Entries and the reading they came from are committed together, or not at all."""
    kept, lost = [entry()], [entry()]
    with store.transaction() as db:
        outbox.put(kept, device_id=1, db=db)
        db.execute("INSERT INTO counters (name, value) VALUES ('reading', 1)")
    with pytest.raises(RuntimeError), store.transaction() as db:
        outbox.put(lost, device_id=1, db=db)
        raise RuntimeError("the reading could not be stored")
    assert [p.entry_id for p in outbox.due()] == ids(kept)


def test_put_due_delivered(outbox: Outbox, clock: Clock) -> None:
    queued = [entry(), entry("alert-raised"), entry()]
    outbox.put(queued[:2])
    clock.now += 1
    outbox.put(queued[2:], device_id=4)
    due = outbox.due()
    assert [p.entry_id for p in due] == ids(queued)
    assert [p.entry for p in due] == queued
    assert due[0].queued_at == clock.now - 1 and due[2].queued_at == clock.now
    assert (due[1].event, due[1].device_id, due[1].attempts) == ("alert-raised", None, 0)
    assert due[2].device_id == 4
    assert [p.entry_id for p in outbox.due(limit=2)] == ids(queued)[:2]

    outbox.delivered(ids(queued)[:2])
    outbox.delivered(ids(queued)[:2])  # again: nothing more to count
    stats = outbox.stats()
    assert (stats.depth, stats.delivered, stats.dropped, stats.rejected) == (1, 2, 0, 0)
    assert stats.oldest_queued_at == clock.now and stats.next_attempt_at == 0


def test_rejected_entries_move_aside(outbox: Outbox, store: Store, clock: Clock,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "REJECTED_KEPT", 3)
    queued = [entry() for _ in range(5)]
    outbox.put(queued)
    for i, entry_id in enumerate(ids(queued)):
        clock.now += 1
        outbox.rejected(entry_id, "invalid-entry", f"bad value {i}")
    outbox.rejected(ids(queued)[0], "invalid-entry", "gone already")
    rows = store.conn.execute("SELECT entry_id, printer_id, code, detail, body "
                              "FROM outbox_rejected ORDER BY rejected_at").fetchall()
    assert [row[0] for row in rows] == ids(queued)[2:], "the newest REJECTED_KEPT are kept"
    assert rows[-1][1:4] == (KNOWN_PRINTER, "invalid-entry", "bad value 4")
    assert json.loads(rows[-1][4]) == queued[-1].to_json()
    assert outbox.stats().rejected == 5 and outbox.depth() == 0


def test_failed_entries_back_off_within_bounds(outbox: Outbox, clock: Clock) -> None:
    queued = [entry(), entry()]
    outbox.put(queued)
    delays = []
    for attempt in range(1, 16):
        next_at = outbox.failed(ids(queued), f"failure {attempt}")
        delay = next_at - clock.now
        assert 0 <= delay <= min(BACKOFF_CAP, 2.0 ** (attempt - 1)), attempt
        pending = outbox.due(now=next_at)
        assert [p.next_attempt_at for p in pending] == [next_at, next_at], "one delay a batch"
        assert [p.attempts for p in pending] == [attempt, attempt]
        assert pending[0].last_error == f"failure {attempt}"
        if delay > 0:
            assert outbox.due() == [], "not due before its time"
        clock.now = next_at
        delays.append(delay)
    assert len(set(delays)) == len(delays), "full jitter: no two delays alike"
    assert max(delays[10:]) > 60, "the delays grow"

    retry_after = outbox.failed(ids(queued), "503", retry_after=3 * BACKOFF_CAP)
    assert retry_after - clock.now >= 3 * BACKOFF_CAP, "Retry-After is a floor"
    capped = outbox.failed(ids(queued), "503", retry_after=1e9)
    assert capped - clock.now == RETRY_AFTER_CAP
    assert outbox.failed(ids(queued), "x" * 10_000) > clock.now
    assert len(outbox.due(now=1e12)[0].last_error or "") == 500


def test_backoff_is_full_jitter_exponential() -> None:
    rng = random.Random(1)
    for attempts in (1, 2, 5, 10, 11, 40, 10_000):
        ceiling = min(BACKOFF_CAP, 2.0 ** min(attempts - 1, 20))
        samples = [backoff(attempts, rng) for _ in range(2000)]
        assert 0 <= min(samples) < ceiling * 0.01
        assert ceiling * 0.99 < max(samples) <= ceiling
    assert backoff(0, rng) <= 1.0


def test_the_same_seed_gives_the_same_schedule(store: Store, clock: Clock) -> None:
    schedules = []
    for _ in range(2):
        outbox = Outbox(store, clock=clock, rng=random.Random(42))
        queued = [entry()]
        outbox.put(queued)
        schedules.append([outbox.failed(ids(queued), "e") - clock.now for _ in range(5)])
        outbox.delivered(ids(queued))
    assert schedules[0] == schedules[1]


# -- the bound -------------------------------------------------------------------------------------

def test_a_full_outbox_drops_the_oldest_periodic_entries_first(
        store: Store, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox(store, max_entries=10, clock=clock)
    old = [entry("periodic" if i % 2 else "supply-replaced") for i in range(10)]
    outbox.put(old)
    periodic = [q for q in old if q.event == "periodic"]
    events = [q for q in old if q.event != "periodic"]

    new = [entry("alert-raised") for _ in range(3)]
    with caplog.at_level(logging.WARNING, logger="gateway.uplink.outbox"):
        outbox.put(new)
    queued = [p.entry_id for p in outbox.due()]
    assert queued == [i for i in ids(old) if i not in ids(periodic[:3])] + ids(new)
    assert outbox.stats().dropped == 3
    assert "dropped the 3 oldest (3 periodic, 0 event)" in caplog.text

    newer = [entry("periodic") for _ in range(4)]
    outbox.put(newer)  # 2 periodic left to drop, then the 2 oldest events
    queued = [p.entry_id for p in outbox.due()]
    assert queued == ids(events[2:]) + ids(new) + ids(newer)
    assert outbox.stats().dropped == 7

    whole = [entry("periodic") for _ in range(10)]
    outbox.put(whole)
    assert [p.entry_id for p in outbox.due()] == ids(whole), "the entries put are never dropped"
    assert outbox.stats().dropped == 17
    with pytest.raises(ValueError, match="11 entries do not fit an outbox of 10"):
        outbox.put([entry() for _ in range(11)])


# -- durability ------------------------------------------------------------------------------------

def test_the_outbox_survives_reopening(tmp_path: Path, clock: Clock) -> None:
    queued = [entry(), entry("state-changed")]
    with Store.in_directory(tmp_path) as first:
        outbox = Outbox(first, clock=clock)
        outbox.put([*queued, entry()])
        next_at = outbox.failed(ids(queued)[:1], "HTTP 503")
        outbox.delivered([outbox.due()[-1].entry_id])
        before = outbox.stats()
    with Store.in_directory(tmp_path) as second:
        outbox = Outbox(second, clock=clock)
        assert outbox.stats() == before
        pending = outbox.due(now=next_at)
        assert [p.entry for p in pending] == queued
        assert (pending[0].attempts, pending[0].last_error) == (1, "HTTP 503")


CHILD = """
import json, sys, time
from datetime import UTC, datetime
from gateway.uplink.outbox import Outbox, new_entry
from gateway.store import Store

outbox = Outbox(Store.in_directory(sys.argv[1]))
ids = []
for _ in range(20):
    batch = [new_entry(sys.argv[2], datetime.now(UTC), "periodic",
                       {"counters.total": {"total": 1}}) for _ in range(10)]
    outbox.put(batch, device_id=1)
    ids += [q.entry_id for q in batch]
print(json.dumps(ids), flush=True)
time.sleep(60)
"""


def test_entries_put_survive_a_kill(tmp_path: Path) -> None:
    """A gateway SIGKILLed right after `put` returned (before any upload): all entries are
    there when it starts again."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), KNOWN_PRINTER],
                             stdout=subprocess.PIPE, text=True, cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 30)
        assert ready, "the child did not report its entries within 30 s"
        line = child.stdout.readline()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    queued = json.loads(line)
    with Store.in_directory(tmp_path) as store:
        outbox = Outbox(store)
        assert [p.entry_id for p in outbox.due(limit=1000)] == queued
        assert outbox.depth() == 200
