"""The status page for thousands (issue 18), end to end: 1,000 virtual printers on
127.0.134.1-127.0.137.x (some stopped, some with a low cartridge), read by the real `printgw run`
over SNMP and IPP (real polling: about a minute here), its page rendered in headless Chromium.
The summary, search, filters, sorting and paging are checked against the gateway's store; the
page's weight and render times are printed (`-s`) and bounded loosely (a busy machine).
One fast test per feature: `test_status_page_fleet.py`.  Addresses: 127.0.134.0-127.0.137.255.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from gateway.local.live_view import is_low
from gateway.store import DATABASE_NAME
from protocols.hosts import free_port
from tests.support.chromium import render
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import running_fleet
from tests.support.status_fleet import PROFILES, page_figures, set_problems
from tests.support.uplink_harness import toml_document

PRINTERS = 1000
ROW = re.compile(r'<tr class="device" id="device-(\d+)" data-device-id="\d+" '
                 r'data-serial="([^"]*)" data-state="([^"]*)">')


def store_truth(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Each device of the store by serial: its address, model, state and supplies (read-only)."""
    uri = f"file:{data_dir / DATABASE_NAME}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        rows = db.execute(
            "SELECT d.id, d.serial, d.model, a.address, r.summary FROM devices d "
            "JOIN device_addresses a ON a.device_id = d.id AND a.current "
            "LEFT JOIN device_readings r ON r.device_id = d.id").fetchall()
    truth = {}
    for device_id, serial, model, address, summary in rows:
        reading = json.loads(summary) if summary else {}
        truth[serial] = {"id": device_id, "model": model, "address": address,
                         "state": (reading.get("state") or {}).get("printer_state", "not-read"),
                         "alerts": len((reading.get("state") or {}).get("alerts") or ()),
                         "low": sum(is_low(s) for s in reading.get("supplies") or ())}
    return truth


async def api(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url) as response:
        assert response.status == 200, url
        return await response.json()


async def every_row(http: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    """Every device a query selects, page after page of `/api/devices`."""
    rows: list[dict[str, Any]] = []
    page, pages = 1, 1
    while page <= pages:
        document = await api(http, f"{url}&per_page=200&page={page}")
        rows += document["devices"]
        pages, page = document["pages"], page + 1
    return rows


@pytest.mark.slow
async def test_a_thousand_printers_in_chromium(tmp_path: Path) -> None:
    async with running_fleet("127.0.134.1", PRINTERS, profiles=PROFILES) as fleet, \
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        stopped, low = set_problems(fleet)
        first, port = fleet.printers[0], free_port()
        data_dir = tmp_path / "gateway"
        config = tmp_path / "gateway.toml"
        config.write_text(toml_document({
            "gateway": {"data_dir": str(data_dir), "name": "thousand", "time_zone": "UTC"},
            "snmp": {"port": first.snmp_port, "timeout": "2s", "retries": 1},
            "ipp": {"port": first.ipp_port, "timeout": "3s"},
            "discovery": {"mdns": False, "static": [{"host": p.ip} for p in fleet.printers]},
            "poll": {"interval": "1h", "concurrency": 64}, "status_page": {"port": port}}))
        config.chmod(0o600)
        log = tmp_path / "daemon.log"
        with log.open("wb") as out:
            daemon = await asyncio.create_subprocess_exec(
                *COMMAND, "run", "--config", str(config), stdout=out, stderr=out)
        base = f"http://127.0.0.1:{port}/"
        try:
            document = await read_all(http, base, log)
            truth = store_truth(data_dir)
            assert len(truth) == PRINTERS

            # The summary: the whole fleet's counts, as the store has them.
            summary = document["summary"]
            states = Counter(d["state"] for d in truth.values())
            assert summary["by_state"] == dict(states)
            assert summary["low_supplies"] == sum(d["low"] for d in truth.values())
            assert summary["with_alerts"] == sum(bool(d["alerts"]) for d in truth.values())
            assert {s for s, d in truth.items() if d["state"] == "stopped"} == stopped
            assert {s for s, d in truth.items() if d["low"]} >= low

            # Page 1 in Chromium: 50 compact rows, problems first, the summary's counts.
            page = await render(base, tmp_path, width=1280, height=1200)
            rows = ROW.findall(page.dom)
            assert len(rows) == 50
            problems = [state == "stopped" or bool(truth[serial]["low"] or truth[serial]["alerts"])
                        for _id, serial, state in rows]
            shown = min(summary["problems"], len(rows))
            assert problems == [True] * shown + [False] * (len(rows) - shown)  # problems first
            assert {serial for _id, serial, _state in rows} & stopped
            assert f'<span class="count">{PRINTERS}</span>' in page.dom
            assert (f'data-state="stopped">stopped <b>{len(stopped)}</b>') in page.dom

            # The detail link of a problem printer.
            device_id, serial, _state = rows[0]
            async with http.get(f"{base}devices/{device_id}") as response:
                assert response.status == 200
                assert serial in await response.text()

            # Search, filters and sorting give the store's rows; paging covers them once.
            one = fleet.printers[500].state.serial
            assert [d["serial"] for d in await every_row(http, f"{base}api/devices?q={one}")] \
                == [one]
            found = await every_row(http, f"{base}api/devices?q=127.0.135.1")
            assert {d["serial"] for d in found} == {
                s for s, d in truth.items() if "127.0.135.1" in d["address"]}
            for state in ("stopped", "idle"):
                found = await every_row(http, f"{base}api/devices?state={state}")
                assert {d["serial"] for d in found} == {
                    s for s, d in truth.items() if d["state"] == state}
            found = await every_row(http, f"{base}api/devices?low=1&sort=supply")
            assert {d["serial"] for d in found} == {s for s, d in truth.items() if d["low"]}
            model = truth[one]["model"]
            found = await every_row(http, f"{base}api/devices?model={quote(model)}&sort=name")
            assert {d["serial"] for d in found} == {
                s for s, d in truth.items() if d["model"] == model}
            names = [d["name"].casefold() for d in found]
            assert names == sorted(names)
            everyone = await every_row(http, f"{base}api/devices?sort=reading")
            assert sorted(d["serial"] for d in everyone) == sorted(truth)
            assert [d["read_at"] for d in everyone] == sorted(d["read_at"] for d in everyone)

            # Weight and time of page 1 (the figures for the note).
            figures = await page_figures(base, tmp_path)
            print(f"\n{PRINTERS} printers, page 1: {figures.line()}")
            assert figures.bytes < 200_000
            assert figures.server_ms < 5_000
        finally:
            daemon.terminate()
            await daemon.wait()


async def read_all(http: aiohttp.ClientSession, base: str, log: Path) -> dict[str, Any]:
    """`/api/devices` once every printer is in the inventory and read (real polling)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 240
    while loop.time() < end:
        with contextlib.suppress(aiohttp.ClientError):
            document = await api(http, base + "api/devices?per_page=1")
            if document["fleet"] == PRINTERS and "not-read" not in \
                    document["summary"]["by_state"]:
                return document
        await asyncio.sleep(1)
    raise AssertionError(f"not every printer read within 240 s\n{tail(log)}")


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]
