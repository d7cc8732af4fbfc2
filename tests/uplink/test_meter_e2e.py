"""Meter data to the cloud end to end (issue 17): the virtual fleet, the reference cloud and the
real `printgw run` (a child process) on loopback.

- the cloud requests `counters.function`: the gateway uploads it, each counter with its source;
- a counter going backwards on the printer is withheld with a problem, then taken as the new base
  at the next reading;
- a meter schedule the operator sets through the cloud's API a few seconds ahead yields exactly one
  `meter-snapshot` per printer for the period, none again after a restart of the daemon; a printer
  that does not answer at the scheduled moment gets its snapshot from the next reading that
  answers; the cloud serves the snapshots (`listMeterReadings`).

Addresses 127.0.128.0/24 and 127.0.129.0/24.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.store import DATABASE_NAME
from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = pytest.mark.slow

METERS = ["counters.total", "counters.function"]
QUICK = {"push": True, "changes_poll_interval": "1s"}
POLL = {"interval": "2s", "periodic_upload": "1s", "unreachable_backoff_max": "2s"}
"""Every reading uploads (periodic), every 2 s."""


async def printer_ids(h: Harness, count: int) -> dict[str, str]:
    """Serial → printer ID, once `count` printers are registered."""
    async def registered() -> dict[str, str] | None:
        views = await h.printers()
        return {s: v["printer_id"] for s, v in views.items()} if len(views) >= count else None
    return await h.wait_for(registered, 40, f"{count} printers registered")


async def billed(h: Harness, printer_id: str) -> None:
    """The billing service (asking for the meters) active on the printer."""
    await h.operator.contract(printer_id, "billing")

    async def active() -> bool:
        views = await h.printers()
        return any(v["printer_id"] == printer_id and any(
            a["activation_state"] == "active" for a in v["applications"]) for v in views.values())
    await h.wait_for(active, 30, "the billing service active")


def problems(h: Harness) -> list[str]:
    """The problems of the newest readings in the running daemon's store (the status page's)."""
    with sqlite3.connect(f"file:{h.data_dir / DATABASE_NAME}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT summary FROM device_readings").fetchall()
    return [p for (summary,) in rows for p in json.loads(summary)["problems"]]


async def test_function_counters_with_sources_and_a_counter_going_backwards(
        tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.128.1", ["sharp-mfp"]) as h:
        await h.operator.put_service("billing", METERS)
        h.write_config(cloud=QUICK, poll=POLL)
        daemon = await h.start_daemon()
        printer = h.fleet.printers[0]
        printer_id = (await printer_ids(h, 1))[printer.state.serial]
        await billed(h, printer_id)

        async def with_functions() -> list[dict[str, Any]]:
            return [s for s in await h.statuses(printer_id)
                    if (s["data"].get("counters.function") or {}).get("print") is not None]
        (entry, *_rest) = await h.wait_for(with_functions, 30, "counters.function uploaded")
        function = entry["data"]["counters.function"]
        assert function["print"] >= 0 and function["sources"]["print"].startswith("snmp:Sharp:")
        assert set(function["sources"]) == {k for k in ("print", "copy", "fax", "scan")
                                            if function[k] is not None}
        assert entry["data"]["counters.total"]["sources"] == {"total": "snmp:prtMarkerLifeCount"}

        # The page counter is reset on the device (a new board): withheld once, then taken.
        statuses = await h.statuses(printer_id)
        old = statuses[-1]["data"]["counters.total"]["total"]
        printer.state.total_pages = 7
        printer.state.touch()  # the agent serves the state as of its last change

        shown: set[str] = set()

        async def totals_after() -> list[int | None] | None:
            shown.update(problems(h))  # the status page shows the newest reading's problems
            totals = [s["data"]["counters.total"]["total"]
                      for s in (await h.statuses(printer_id))[len(statuses):]]
            return totals if 7 in totals else None
        totals = await h.wait_for(totals_after, 30, "the new base taken")
        changed = [total for total in totals if total != old]
        assert changed[0] is None and changed[1] == 7, totals  # one reading withheld
        assert any(f"total went backwards from {old} to 7" in p for p in shown), shown
        assert await daemon.stop() == 0


def _schedule_ahead(seconds: float) -> tuple[dict[str, Any], datetime] | None:
    """A schedule whose moment is the first whole minute at least `seconds` from now, in a zone
    where that moment's day can be named (1-28, or the month's last); None when none can."""
    now = datetime.now(UTC)
    moment = (now + timedelta(seconds=seconds + 60)).replace(second=0, microsecond=0)
    for zone in ["UTC", *(f"Etc/GMT{offset:+d}" for offset in range(-14, 13) if offset)]:
        local = moment.astimezone(ZoneInfo(zone))
        last = calendar.monthrange(local.year, local.month)[1]
        if local.day <= 28 or local.day == last:
            day: int | str = local.day if local.day <= 28 else "last"
            return {"day_of_month": day, "time": local.strftime("%H:%M"),
                    "time_zone": zone}, moment
    return None


async def test_a_scheduled_snapshot_once_per_period_across_a_restart(tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.129.1", ["sharp-mfp", "mono-laser"]) as h:
        await h.operator.put_service("billing", METERS)
        h.write_config(cloud=QUICK, poll=POLL)
        daemon = await h.start_daemon()
        awake, asleep = h.fleet.printers
        ids = await printer_ids(h, 2)
        for printer_id in ids.values():
            await billed(h, printer_id)
        planned = _schedule_ahead(12)
        if planned is None:
            pytest.skip("no zone names this moment's day as 1-28 or the month's last")
        schedule, moment = planned
        for printer_id in ids.values():
            await h.operator.ok("putMeterSchedule", path={"printer_id": printer_id},
                                json_body={"meter_schedule": schedule})
        await h.fleet.set_unreachable(asleep, True)  # does not answer at the moment

        async def snapshots(serial: str) -> list[dict[str, Any]]:
            return [s for s in await h.statuses(ids[serial]) if s["event"] == "meter-snapshot"]
        wait = (moment - datetime.now(UTC)).total_seconds() + 30
        [first] = await h.wait_for(lambda: snapshots(awake.state.serial), wait,
                                   "the awake printer's snapshot")
        period = moment.astimezone(ZoneInfo(schedule["time_zone"])).strftime("%Y-%m")
        assert first["event_detail"] == {"period": period,
                                         "scheduled_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
        read_at = datetime.fromisoformat(first["read_at"])
        assert moment <= read_at < moment + timedelta(seconds=30)
        print(f"snapshot read {(read_at - moment).total_seconds():.1f} s after the moment")
        assert set(first["data"]) == set(METERS)
        assert await snapshots(asleep.state.serial) == []

        await asyncio.sleep(3)  # it still does not answer: still none
        assert await snapshots(asleep.state.serial) == []
        back = datetime.now(UTC)
        await h.fleet.set_unreachable(asleep, False)
        [late] = await h.wait_for(lambda: snapshots(asleep.state.serial), 30,
                                  "the snapshot of the printer that answers again")
        assert late["event_detail"]["period"] == period
        assert datetime.fromisoformat(late["read_at"]) >= back - timedelta(seconds=1)

        assert await daemon.stop() == 0
        daemon = await h.start_daemon()
        await h.wait_for(lambda: "synchronised (FIG. 7)" in daemon.log(), 40, "the restart")
        before = {serial: len(await h.statuses(pid)) for serial, pid in ids.items()}

        async def read_again() -> bool:
            counts = {serial: len(await h.statuses(pid)) for serial, pid in ids.items()}
            return all(counts[serial] >= before[serial] + 3 for serial in ids)
        await h.wait_for(read_again, 30, "readings after the restart")
        for serial, printer_id in ids.items():
            assert len(await snapshots(serial)) == 1, serial
            kept = await h.operator.ok("listMeterReadings", path={"printer_id": printer_id},
                                       params={"period": period})
            assert [r["period"] for r in kept["meter_readings"]] == [period]
        assert await daemon.stop() == 0
