"""The local status page, `/metrics` and `printgw status` (issue 7).

End to end: a virtual fleet and the reference cloud, the real `printgw run` with its status page;
the page rendered in a real headless Chromium and checked against the simulator's levels.  In
process: escaping, the loopback guard, a port in use, the level history's thinning.
Addresses: 127.0.90.0-127.0.94.255.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import socket
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app.daemon import Gateway
from gateway.device.model import Alert, DeviceStatus, Identity, State, Supply
from gateway.fleet.inventory import Sighting
from gateway.fleet.readings import HISTORY_DAYS, HISTORY_STEP, record_reading
from gateway.local.live_view import FleetView, colour_family
from gateway.local.page_html import BAR_COLOURS, ROW_SUPPLIES
from gateway.local.status_page import URL_FILE, StatusPage, start_status_page
from gateway.settings.loading import parse_config
from gateway.store import DATABASE_NAME, Store
from protocols.hosts import free_port
from tests.support.chromium import png_size, render
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import run, running_fleet
from tests.support.uplink_harness import Harness, uplink_setup

PROFILES = ["color-mfp", "mono-laser", "inkjet", "legacy-laser", "color-mfp"]
MONITORING = ["identity", "supplies.level", "state", "alerts", "counters.total"]


# -- reading what the page shows -------------------------------------------------------------------

class Elements(HTMLParser):
    """Every start tag of a document, with its attributes, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def rows(self) -> dict[str, list[tuple[str, dict[str, str]]]]:
        """The tags of each device row, by the row's `data-serial`."""
        rows: dict[str, list[tuple[str, dict[str, str]]]] = {}
        current: list[tuple[str, dict[str, str]]] | None = None
        for tag, attrs in self.tags:
            if tag == "tr":
                current = rows.setdefault(attrs["data-serial"], []) \
                    if "device" in attrs.get("class", "").split() else None
            elif current is not None:
                current.append((tag, attrs))
        return rows


def style(attrs: dict[str, str]) -> dict[str, str]:
    return dict((part.split(":", 1)[0].strip(), part.split(":", 1)[1].strip())
                for part in attrs.get("style", "").split(";") if ":" in part)


def bars(row: list[tuple[str, dict[str, str]]]) -> dict[str, dict[str, str] | None]:
    """Supply index → the style of its bar's fill (None for a level shown as a word)."""
    found: dict[str, dict[str, str] | None] = {}
    index = None
    for tag, attrs in row:
        if tag == "li" and "supply" in attrs.get("class", "").split():
            index = attrs["data-index"]
            found[index] = None
        elif tag == "span" and attrs.get("class") == "fill" and index is not None:
            found[index] = {**style(attrs), "family": attrs["data-family"]}
    return found


async def get_json(h: Harness, url: str) -> Any:
    async with h.http.get(url) as response:
        assert response.status == 200, (url, response.status)
        return await response.json()


async def status_when(h: Harness, base: str, check: Any, within: float, what: str) -> Any:
    """`/api/status` once `check(document)` holds (the daemon may not listen yet)."""
    async def ready() -> Any:
        with contextlib.suppress(aiohttp.ClientError):
            document = await get_json(h, base + "api/status")
            return document if check(document) else None
        return None
    return await h.wait_for(ready, within, what, step=0.2)


def by_serial(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["serial"]: d for d in document["devices"]}


def listeners(port: int) -> list[str]:
    """The local IPv4/IPv6 addresses (hex, as in /proc/net/tcp*) listening on TCP `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                address, hex_port = fields[1].split(":")
                if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                    found.append(address)
    return found


def history_rows(data_dir: Path, device_id: int) -> dict[str, int]:
    uri = f"file:{data_dir / DATABASE_NAME}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        return dict(db.execute("SELECT supply_index, COUNT(*) FROM level_history "
                               "WHERE device_id = ? GROUP BY supply_index", (device_id,)))


# -- end to end ------------------------------------------------------------------------------------

@pytest.mark.slow
async def test_status_page_of_a_running_daemon(tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.90.1", PROFILES) as h:
        await h.operator.put_service("monitoring", MONITORING)
        port = free_port()
        h.write_config(poll={"interval": "2s"}, status_page={"port": port})
        daemon = await h.start_daemon()
        base = f"http://127.0.0.1:{port}/"
        printers = {p.state.serial: p for p in h.fleet.printers}

        # Every printer registered; a monitoring contract for each, so that they upload.
        registered = await h.wait_for(
            lambda: _registered(h, len(printers)), 60, "every printer registered")
        for view in registered.values():
            await h.operator.contract(view["printer_id"], "monitoring")

        # Levels that change (history), one that is low, an alert.
        colour = h.fleet.printers[0]
        inkjet = h.fleet.printers[2]
        inkjet.state.set_level("cyan", 5)
        inkjet.state.raise_error("cover-open")
        for level in (40, 25):
            colour.state.set_level("black", level)
            await status_when(
                h, base, lambda d, level=level: _level(d, colour.state.serial, "1.1") == level,
                30, f"the black toner read at {level} %")
        document = await status_when(
            h, base, lambda d: len(d["devices"]) == len(printers) and all(
                x["last_upload"] and x["services"] and
                x["services"][0]["activation_state"] == "active" for x in d["devices"]),
            60, "every printer read, its monitoring service active and its status uploaded")
        assert document["cloud"]["connected"] is True
        assert document["daemon"]["running"] is True
        assert document["daemon"]["status_page"] == base

        # (a) The page in a real browser: every printer, bars as wide as the simulator's levels,
        # in the supply's colour; the low one marked; a screenshot.  A row (compact since issue
        # 18) shows the ROW_SUPPLIES lowest supplies; the device page shows them all.
        page = await render(base, tmp_path, width=1280, height=1600)
        rows = Elements(page.dom).rows()
        assert set(rows) == set(printers)
        for serial, printer in printers.items():
            shown = bars(rows[serial])
            reading = {s["index"]: s for s in by_serial(document)[serial]["supplies"]}
            levels = sorted(reading.values(), key=lambda s: (
                s["level_percent"] is None or s["class"] == "filled", s["level_percent"] or 0))
            assert list(shown) == [s["index"] for s in levels[:ROW_SUPPLIES]]
            for supply in printer.state.supplies:
                index = f"1.{supply.index}"
                if index not in shown:
                    continue
                if reading[index]["level_percent"] is None:  # e.g. "some remaining"
                    assert shown[index] is None
                    continue
                fill = shown[index]
                assert fill is not None, (serial, index)
                assert fill["width"] == f"{supply.percent}%", (serial, index)
                family = colour_family(supply.color)
                assert fill["family"] == family
                assert fill["background-color"] == BAR_COLOURS[family]
        low = [(tag, attrs) for tag, attrs in rows[inkjet.state.serial]
               if tag == "li" and "low" in attrs.get("class", "").split()]
        assert [attrs["data-index"] for _tag, attrs in low] == ["1.2"]
        assert "cover" in page.dom.lower()  # the alert is listed
        assert png_size(page.screenshot) == (1280, 1600)
        assert page.screenshot.stat().st_size > 20_000

        # (e) The device page: one polyline per supply, a point per history row.
        device_id = by_serial(document)[colour.state.serial]["id"]
        async with h.http.get(f"{base}devices/{device_id}") as response:
            assert response.status == 200
            device_page = Elements(await response.text())
        lines = {attrs["data-supply"]: attrs["points"].split()
                 for tag, attrs in device_page.tags if tag == "polyline"}
        rows_per_supply = history_rows(h.data_dir, device_id)
        assert {k: len(v) for k, v in lines.items()} == rows_per_supply
        assert rows_per_supply["1.1"] == 3  # the first reading, 40 %, 25 %
        history = (await get_json(h, f"{base}api/devices/{device_id}"))["history"]
        assert [level for _at, level in history["1.1"]][-2:] == [40, 25]

        # (c) /metrics: the named families with plausible values.
        async with h.http.get(base + "metrics") as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            families = {f.name: f for f in text_string_to_metric_families(await response.text())}
        for name in ("printgw_devices", "printgw_poll_duration_seconds", "printgw_poll_errors",
                     "printgw_outbox_depth", "printgw_uploads", "printgw_commands",
                     "printgw_cloud_connected"):
            assert name in families, name
        devices = {s.labels["state"]: s.value for s in families["printgw_devices"].samples}
        assert sum(devices.values()) == len(printers)
        assert devices["unreachable"] == 0
        polls = {s.labels["result"]: s.value for s in families["printgw_poll_duration_seconds"]
                 .samples if s.name.endswith("_count")}
        # Each printer's first reading is discovery's (it counts as its poll, not in this
        # histogram: issue 20); the colour toner's two levels above were read by polls.
        assert polls["answered"] >= 2
        uploads = {s.labels["result"]: s.value for s in families["printgw_uploads"].samples
                   if s.name.endswith("_total")}
        assert uploads["accepted"] >= len(printers)
        assert uploads["failed"] == 0
        assert families["printgw_cloud_connected"].samples[0].value == 1

        # (b) Loopback only: the listening socket is bound to 127.0.0.1, the log says so, and a
        # request naming another host (DNS rebinding) is refused.
        assert listeners(port) == ["0100007F"]
        assert f"status page on {base}" in daemon.log()
        async with h.http.get(base, headers={"Host": f"printers.example.com:{port}"}) as response:
            assert response.status == 421
        assert (h.data_dir / URL_FILE).read_text().strip() == base

        # (d) Without the daemon, `printgw status` shows the store and says so.
        assert await daemon.stop() == 0
        assert not (h.data_dir / URL_FILE).exists()
        rc, out, err = await run(*COMMAND, "status", "--config", str(h.config_path), limit=60)
        assert rc == 1, err
        assert "daemon is not running" in err
        assert "not running" in out
        assert all(serial in out for serial in printers)
        rc, out, _err = await run(*COMMAND, "status", "--config", str(h.config_path), "--json",
                                  limit=60)
        offline = json.loads(out)
        assert rc == 1
        assert offline["daemon"]["running"] is False
        assert offline["cloud"]["connected"] is None
        assert set(by_serial(offline)) == set(printers)

        # (d) With the daemon, `printgw status --json` is the daemon's /api/status.
        h.write_config(status_page={"port": port})  # reads each at start, then in an hour
        await h.start_daemon()
        before = {d["serial"]: d["read_at"] for d in offline["devices"]}
        await status_when(h, base, lambda d: d["cloud"]["channel"] == "push"
                          and d["outbox"]["depth"] == 0
                          and all(x["read_at"] != before[x["serial"]] for x in d["devices"]),
                          60, "the restarted daemon's readings taken and its link up")
        await _agree(h, base)
        rc, out, err = await run(*COMMAND, "status", "--config", str(h.config_path), limit=60)
        assert rc == 0, err
        assert "connected (push)" in out
        assert all(serial in out for serial in printers)


async def _registered(h: Harness, count: int) -> dict[str, Any] | None:
    printers = await h.printers()
    return printers if len(printers) == count else None


def _level(document: dict[str, Any], serial: str, index: str) -> int | None:
    device = by_serial(document).get(serial)
    for supply in device["supplies"] if device else []:
        if supply["index"] == index:
            return supply["level_percent"]
    return None


async def _agree(h: Harness, base: str, attempts: int = 5) -> None:
    """`printgw status --json` equals `/api/status` taken just before and after it (retried
    when the daemon's state moved in between)."""
    def stable(document: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in document.items() if k != "generated_at"}
    for _ in range(attempts):
        before = stable(await get_json(h, base + "api/status"))
        rc, out, err = await run(*COMMAND, "status", "--config", str(h.config_path), "--json",
                                 limit=60)
        assert rc == 0, err
        after = stable(await get_json(h, base + "api/status"))
        if before == after:
            assert stable(json.loads(out)) == before
            return
    raise AssertionError(f"the daemon's status kept changing over {attempts} attempts")


# -- in process ------------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def local_gateway(tmp_path: Path, port: int,
                        **sections: dict[str, Any]) -> AsyncIterator[Gateway]:
    """A gateway without a cloud, without mDNS, its page on 127.0.0.1:`port`."""
    config = parse_config({"gateway": {"data_dir": str(tmp_path / "gateway")},
                           "discovery": {"mdns": False}, "status_page": {"port": port},
                           **sections})
    async with Gateway(config) as gateway:
        yield gateway


def add_device(gateway: Gateway, address: str, hostname: str) -> int:
    device = gateway.inventory.record(Sighting(
        address=address, sources=frozenset({"static"}), serial="SN<1>&2", hostname=hostname,
        model='Model "X" <b>', protocols=frozenset({"snmp"})))
    status = DeviceStatus(
        host=address, identity=Identity(serial="SN<1>&2"),
        supplies=[Supply(index="1.1", description="<img src=x onerror=alert(1)>", color="black",
                         kind="toner", level_percent=7, level_state="known"),
                  Supply(index="1.2", description="Waste", kind="wasteToner",
                         level_state="some-remaining")],
        state=State(printer_state="stopped", reasons=["<reason>"],
                    alerts=[Alert(index="1", severity="critical", description="<i>jam</i>")]))
    gateway.intake.record(device, status)
    return device.id


async def test_page_escapes_what_devices_send_and_answers_loopback_names_only(
        tmp_path: Path) -> None:
    port = free_port()
    async with local_gateway(tmp_path, port) as gateway:
        device_id = add_device(gateway, "127.0.91.1", "<script>alert(1)</script>")
        page = StatusPage(gateway.runtime, gateway.store, gateway.metrics)
        base = await page.start()
        assert base == f"http://127.0.0.1:{port}/"
        try:
            async with aiohttp.ClientSession() as http:
                for path in ("", f"devices/{device_id}"):
                    async with http.get(base + path) as response:
                        assert response.status == 200
                        assert response.headers["Content-Security-Policy"].startswith(
                            "default-src 'none'")
                        html = await response.text()
                    for raw in ("<script>", "<img src=x", "<i>jam", "<reason>", '"X" <b>'):
                        assert raw not in html, (path, raw)
                    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
                    assert "&lt;i&gt;jam&lt;/i&gt;" in html
                    assert '<meta name="viewport"' in html
                tags = Elements(html).tags
                assert [a["class"] for t, a in tags
                        if t == "li" and "supply" in a.get("class", "").split()] == \
                    ["supply low", "supply"]
                fills = [style(a) for t, a in tags if t == "span" and a.get("class") == "fill"]
                assert fills == [{"width": "7%", "background-color": BAR_COLOURS["black"]}]
                async with http.get(base + "devices/999") as response:
                    assert response.status == 404
                for host in ("localhost", "127.0.0.1", "127.9.9.9"):
                    async with http.get(base + "api/status",
                                        headers={"Host": f"{host}:{port}"}) as response:
                        assert response.status == 200, host
                        document = await response.json()
                async with http.get(base, headers={"Host": "attacker.example"}) as response:
                    assert response.status == 421
        finally:
            await page.close()
        [device] = document["devices"]
        assert device["state"] == "stopped"
        assert device["printer_id"] is None and device["last_upload"] is None
        assert document["cloud"]["configured"] is False
        assert document["summary"]["low_supplies"] == 1


async def test_a_port_in_use_is_logged_and_the_daemon_runs_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running_fleet("127.0.93.1") as fleet:
        printer = fleet.printers[0]
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            async with local_gateway(
                    tmp_path, port, discovery={"mdns": False, "static": [{"host": printer.ip}]},
                    snmp={"port": printer.snmp_port}, ipp={"port": printer.ipp_port}) as gateway:
                assert await start_status_page(gateway.runtime, gateway.store,
                                               gateway.metrics) is None
                stop = asyncio.Event()
                running = asyncio.create_task(gateway.run(stop))
                view = FleetView(gateway.store, gateway.config)
                for _ in range(300):  # it reads the printer without its page
                    if [d["state"] for d in view.snapshot()["devices"]] == ["idle"]:
                        break
                    await asyncio.sleep(0.1)
                assert [d["serial"] for d in view.snapshot()["devices"]] == [printer.state.serial]
                assert not running.done()
                stop.set()
                await asyncio.wait_for(running, 20)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and all(f"cannot listen on 127.0.0.1:{port}: Address already in use" in e
                          and "runs without it" in e for e in errors)


def test_level_history_is_thinned_and_pruned(tmp_path: Path) -> None:
    with Store.in_directory(tmp_path) as store:
        device = store.conn.execute(
            "INSERT INTO devices (first_seen, last_seen) VALUES (0, 0) RETURNING id").fetchone()[0]
        start = datetime(2026, 1, 1, tzinfo=UTC)

        def reading(at: datetime, black: int, cyan: int | None) -> None:
            status = DeviceStatus(host="127.0.91.2", read_at=at, supplies=[
                Supply(index="1.1", color="black", level_percent=black, level_state="known"),
                Supply(index="1.2", color="cyan", level_percent=cyan,
                       level_state="unknown" if cyan is None else "known")])
            with store.transaction() as db:
                record_reading(db, device, status)

        minute = timedelta(minutes=1)
        reading(start, 80, 60)
        reading(start + minute, 80, 60)  # unchanged within the step: nothing kept
        reading(start + 2 * minute, 79, None)  # black changed; cyan unknown (asleep)
        later = HISTORY_STEP + 180  # over a step after every point so far: both kept
        reading(start + timedelta(seconds=later), 79, 60)
        rows = store.conn.execute("SELECT supply_index, read_at, level_percent FROM level_history "
                                  "ORDER BY supply_index, read_at").fetchall()
        t0 = start.timestamp()
        assert [tuple(r) for r in rows] == [
            ("1.1", t0, 80), ("1.1", t0 + 120, 79), ("1.1", t0 + later, 79),
            ("1.2", t0, 60), ("1.2", t0 + later, 60)]

        reading(start + timedelta(days=HISTORY_DAYS, minutes=3), 50, 40)
        kept = store.conn.execute("SELECT MIN(read_at), COUNT(*) FROM level_history").fetchone()
        assert tuple(kept) == (t0 + later, 4)  # older than HISTORY_DAYS: pruned
        summary = json.loads(store.conn.execute(
            "SELECT summary FROM device_readings WHERE device_id = ?", (device,)).fetchone()[0])
        assert [s["level_percent"] for s in summary["supplies"]] == [50, 40]


@pytest.mark.slow
async def test_status_page_stops_with_the_daemon(tmp_path: Path) -> None:
    """SIGINT ends `printgw run`; its page and URL file go with it (the port is free again)."""
    async with uplink_setup(tmp_path, "127.0.92.1", ["mono-laser"]) as h:
        h.write_config()  # the harness's default: any free port
        daemon = await h.start_daemon()
        url_file = h.data_dir / URL_FILE
        await h.wait_for(url_file.exists, 30, "the status page's URL written")
        base = url_file.read_text().strip()
        port = int(base.rsplit(":", 1)[1].strip("/"))
        assert port != 8631
        await status_when(h, base, lambda d: len(d["devices"]) == 1, 30, "the printer read")
        assert await daemon.stop(signal.SIGINT) == 0
        assert not url_file.exists()
        assert listeners(port) == []
