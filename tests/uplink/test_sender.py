"""The outbox's sender (`gateway/uplink/sender.py`) against the loopback cloud of
`tests/support/fake_cloud.py` (which checks every request against the document and implements
`uploadStatuses` as it says: per-entry results, duplicates, `Idempotency-Key` replay)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from gateway.store import Store
from gateway.uplink.outbox import RETRY_AFTER_CAP, Outbox, new_entry
from gateway.uplink.sender import FlushReport, OutboxSender, batch_key
from protocols.cloud.client import CloudClient
from tests.support.fake_cloud import DECODED, KNOWN_PRINTER, TOKEN, FakeCloud, problem
from tests.support.outbox_entries import LEVEL, READ_AT, Clock, entry, ids


@pytest.fixture
async def client(fake_cloud: FakeCloud) -> AsyncIterator[CloudClient]:
    async with CloudClient(fake_cloud.url, token=TOKEN, timeout=10.0) as c:
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
        fake_cloud: FakeCloud, outbox: Outbox, clock: Clock) -> None:
    """500s, a 503, and answers lost to the client's time limit after the cloud stored the
    batch: in the end the cloud has accepted every entry once, and a retried batch was the same
    request each time (answered from the stored response)."""
    queued = [entry() for _ in range(120)]
    outbox.put(queued)
    fake_cloud.overrides["uploadStatuses"] = flaky(fake_cloud,
                                                   ["500", "late", "503", "late", "500"])
    async with CloudClient(fake_cloud.url, token=TOKEN, timeout=1.0) as client:
        sender = OutboxSender(outbox, lambda: client, batch_size=50)
        reports = await flush_until_empty(sender, clock)

    assert set(fake_cloud.statuses) == set(ids(queued))
    assert sum(r.accepted for r in reports) == 120, "each entry accepted once"
    assert sum(answer["counts"]["accepted"] for _, answer in fake_cloud.batches.values()) == 120
    assert outbox.stats().delivered == 120 and outbox.stats().rejected == 0
    assert [r.requests for r in reports[:5]] == [1, 1, 1, 1, 1], "a failure stops the flush"
    assert all(r.error and "uploadStatuses: " in r.error for r in reports[:5])
    assert "no answer from 127.0.0.1" in (reports[1].error or "")

    batches = [s for s in fake_cloud.seen if s.operation == "uploadStatuses"]
    keys = [s.headers["Idempotency-Key"] for s in batches]
    first = ids(queued[:50])
    assert keys[:6] == [batch_key(first)] * 6, "the same batch, retried, has the same key"
    assert len({s.raw for s in batches[:6]}) == 1, "... and the same body"
    assert len(fake_cloud.batches) == 3, "three batches of at most 50"


async def test_a_thousand_entries_go_in_two_gzipped_requests(
        fake_cloud: FakeCloud, client: CloudClient, outbox: Outbox) -> None:
    outbox.put([entry() for _ in range(1000)])
    report = await OutboxSender(outbox, client).flush()
    batches = [s for s in fake_cloud.seen if s.operation == "uploadStatuses"]
    assert [len(b) for b in uploads(fake_cloud)] == [500, 500]
    assert all(s.headers["Content-Encoding"] == "gzip" for s in batches)
    assert (report.requests, report.sent, report.accepted, report.failed) == (2, 1000, 1000, 0)
    assert outbox.depth() == 0


async def test_per_entry_results_are_settled(fake_cloud: FakeCloud, client: CloudClient,
                                             outbox: Outbox, store: Store) -> None:
    stranger = str(uuid.uuid4())
    plain = entry()
    foreign = entry(printer_id=stranger)
    extra = entry(**{"supplies.level": [LEVEL], "counters.total": {"total": 3}})
    first_upload = new_entry(KNOWN_PRINTER, READ_AT, "periodic", {"supplies.level": [LEVEL]},
                             application_ids=[f"app-{KNOWN_PRINTER[:8]}"])
    known = entry()
    fake_cloud.statuses[known.entry_id] = known.to_json()  # the cloud has it already
    outbox.put([plain, foreign, extra, first_upload, known])

    report = await OutboxSender(outbox, client).flush()
    assert (report.accepted, report.duplicate, report.rejected) == (3, 1, 1)
    assert report.ignored_data_types == {KNOWN_PRINTER: {"counters.total"}}
    [activation] = report.activations[KNOWN_PRINTER]
    assert (activation.service_id, activation.result) == ("toner-delivery", "activated")
    assert outbox.depth() == 0
    rejected = store.conn.execute("SELECT entry_id, printer_id, code FROM outbox_rejected"
                                  ).fetchall()
    assert [tuple(r) for r in rejected] == [(foreign.entry_id, stranger,
                                             "unknown-printer")]
    assert outbox.stats().delivered == 4


async def test_a_refused_batch_stays_queued_and_holds_the_sender(
        fake_cloud: FakeCloud, client: CloudClient, outbox: Outbox, clock: Clock,
        caplog: pytest.LogCaptureFixture) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return problem(403, "forbidden", "The gateway is disabled.")
    fake_cloud.overrides["uploadStatuses"] = refuse
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
    del fake_cloud.overrides["uploadStatuses"]
    clock.now = next_at
    assert (await sender.flush()).accepted == 4


async def test_a_protocol_error_backs_off(fake_cloud: FakeCloud, client: CloudClient,
                                          outbox: Outbox) -> None:
    async def garbage(request: web.Request) -> web.Response:
        return web.json_response({"results": "all good"})
    fake_cloud.overrides["uploadStatuses"] = garbage
    outbox.put([entry()])
    report = await OutboxSender(outbox, client).flush()
    assert report.failed == 1 and "does not match the document" in (report.error or "")
    assert outbox.due() == [] and outbox.depth() == 1


async def test_retry_after_is_a_floor(fake_cloud: FakeCloud, client: CloudClient, outbox: Outbox,
                                      clock: Clock) -> None:
    fake_cloud.overrides["uploadStatuses"] = flaky(fake_cloud, ["503"])
    outbox.put([entry()])
    sender = OutboxSender(outbox, client)
    await sender.flush()
    next_at = sender.next_flush_at()
    assert next_at is not None and next_at >= clock.now + 60
    clock.now += 59
    assert (await sender.flush()).requests == 0
    clock.now += 1
    assert (await sender.flush()).accepted == 1


async def test_payload_too_large_splits_the_batch(fake_cloud: FakeCloud, client: CloudClient,
                                                  outbox: Outbox, store: Store) -> None:
    async def limited(request: web.Request) -> web.StreamResponse:
        statuses = json.loads(request[DECODED])["statuses"]
        if len(statuses) > 100 or any("alerts" in s["data"] for s in statuses):
            return problem(413, "payload-too-large", "At most 100 entries of 4 MiB.")
        return await fake_cloud.op_uploadStatuses(request)
    fake_cloud.overrides["uploadStatuses"] = limited
    alert = {"index": "1", "severity": "warning", "group": "markerSupplies", "code": "x" * 64,
             "description": None, "training_level": None}
    queued = [entry() for _ in range(300)]
    huge = entry(alerts=[alert])
    outbox.put([*queued[:150], huge, *queued[150:]])
    report = await OutboxSender(outbox, client).flush()
    assert report.accepted == 300 and report.rejected == 1 and outbox.depth() == 0
    assert max(len(answer["results"]) for _, answer in fake_cloud.batches.values()) <= 100
    # 301 → 150 (→ 75 + 75) + 151 → 75 → 37 → 18 → 9 → 4 → 2 → 1 (the huge one, refused for
    # good); each time the other half goes through: 10 requests refused, 9 accepted
    assert (len(uploads(fake_cloud)), len(fake_cloud.batches)) == (19, 9)
    code = store.conn.execute("SELECT code FROM outbox_rejected").fetchone()[0]
    assert code == "payload-too-large"


async def test_missing_results_stay_queued(fake_cloud: FakeCloud, client: CloudClient,
                                           outbox: Outbox) -> None:
    async def forgetful(request: web.Request) -> web.Response:
        answer = json.loads((await fake_cloud.op_uploadStatuses(request)).text)
        answer["results"] = answer["results"][1:]
        return web.json_response(answer)
    fake_cloud.overrides["uploadStatuses"] = forgetful
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


async def test_run_sends_until_stopped(fake_cloud: FakeCloud, client: CloudClient,
                                       store: Store) -> None:
    outbox = Outbox(store, rng=random.Random(3))
    fake_cloud.overrides["uploadStatuses"] = flaky(fake_cloud, ["500"])
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
    assert set(ids(later)) <= set(fake_cloud.statuses) and len(fake_cloud.statuses) == 12
    assert [len(b) for b in uploads(fake_cloud)] == [4, 4, 4, 2, 2]
    assert [(r.requests, r.failed, r.accepted) for r in reports] == [
        (1, 4, 0), (3, 0, 10), (1, 0, 2)], "one report per flush that sent something"
