"""Faults on the cloud link, end to end: virtual fleet + reference cloud + the real `printgw run`.

What issue 5 asks to be shown: a cloud that is down (500s, hanging, too slow, not listening) while
the fleet keeps changing ends with every status, none twice; a gateway killed between queueing
and sending, or while a batch is on its way, loses nothing and duplicates nothing; garbage or
hostile answers give a clear error and no crash; printer IDs the gateway does not manage are
neither acted on nor retried for ever.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.store import Store
from gateway.uplink.outbox import Outbox, new_entry
from tests.support.cloud_helpers import Gateway as CloudGateway
from tests.support.uplink_checks import (
    assert_no_duplicates,
    gateway_db,
    monitoring_everywhere,
    outbox,
    printer_ids,
    rejected,
    set_level_and_wait_for_a_poll,
    uploaded_entries,
)
from tests.support.uplink_harness import Daemon, Harness, uplink_setup

pytestmark = pytest.mark.slow

THRESHOLD_STEPS = ((18, 20), (9, 10), (4, 5))
"""(black level set, threshold it crosses from the level before) with thresholds 20, 10, 5."""


async def stop_cleanly(daemon: Daemon) -> None:
    """SIGTERM: exit 0, and no traceback logged while it ran.  (Checked before stopping: a
    late SNMP answer arriving as the SNMP engine closes can make pysnmp log one at exit.)"""
    assert "Traceback" not in daemon.log(), daemon.log()
    assert await daemon.stop() == 0


def by_reading(statuses: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    """The `event` entries in the order of their readings (the cloud lists them in the order
    it received them, and a retried entry may arrive after a newer one)."""
    return sorted((s for s in statuses if s["event"] == event),
                  key=lambda s: datetime.fromisoformat(s["read_at"]))


def crossings(statuses: list[dict[str, Any]]) -> list[int]:
    return [s["event_detail"]["threshold_percent"]
            for s in by_reading(statuses, "threshold-crossed")]


def upload_results(h: Harness) -> dict[str, list[str]]:
    """entry ID → every per-entry result the cloud answered for it, in order."""
    results: dict[str, list[str]] = {}
    for method, path, status, body in h.proxy.answers:
        if method == "POST" and path == "/v1/statuses" and status == 200:
            raw = body if body[:1] == b"{" else zlib.decompress(body, 47)  # gzip or zlib
            for result in json.loads(raw)["results"]:
                results.setdefault(result["entry_id"], []).append(result["status"])
    return results


async def stored_but_queued(h: Harness, printer_id: str) -> set[str]:
    """Entries of the printer the cloud has stored while the gateway still has them queued."""
    queued = {row[0] for row in outbox(h) if row[1] == printer_id}
    return queued & {s["entry_id"] for s in await h.statuses(printer_id)}


# -- 1. the cloud down for a while -----------------------------------------------------------------

FAULTS = {  # fault → what the outbox records of the failed attempts
    "error500": "HTTP 500",
    "hang": "within 2 s",
    "slow": "within 2 s",
    "stopped": "cannot connect",
}


async def test_cloud_down_while_the_fleet_changes_every_status_arrives_once(
        tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.63.1", ["color-mfp", "mono-laser"],
                            count=len(FAULTS)) as h:
        for printer in h.fleet.printers:
            printer.state.set_level("black", 60)
        h.proxy.delay = 3.0  # `slow`: the cloud answers after the gateway gave up
        h.write_config(poll={"interval": "1s"},
                       cloud={"timeout": "2s", "changes_poll_interval": "1s"})
        daemon = await h.start_daemon()
        ids = await printer_ids(h, len(FAULTS))
        await monitoring_everywhere(h, ids)

        again: set[str] = set()
        for index, (fault, error) in enumerate(FAULTS.items()):
            printer_id = ids[h.fleet.printers[index].state.serial]
            if fault == "stopped":
                await h.proxy.stop_listening()
            else:
                h.proxy.mode = fault  # type: ignore[assignment]
            for level, _threshold in THRESHOLD_STEPS:
                await set_level_and_wait_for_a_poll(h, index, level)

            def tried(printer_id: str = printer_id, error: str = error) -> bool:
                return any(p == printer_id and attempts and error in (last or "")
                           for _e, p, _ev, attempts, last in outbox(h))
            await h.wait_for(tried, 10, f"an upload attempt failing with {fault}")
            if fault == "slow":  # the cloud stored entries the gateway gave up on
                again = await h.wait_for(lambda printer_id=printer_id: stored_but_queued(
                    h, printer_id), h.proxy.delay + 2, "a late batch stored by the cloud")

            if fault == "stopped":
                url = h.proxy.url
                await h.proxy.start()
                assert h.proxy.url == url
            else:
                h.proxy.mode = "pass"
            await h.wait_for(lambda: not outbox(h), 40, f"the outbox empty after {fault}")
        assert rejected(h) == []
        results = upload_results(h)  # the late batch's answer, unread; the retry's at least
        assert all(len(results[entry_id]) >= 2 for entry_id in again), results

        for index, printer in enumerate(h.fleet.printers):
            statuses = await h.statuses(ids[printer.state.serial])
            assert_no_duplicates(statuses)
            black = printer.state.supply("black")
            events = by_reading(statuses, "threshold-crossed")
            assert len(events) == len(THRESHOLD_STEPS), (list(FAULTS)[index], statuses)
            for event, (level, threshold) in zip(events, THRESHOLD_STEPS, strict=True):
                index_ = event["event_detail"]["supply_index"]
                assert event["event_detail"] == {"supply_index": index_,
                                                 "threshold_percent": threshold}
                [supply] = [s for s in event["data"]["supplies.level"] if s["index"] == index_]
                assert supply["level_percent"] == level
                assert index_.endswith(f".{black.index}")
        await stop_cleanly(daemon)


# -- 2. the gateway killed -------------------------------------------------------------------------

async def test_sigkill_between_queueing_and_sending_and_while_sending(tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.64.1", ["color-mfp"]) as h:
        printer = h.fleet.printers[0]
        printer.state.set_level("black", 60)
        h.write_config(poll={"interval": "1s"}, cloud={"timeout": "5s"})
        daemon = await h.start_daemon()
        printer_id = (await printer_ids(h, 1))[printer.state.serial]
        await monitoring_everywhere(h, {printer.state.serial: printer_id})
        before = {s["entry_id"] for s in await h.statuses(printer_id)}

        # Killed with entries queued that the cloud (500s) has not taken.
        h.proxy.mode = "error500"
        for level in (18, 9):
            await set_level_and_wait_for_a_poll(h, 0, level)
        await h.wait_for(lambda: any(row[3] for row in outbox(h)), 10, "an upload attempt")
        queued = [row[0] for row in outbox(h)]
        assert len(queued) >= 2
        assert await daemon.stop(signal.SIGKILL) == -signal.SIGKILL
        assert [row[0] for row in outbox(h)] == queued

        h.proxy.mode = "pass"
        daemon = await h.start_daemon()
        await h.wait_for(lambda: not outbox(h), 20, "the outbox delivered after the restart")
        assert rejected(h) == []
        statuses = await h.statuses(printer_id)
        assert_no_duplicates(statuses)
        assert sorted(s["entry_id"] for s in statuses if s["entry_id"] not in before) == \
            sorted(queued)

        # Killed while a batch is held on its way: the proxy forwards it after the gateway is
        # gone, the cloud stores it, the gateway still has it queued and sends it again.
        h.proxy.mode = "slow"
        seen = len(h.proxy.bodies)
        await set_level_and_wait_for_a_poll(h, 0, 4)
        held = await h.wait_for(lambda: uploaded_entries(h, seen), 5, "an upload held")
        assert await daemon.stop(signal.SIGKILL) == -signal.SIGKILL
        held_ids = set(held[0])
        assert held_ids <= {row[0] for row in outbox(h)}

        async def stored() -> bool:
            return held_ids <= {s["entry_id"] for s in await h.statuses(printer_id)}
        await h.wait_for(stored, h.proxy.delay + 5, "the held batch stored by the cloud")

        # Restarted (once) after one more change: the batch now holds a new entry too, so it
        # is a new request, and the cloud answers `duplicate` for what it already has.
        h.proxy.mode = "pass"
        printer.state.set_level("black", 0)
        rc, out, err = await h.run_once()
        assert rc == 0, err
        assert "Traceback" not in err
        assert "0 in the outbox" in out
        results = upload_results(h)
        assert all(results[entry_id] == ["accepted", "duplicate"] for entry_id in held_ids), \
            results  # accepted: the answer nobody read; duplicate: the retry's
        statuses = await h.statuses(printer_id)
        assert_no_duplicates(statuses)
        assert crossings(statuses) == [t for _level, t in THRESHOLD_STEPS]
        assert "supply-empty" in [s["event"] for s in statuses]
        assert not outbox(h)


# -- 3. garbage and hostile answers ----------------------------------------------------------------

HOSTILE = {  # proxy mode → what the gateway's error says
    "garbage": "not JSON",
    "wrong-types": "does not match the document",
    "huge": "larger than",
    "html": "HTTP 502",
}
LEVELS = (18, 9, 4, 0)
"""The black level during each hostile mode: thresholds 20, 10 and 5 crossed, then empty."""
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) \S+: ")


async def test_hostile_answers_once_exits_1_with_a_clear_error_and_keeps_the_statuses(
        tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.65.1", ["color-mfp"]) as h:
        printer = h.fleet.printers[0]
        printer.state.set_level("black", 60)
        await h.operator.put_service("monitoring", ["supplies.level"])
        h.write_config()
        rc, _out, err = await h.run_once()
        assert rc == 0, err
        printer_id = (await printer_ids(h, 1))[printer.state.serial]
        await h.operator.contract(printer_id, "monitoring")
        rc, _out, err = await h.run_once()
        assert rc == 0, err
        assert [s["event"] for s in await h.statuses(printer_id)] == ["periodic"]

        # Each run reads the printer (a new event each time), fails on the hostile answers
        # (the sync's and the upload's), says so in one line and keeps what it queued.
        for (mode, message), level in zip(HOSTILE.items(), LEVELS, strict=True):
            h.proxy.mode = mode  # type: ignore[assignment]
            printer.state.set_level("black", level)
            before = {row[0] for row in outbox(h)}
            rc, _out, err = await h.run_once()
            assert rc == 1, (mode, err)
            assert "Traceback" not in err, err
            *logged, last = err.strip().splitlines()
            assert last.startswith("printgw: cloud: ") and message in last, (mode, err)
            assert len(last) < 400, last
            assert "statuses stay in the outbox" in err, err
            assert all(LOG_LINE.match(line) or line.startswith("printgw: ")
                       for line in logged), err  # nothing multi-line
            new = [row for row in outbox(h) if row[0] not in before]
            assert new and all(message in (row[4] or "") for row in new), (mode, new)

        # The cloud back: once the retries are due, a run delivers everything.
        h.proxy.mode = "pass"
        with gateway_db(h) as db:
            due = db.execute("SELECT MAX(next_attempt_at) FROM outbox").fetchone()[0]
        assert due - time.time() < 20  # a few failed attempts: seconds of back-off
        await asyncio.sleep(max(0.0, due - time.time()))
        rc, out, err = await h.run_once()
        assert rc == 0, err
        assert "0 in the outbox" in out
        assert rejected(h) == []
        statuses = await h.statuses(printer_id)
        assert_no_duplicates(statuses)
        assert crossings(statuses) == [20, 10, 5]
        assert [s["event"] for s in statuses].count("supply-empty") == 1


async def test_hostile_answers_daemon_keeps_polling_then_delivers_everything(
        tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.66.1", ["color-mfp"]) as h:
        printer = h.fleet.printers[0]
        printer.state.set_level("black", 60)
        h.write_config(poll={"interval": "1s"})
        daemon = await h.start_daemon()
        printer_id = (await printer_ids(h, 1))[printer.state.serial]
        await monitoring_everywhere(h, {printer.state.serial: printer_id})

        # The push channel cut (and refused while the proxy misbehaves): the change stream is
        # polled every second, so each kind of garbage reaches the daemon at once.
        await h.proxy.cut_websockets()
        for (mode, message), level in zip(HOSTILE.items(), LEVELS, strict=True):
            h.proxy.mode = mode  # type: ignore[assignment]
            logged = len(daemon.log())
            await set_level_and_wait_for_a_poll(h, 0, level)
            await h.wait_for(lambda logged=logged, message=message:
                             message in daemon.log()[logged:], 10, f"the daemon meeting {mode}")
            assert daemon.process.returncode is None, daemon.log()
        assert any(row[3] for row in outbox(h))  # uploads were tried and kept

        h.proxy.mode = "pass"
        await h.wait_for(lambda: not outbox(h), 30, "everything queued delivered")
        assert rejected(h) == []
        statuses = await h.statuses(printer_id)
        assert_no_duplicates(statuses)
        assert crossings(statuses) == [20, 10, 5]
        assert [s["event"] for s in statuses].count("supply-empty") == 1
        await stop_cleanly(daemon)


# -- 4. printer IDs this gateway does not manage ---------------------------------------------------

def sent_for(h: Harness, printer_id: str) -> list[str]:
    """Every request of the gateway that names `printer_id` (in its path or its body)."""
    return [f"{method} {path}" for method, path, body in h.proxy.bodies
            if printer_id in path or printer_id.encode() in body]


async def test_unknown_printer_ids_not_acted_on_and_rejected_entries_set_aside(
        tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.67.1", ["color-mfp"]) as h:
        printer = h.fleet.printers[0]
        printer.state.set_level("black", 60)
        h.write_config(poll={"interval": "1s"})
        daemon = await h.start_daemon()
        ours = (await printer_ids(h, 1))[printer.state.serial]
        await monitoring_everywhere(h, {printer.state.serial: ours})
        await h.operator.put_service("toner-delivery", ["supplies.level"])

        # (a) Contract changes for a printer of another gateway (never in our change stream) and
        # for one registered with our credential behind the gateway's back (in our stream, but
        # not in the gateway's inventory); then one for our printer, so that the changes before
        # it have been handled when its activation notice arrives.
        other = await CloudGateway.enrol(h.http, h.cloud.url, h.operator, name="other-gateway")
        foreign = await other.register()
        with gateway_db(h) as db:
            token = db.execute("SELECT value FROM cloud_link WHERE key = 'token'").fetchone()[0]
        orphan = await CloudGateway(h.http, h.cloud.url, token).register()
        for printer_id in (foreign, orphan, ours):
            await h.operator.contract(printer_id, "toner-delivery")

        def activated() -> bool:
            return any(m == "POST" and p == f"/v1/printers/{ours}/activations"
                       and b"toner-delivery" in body for m, p, body in h.proxy.bodies)
        await h.wait_for(activated, 10, "our printer's toner-delivery activated")
        assert sent_for(h, foreign) == []
        assert sent_for(h, orphan) == []
        assert f"change for printer {orphan}, which this gateway does not manage" in daemon.log()
        assert foreign not in daemon.log()
        await stop_cleanly(daemon)

        # (b) An entry for a printer the cloud does not know, queued beside the gateway's own.
        unknown = new_entry(str(uuid.uuid4()), datetime.now(UTC), "periodic",
                            (await h.statuses(ours))[0]["data"])
        with Store.in_directory(h.data_dir) as store:
            Outbox(store).put([unknown])
        printer.state.set_level("black", 18)
        seen = len(h.proxy.bodies)
        rc, out, err = await h.run_once()
        assert rc == 0, err
        assert "0 in the outbox" in out
        assert "Traceback" not in err
        [batch] = uploaded_entries(h, seen)
        assert unknown.entry_id in batch and len(batch) > 1
        [(entry_id, printer_id, code, detail)] = rejected(h)
        assert (entry_id, printer_id, code) == (unknown.entry_id, unknown.printer_id,
                                                "unknown-printer")
        assert unknown.printer_id in detail
        statuses = await h.statuses(ours)
        assert {s["entry_id"] for s in statuses} >= set(batch) - {unknown.entry_id}
        assert crossings(statuses) == [20]
        assert not outbox(h)
