"""Group commits end to end (issue 20): the real `printgw run` SIGKILLed right after readings of
many printers were accepted, again and again, while the cloud takes nothing; then the cloud back.
What was committed survives each kill whole (a reading's entries, its last status and the status
page's copy together), a reading lost with its uncommitted batch is read again after the restart,
and the cloud gets every threshold crossing of every printer exactly once, no entry twice."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.uplink_checks import (
    assert_no_duplicates,
    black_level_read,
    gateway_db,
    monitoring_everywhere,
    outbox,
    printer_ids,
    rejected,
)
from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = pytest.mark.slow

PRINTERS = 12
STEPS = ((18, 20), (9, 10), (4, 5))
"""(black level set on every printer, the threshold it crosses)."""


def half_written(h: Harness) -> list[tuple[int, float, float]]:
    """Registered devices whose last status and status-page reading are of different readings
    (they are written in one transaction: never after a crash)."""
    with gateway_db(h) as db:
        return db.execute(
            "SELECT s.device_id, s.read_at, r.read_at FROM last_status s "
            "JOIN device_readings r USING (device_id) WHERE s.read_at != r.read_at").fetchall()


def crossings(h: Harness, threshold: int) -> int:
    """Queued entries of crossings of `threshold`."""
    with gateway_db(h) as db:
        return db.execute("SELECT COUNT(*) FROM outbox WHERE event = 'threshold-crossed' AND "
                          "body LIKE ?", (f'%"threshold_percent":{threshold}%',)).fetchone()[0]


async def test_sigkill_right_after_readings_loses_no_committed_entry_and_sends_none_twice(
        tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.152.1", ["color-mfp"], count=PRINTERS) as h:
        printers = h.fleet.printers
        for printer in printers:
            printer.state.set_level("black", 60)
        h.write_config(poll={"interval": "1s"}, cloud={"timeout": "5s"})
        daemon = await h.start_daemon()
        ids = await printer_ids(h, PRINTERS)
        await monitoring_everywhere(h, ids)
        before = {printer_id: {s["entry_id"] for s in await h.statuses(printer_id)}
                  for printer_id in ids.values()}

        h.proxy.mode = "error500"  # the cloud takes nothing: every entry stays queued
        committed: set[str] = set()
        for level, threshold in STEPS:
            for printer in printers:
                printer.state.set_level("black", level)
            # killed as soon as the first of the readings showing the crossing is committed:
            # the others are being read, or gathered for the next commit
            await h.wait_for(lambda t=threshold: crossings(h, t), 20, f"a crossing of {threshold}")
            assert await daemon.stop(signal.SIGKILL) == -signal.SIGKILL
            queued = {row[0] for row in outbox(h)}
            assert committed <= queued, "a committed entry lost"
            committed = queued
            assert half_written(h) == []
            daemon = await h.start_daemon()
            await h.wait_for(lambda lv=level: all(black_level_read(h, p.state.serial) == lv
                                                  for p in printers), 30,
                             f"every printer read at {level} after the restart")

        h.proxy.mode = "pass"
        await h.wait_for(lambda: not outbox(h), 30, "the outbox delivered")
        assert rejected(h) == []
        for serial, printer_id in ids.items():
            statuses = [s for s in await h.statuses(printer_id)
                        if s["entry_id"] not in before[printer_id]]
            assert_no_duplicates(statuses)
            got = sorted((s["event_detail"]["threshold_percent"] for s in statuses
                          if s["event"] == "threshold-crossed"), reverse=True)
            assert got == [t for _level, t in STEPS], (serial, statuses)
        delivered = {s["entry_id"] for printer_id in ids.values()
                     for s in await h.statuses(printer_id)}
        assert committed <= delivered
        assert "Traceback" not in "".join(d.log() for d in h.daemons)
        assert await daemon.stop() == 0
