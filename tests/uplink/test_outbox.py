"""The outbox (`gateway/uplink/outbox.py`) on real SQLite files, and its sender against the loopback
cloud of `test_cloud_client` (which checks every request against the document and implements
`uploadStatuses` as it says: per-entry results, duplicates, `Idempotency-Key` replay)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import select
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import gateway.uplink.outbox as outbox_module
from gateway.store import Store
from gateway.uplink.outbox import (
    BACKOFF_CAP,
    RETRY_AFTER_CAP,
    Outbox,
    backoff,
    new_entry,
)
from gateway.uplink.sender import FlushReport, OutboxSender, batch_key
from protocols.cloud.client import CloudClient
from tests.protocols.cloud.test_cloud_client import (
    DECODED,
    KNOWN_PRINTER,
    TOKEN,
    FakeCloud,
    problem,
    serving,
)
from tests.protocols.cloud.test_cloud_schema import schema_validator
from tests.support.paths import REPO

READ_AT = datetime(2025, 7, 1, 10, 15, 2, tzinfo=UTC)
LEVEL = {"index": "1.1", "level_percent": 40, "level_state": "known", "raw_level": 4000,
         "max_capacity": 10000, "unit": "impressions", "class": "consumed",
         "over_capacity": False, "low_percent": 10}


class Clock:
    """A settable clock for the outbox (back-off delays pass at once)."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Entry = dict[str, Any]


def entry(event: str = "periodic", printer_id: str = KNOWN_PRINTER, **data: Any) -> Entry:
    return new_entry(printer_id, READ_AT, event, data or {"supplies.level": [LEVEL]})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.in_directory(tmp_path / "data") as opened:
        yield opened


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(store: Store, clock: Clock) -> Outbox:
    return Outbox(store, clock=clock, rng=random.Random(5))


def ids(queued: list[Entry]) -> list[str]:
    return [q["entry_id"] for q in queued]


# -- entries ---------------------------------------------------------------------------------------

def test_new_entry_builds_a_status_entry() -> None:
    first = new_entry(KNOWN_PRINTER, READ_AT.astimezone(timezone(timedelta(hours=9))),
                      "threshold-crossed", {"supplies.level": [LEVEL]},
                      event_detail={"supply_index": "1.1", "threshold_percent": 20},
                      application_ids=["abc123"])
    second = new_entry(KNOWN_PRINTER, "2025-07-01T10:15:02Z", "periodic",
                       {"counters.total": {"total": 5}})
    assert first["read_at"] == "2025-07-01T10:15:02Z"
    assert uuid.UUID(first["entry_id"]).version == 4
    assert first["entry_id"] != second["entry_id"]
    assert "event_detail" not in second and "application_ids" not in second
    validator = schema_validator("StatusEntry")
    for queued in (first, second):
        errors = list(validator.iter_errors(queued))
        assert not errors, [e.message for e in errors]
    with pytest.raises(ValueError, match="timezone-aware"):
        new_entry(KNOWN_PRINTER, datetime(2025, 7, 1), "periodic", {})


def test_put_refuses_what_it_cannot_queue(outbox: Outbox) -> None:
    good = entry()
    no_printer = {**entry(), "printer_id": None}
    not_uuid = {**entry(), "entry_id": "entry-1"}
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
    assert json.loads(rows[-1][4]) == queued[-1]
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
    periodic = [q for q in old if q["event"] == "periodic"]
    events = [q for q in old if q["event"] != "periodic"]

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
    ids += [q["entry_id"] for q in batch]
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


# -- the sender ------------------------------------------------------------------------------------

@pytest.fixture
async def cloud() -> AsyncIterator[FakeCloud]:
    fake = FakeCloud()
    async with serving(fake.app) as port:
        fake.url = f"http://127.0.0.1:{port}"
        yield fake
    assert not fake.invalid, fake.invalid


@pytest.fixture
async def client(cloud: FakeCloud) -> AsyncIterator[CloudClient]:
    async with CloudClient(cloud.url, token=TOKEN, timeout=10.0) as c:
        yield c


def uploads(cloud: FakeCloud) -> list[list[dict[str, Any]]]:
    """The batches the cloud received, decompressed."""
    return [json.loads(s.body)["statuses"] for s in cloud.seen if s.operation == "uploadStatuses"]


def flaky(cloud: FakeCloud, plan: list[str]) -> Callable[[web.Request], Any]:
    """`uploadStatuses` failing as `plan` says, one request each: `500`, `503` (Retry-After
    60), `late` (processed and stored, but answered after the client gave up), then working."""
    async def handle(request: web.Request) -> web.StreamResponse:
        mode = plan.pop(0) if plan else "ok"
        if mode == "500":
            return problem(500, "server-error", "Database unavailable.")
        if mode == "503":
            return problem(503, "unavailable", "Later.", headers={"Retry-After": "60"})
        response = await cloud.op_uploadStatuses(request)
        if mode == "late":
            await asyncio.sleep(2)
        return response
    return handle


async def flush_until_empty(sender: OutboxSender, clock: Clock, rounds: int = 20) -> list[Any]:
    reports = []
    for _ in range(rounds):
        reports.append(await sender.flush())
        if sender.outbox.depth() == 0:
            return reports
        clock.now += RETRY_AFTER_CAP + 1
    raise AssertionError(f"still {sender.outbox.depth()} entries after {rounds} flushes")


async def test_every_entry_arrives_exactly_once_despite_failures(
        cloud: FakeCloud, outbox: Outbox, clock: Clock) -> None:
    """500s, a 503, and answers lost to the client's time limit after the cloud stored the
    batch: in the end the cloud has accepted every entry once, and a retried batch was the same
    request each time (answered from the stored response)."""
    queued = [entry() for _ in range(120)]
    outbox.put(queued)
    cloud.overrides["uploadStatuses"] = flaky(cloud, ["500", "late", "503", "late", "500"])
    async with CloudClient(cloud.url, token=TOKEN, timeout=1.0) as client:
        sender = OutboxSender(outbox, lambda: client, batch_size=50)
        reports = await flush_until_empty(sender, clock)

    assert set(cloud.statuses) == set(ids(queued))
    assert sum(r.accepted for r in reports) == 120, "each entry accepted once"
    assert sum(answer["counts"]["accepted"] for _, answer in cloud.batches.values()) == 120
    assert outbox.stats().delivered == 120 and outbox.stats().rejected == 0
    assert [r.requests for r in reports[:5]] == [1, 1, 1, 1, 1], "a failure stops the flush"
    assert all(r.error and "uploadStatuses: " in r.error for r in reports[:5])
    assert "no answer from 127.0.0.1" in (reports[1].error or "")

    batches = [s for s in cloud.seen if s.operation == "uploadStatuses"]
    keys = [s.headers["Idempotency-Key"] for s in batches]
    first = ids(queued[:50])
    assert keys[:6] == [batch_key(first)] * 6, "the same batch, retried, has the same key"
    assert len({s.raw for s in batches[:6]}) == 1, "... and the same body"
    assert len(cloud.batches) == 3, "three batches of at most 50"


async def test_a_thousand_entries_go_in_two_gzipped_requests(
        cloud: FakeCloud, client: CloudClient, outbox: Outbox) -> None:
    outbox.put([entry() for _ in range(1000)])
    report = await OutboxSender(outbox, client).flush()
    batches = [s for s in cloud.seen if s.operation == "uploadStatuses"]
    assert [len(b) for b in uploads(cloud)] == [500, 500]
    assert all(s.headers["Content-Encoding"] == "gzip" for s in batches)
    assert (report.requests, report.sent, report.accepted, report.failed) == (2, 1000, 1000, 0)
    assert outbox.depth() == 0


async def test_per_entry_results_are_settled(cloud: FakeCloud, client: CloudClient,
                                             outbox: Outbox, store: Store) -> None:
    stranger = str(uuid.uuid4())
    plain = entry()
    foreign = entry(printer_id=stranger)
    extra = entry(**{"supplies.level": [LEVEL], "counters.total": {"total": 3}})
    first_upload = new_entry(KNOWN_PRINTER, READ_AT, "periodic", {"supplies.level": [LEVEL]},
                             application_ids=[f"app-{KNOWN_PRINTER[:8]}"])
    known = entry()
    cloud.statuses[known["entry_id"]] = known  # the cloud has it already
    outbox.put([plain, foreign, extra, first_upload, known])

    report = await OutboxSender(outbox, client).flush()
    assert (report.accepted, report.duplicate, report.rejected) == (3, 1, 1)
    assert report.ignored_data_types == {KNOWN_PRINTER: {"counters.total"}}
    [activation] = report.activations[KNOWN_PRINTER]
    assert (activation["service_id"], activation["result"]) == ("toner-delivery", "activated")
    assert outbox.depth() == 0
    rejected = store.conn.execute("SELECT entry_id, printer_id, code FROM outbox_rejected"
                                  ).fetchall()
    assert [tuple(r) for r in rejected] == [(foreign["entry_id"], stranger,
                                             "unknown-printer")]
    assert outbox.stats().delivered == 4


async def test_a_refused_batch_stays_queued_and_holds_the_sender(
        cloud: FakeCloud, client: CloudClient, outbox: Outbox, clock: Clock,
        caplog: pytest.LogCaptureFixture) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return problem(403, "forbidden", "The gateway is disabled.")
    cloud.overrides["uploadStatuses"] = refuse
    queued = [entry() for _ in range(3)]
    outbox.put(queued)
    sender = OutboxSender(outbox, client)
    with caplog.at_level(logging.ERROR, logger="gateway.uplink.outbox"):
        report = await sender.flush()
    assert (report.failed, report.requests) == (3, 1)
    assert "refused a batch of 3 status entries; they stay queued" in caplog.text
    assert "HTTP 403 forbidden: The gateway is disabled." in caplog.text
    assert [p.attempts for p in outbox.due(now=1e12)] == [1, 1, 1]

    outbox.put([entry()])
    held = await sender.flush()
    assert held.requests == 0, "nothing is sent before the failed batch is due again"
    next_at = sender.next_flush_at()
    assert next_at is not None and next_at > clock.now
    del cloud.overrides["uploadStatuses"]
    clock.now = next_at
    assert (await sender.flush()).accepted == 4


async def test_a_protocol_error_backs_off(cloud: FakeCloud, client: CloudClient,
                                          outbox: Outbox) -> None:
    async def garbage(request: web.Request) -> web.Response:
        return web.json_response({"results": "all good"})
    cloud.overrides["uploadStatuses"] = garbage
    outbox.put([entry()])
    report = await OutboxSender(outbox, client).flush()
    assert report.failed == 1 and "does not match the document" in (report.error or "")
    assert outbox.due() == [] and outbox.depth() == 1


async def test_retry_after_is_a_floor(cloud: FakeCloud, client: CloudClient, outbox: Outbox,
                                      clock: Clock) -> None:
    cloud.overrides["uploadStatuses"] = flaky(cloud, ["503"])
    outbox.put([entry()])
    sender = OutboxSender(outbox, client)
    await sender.flush()
    next_at = sender.next_flush_at()
    assert next_at is not None and next_at >= clock.now + 60
    clock.now += 59
    assert (await sender.flush()).requests == 0
    clock.now += 1
    assert (await sender.flush()).accepted == 1


async def test_payload_too_large_splits_the_batch(cloud: FakeCloud, client: CloudClient,
                                                  outbox: Outbox, store: Store) -> None:
    async def limited(request: web.Request) -> web.StreamResponse:
        statuses = json.loads(request[DECODED])["statuses"]
        if len(statuses) > 100 or any("alerts" in s["data"] for s in statuses):
            return problem(413, "payload-too-large", "At most 100 entries of 4 MiB.")
        return await cloud.op_uploadStatuses(request)
    cloud.overrides["uploadStatuses"] = limited
    alert = {"index": "1", "severity": "warning", "group": "markerSupplies", "code": "x" * 64,
             "description": None, "training_level": None}
    queued = [entry() for _ in range(300)]
    huge = entry(alerts=[alert])
    outbox.put([*queued[:150], huge, *queued[150:]])
    report = await OutboxSender(outbox, client).flush()
    assert report.accepted == 300 and report.rejected == 1 and outbox.depth() == 0
    assert max(len(answer["results"]) for _, answer in cloud.batches.values()) <= 100
    # 301 → 150 (→ 75 + 75) + 151 → 75 → 37 → 18 → 9 → 4 → 2 → 1 (the huge one, refused for
    # good); each time the other half goes through: 10 requests refused, 9 accepted
    assert (len(uploads(cloud)), len(cloud.batches)) == (19, 9)
    code = store.conn.execute("SELECT code FROM outbox_rejected").fetchone()[0]
    assert code == "payload-too-large"


async def test_missing_results_stay_queued(cloud: FakeCloud, client: CloudClient,
                                           outbox: Outbox) -> None:
    async def forgetful(request: web.Request) -> web.Response:
        answer = json.loads((await cloud.op_uploadStatuses(request)).text)
        answer["results"] = answer["results"][1:]
        return web.json_response(answer)
    cloud.overrides["uploadStatuses"] = forgetful
    queued = [entry() for _ in range(3)]
    outbox.put(queued)
    report = await OutboxSender(outbox, client).flush()
    assert (report.accepted, report.failed) == (2, 1)
    assert "no result for 1 entries" in (report.error or "")
    assert [p.entry_id for p in outbox.due(now=1e12)] == ids(queued)[:1]


async def drained(outbox: Outbox, seconds: float) -> bool:
    """Whether the outbox empties within `seconds`."""
    for _ in range(int(seconds / 0.02)):
        if outbox.depth() == 0:
            return True
        await asyncio.sleep(0.02)
    return outbox.depth() == 0


async def test_run_sends_until_stopped(cloud: FakeCloud, client: CloudClient,
                                       store: Store) -> None:
    outbox = Outbox(store, rng=random.Random(3))
    cloud.overrides["uploadStatuses"] = flaky(cloud, ["500"])
    outbox.put([entry() for _ in range(10)])
    stop, wake = asyncio.Event(), asyncio.Event()
    sender = OutboxSender(outbox, client, batch_size=4)
    reports: list[FlushReport] = []

    async def on_report(report: FlushReport) -> None:
        reports.append(report)
    task = asyncio.create_task(sender.run(stop, wake, on_report=on_report))
    try:
        assert await drained(outbox, 10), "the retry after the 500 came in time"
        later = [entry() for _ in range(2)]
        outbox.put(later)
        wake.set()
        assert await drained(outbox, 2), "a wake-up sends at once"
        stop.set()
        await asyncio.wait_for(task, 2)
    finally:
        task.cancel()
    assert set(ids(later)) <= set(cloud.statuses) and len(cloud.statuses) == 12
    assert [len(b) for b in uploads(cloud)] == [4, 4, 4, 2, 2]
    assert [(r.requests, r.failed, r.accepted) for r in reports] == [
        (1, 4, 0), (3, 0, 10), (1, 0, 2)], "one report per flush that sent something"
