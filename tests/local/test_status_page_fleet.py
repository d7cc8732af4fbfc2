"""The status page for thousands (issue 18), one fast test per feature: the summary, search,
filters, sorting, paging, the compact row with its detail link, `/api/devices?…`, and escaping of
what the query echoes.  The real page of an in-process gateway (no cloud, no mDNS) on 127.0.0.1,
its readings recorded as the poller records them.  The 1,000-printer test in headless Chromium
is `test_status_page_fleet_chromium.py`.  Addresses: 127.0.138.0-127.0.139.255 (never bound).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from gateway.app.daemon import Gateway
from gateway.device.model import (
    Alert,
    DeviceStatus,
    Identity,
    PrinterState,
    State,
    Supply,
)
from gateway.fleet.inventory import Sighting
from gateway.local.fleet_query import FleetQuery, lowest, parse_query, rank
from gateway.local.status_page import StatusPage
from gateway.settings.loading import parse_config
from protocols.hosts import free_port

ROW = re.compile(r'<tr class="device" id="device-(\d+)" data-device-id="\d+" '
                 r'data-serial="([^"]*)" data-state="([^"]*)">')
MODELS = ("LaserJet M404", "Color MFP 5000", "InkTank 310")


@dataclass(frozen=True)
class Printer:
    serial: str
    address: str
    model: str
    state: PrinterState
    levels: tuple[int, ...]
    alerts: int = 0
    location: str = "Floor 1"


def fleet() -> list[Printer]:
    """30 printers: the first 20 fine, then a stopped one, two with a low toner, one with an
    empty one, alerts on three, one whose strings are hostile."""
    printers = [Printer(f"SN-{n:03d}", f"127.0.138.{n + 1}", MODELS[n % 3], "idle",
                        (90 - n, 60 + n)) for n in range(20)]
    printers += [
        Printer("SN-STOP", "127.0.139.1", MODELS[0], "stopped", (50,), alerts=1),
        Printer("SN-LOW1", "127.0.139.2", MODELS[1], "idle", (8, 70)),
        Printer("SN-LOW2", "127.0.139.3", MODELS[1], "processing", (4, 90), alerts=2),
        Printer("SN-EMPTY", "127.0.139.4", MODELS[2], "idle", (0, 40)),
        Printer('<script>alert("x")</script>', "127.0.139.5", "<b>Evil</b>", "idle", (77,),
                location="<img src=x onerror=alert(1)>"),
    ]
    printers += [Printer(f"SN-B{n}", f"127.0.139.{10 + n}", MODELS[2], "idle", (30 + n,),
                         location="Building B") for n in range(5)]
    return printers


def record(gateway: Gateway, printer: Printer) -> int:
    device = gateway.inventory.record(Sighting(
        address=printer.address, sources=frozenset({"static"}), serial=printer.serial,
        model=printer.model, protocols=frozenset({"snmp"})))
    supplies = [Supply(index=f"1.{i + 1}", description=f"Toner {i + 1}", kind="toner",
                       color=("black", "cyan")[i % 2], level_percent=level, level_state="known")
                for i, level in enumerate(printer.levels)]
    alerts = [Alert(index=str(i), severity="warning", description=f"alert {i}")
              for i in range(printer.alerts)]
    gateway.intake.record(device, DeviceStatus(
        host=printer.address, identity=Identity(serial=printer.serial, model=printer.model,
                                                location=printer.location),
        supplies=supplies, state=State(printer_state=printer.state, alerts=alerts)))
    return device.id


@contextlib.asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    config = parse_config({
        "gateway": {"data_dir": str(tmp_path / "gateway"),
                    "sites": [{"name": "Building B", "networks": ["127.0.139.8/29"],
                               "time_zone": "Europe/Berlin"}]},
        "discovery": {"mdns": False}, "status_page": {"port": free_port()}})
    async with Gateway(config) as gateway:
        for printer in fleet():
            record(gateway, printer)
        page = StatusPage(gateway.runtime, gateway.store, gateway.metrics)
        base = await page.start()
        try:
            async with aiohttp.ClientSession() as http:
                yield base, http
        finally:
            await page.close()


async def get(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as response:
        assert response.status == 200, url
        return await response.text()


async def api(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url) as response:
        assert response.status == 200, url
        return await response.json()


def serials(html: str) -> list[str]:
    return [serial for _id, serial, _state in ROW.findall(html)]


async def test_summary_counts_the_whole_fleet(tmp_path: Path) -> None:
    async with served(tmp_path) as (base, http):
        html = await get(http, base + "?per_page=5")  # the summary is of all, not the page
        document = await api(http, base + "api/devices")
    summary = document["summary"]
    assert summary["devices"] == 30
    assert summary["by_state"] == {"idle": 28, "processing": 1, "stopped": 1}
    assert summary["problems"] == 4  # stopped, empty (rank 0); two low, one with alerts
    assert summary["with_alerts"] == 2 and summary["alerts"] == 3
    assert summary["low_supplies"] == 3 and summary["low_devices"] == 3  # 8, 4 and 0 %
    tile = re.compile(r'id="summary-(\w[\w-]*)"><a href="([^"]*)"><span class="count">(\d+)<')
    tiles = {key: (link, int(count)) for key, link, count in tile.findall(html)}
    assert tiles["devices"] == ("/", 30)
    assert tiles["problems"] == ("/?state=problem", 4)
    assert tiles["low"] == ("/?low=1&amp;sort=supply", 3)
    assert tiles["alerts"] == ("/?alerts=1", 2)
    assert tiles["soon-empty"] == ("/?soon=1&amp;sort=supply", summary["soon_empty"]) == (
        "/?soon=1&amp;sort=supply", 1)
    assert 'data-state="stopped">stopped <b>1</b>' in html
    assert len(serials(html)) == 5


async def test_problems_first_by_default_and_the_other_sorts(tmp_path: Path) -> None:
    async with served(tmp_path) as (base, http):
        first = serials(await get(http, base))
        by_supply = (await api(http, base + "api/devices?sort=supply&per_page=500"))["devices"]
        by_name = (await api(http, base + "api/devices?sort=name&order=desc"))["devices"]
        by_state = (await api(http, base + "api/devices?sort=state&per_page=500"))["devices"]
    assert first[:4] == ["SN-EMPTY", "SN-STOP", "SN-LOW2", "SN-LOW1"]  # each rank by its
    # lowest supply: empty toner and the outage (rank 0), then the low ones (rank 1)
    assert [lowest(d) for d in by_supply] == sorted(lowest(d) for d in by_supply)
    assert [rank(d) for d in by_supply[:1]] == [0]  # the empty one
    names = [d["name"].casefold() for d in by_name]
    assert names == sorted(names, reverse=True)
    assert [d["state"] for d in by_state][-1] == "stopped"  # idle, processing, …, stopped


async def test_search_matches_serial_model_address_location_and_site(tmp_path: Path) -> None:
    async with served(tmp_path) as (base, http):
        async def found(text: str) -> set[str]:
            document = await api(http, f"{base}api/devices?per_page=500&q={quote(text)}")
            return {d["serial"] for d in document["devices"]}
        assert await found("sn-low") == {"SN-LOW1", "SN-LOW2"}  # any case
        assert await found("127.0.139.4") == {"SN-EMPTY"}
        assert await found("inktank 127.0.139.1") == {"SN-B0", "SN-B1", "SN-B2", "SN-B3",
                                                      "SN-B4"}  # every word
        assert await found("building") == {f"SN-B{n}" for n in range(5)}  # location and site
        assert await found("no such printer") == set()
        html = await get(http, base + "?q=" + quote("SN-STOP"))
    assert serials(html) == ["SN-STOP"]
    assert 'value="SN-STOP"' in html  # the form shows the search


async def test_filters_state_model_site_low_alerts(tmp_path: Path) -> None:
    async with served(tmp_path) as (base, http):
        async def found(params: str) -> set[str]:
            document = await api(http, f"{base}api/devices?per_page=500&{params}")
            assert document["matched"] == len(document["devices"])
            return {d["serial"] for d in document["devices"]}
        assert await found("state=stopped") == {"SN-STOP"}
        assert await found("state=problem") == {"SN-STOP", "SN-EMPTY", "SN-LOW1", "SN-LOW2"}
        assert await found("low=1") == {"SN-LOW1", "SN-LOW2", "SN-EMPTY"}
        assert await found("alerts=1") == {"SN-STOP", "SN-LOW2"}
        assert await found("low=1&alerts=1") == {"SN-LOW2"}
        assert await found("soon=1") == {"SN-EMPTY"}  # its forecast: empty now
        assert await found("model=" + quote(MODELS[1])) == {
            "SN-LOW1", "SN-LOW2", *(f"SN-{n:03d}" for n in range(1, 20, 3))}
        assert await found("site=" + quote("Building B")) == {f"SN-B{n}" for n in range(5)}
        assert await found("state=no-such-state") == {p.serial for p in fleet()}  # ignored
        html = await get(http, base + "?state=stopped&low=1")
    assert "No device matches." in html
    assert '<option value="stopped" selected>' in html and 'name="low" value="1" checked' in html


async def test_paging_server_side(tmp_path: Path) -> None:
    async with served(tmp_path) as (base, http):
        whole = (await api(http, base + "api/devices?per_page=500"))["devices"]
        pages = [await api(http, f"{base}api/devices?per_page=7&page={n}") for n in (1, 2, 3,
                                                                                     4, 5)]
        html = await get(http, base + "?per_page=7&page=2")
        beyond = await api(http, base + "api/devices?per_page=7&page=99")
    assert [p["pages"] for p in pages] == [5] * 5
    assert [len(p["devices"]) for p in pages] == [7, 7, 7, 7, 2]
    assert [d["serial"] for p in pages for d in p["devices"]] == [d["serial"] for d in whole]
    assert serials(html) == [d["serial"] for d in pages[1]["devices"]]
    assert "8&ndash;14 of <b id=\"matched\">30</b>, page 2 of 5" in html
    assert 'rel="next" href="/?page=3&amp;per_page=7"' in html
    assert 'rel="prev" href="/?per_page=7"' in html
    assert beyond["page"] == 5  # a page beyond the last is the last


async def test_compact_row_and_its_detail_link(tmp_path: Path) -> None:
    async with served(tmp_path) as (base, http):
        html = await get(http, base + "?q=SN-LOW2")
        [(device_id, serial, state)] = ROW.findall(html)
        detail = await get(http, f"{base}devices/{device_id}")
    start = html.index('<tr class="device"')
    row = html[start:html.index("</tr>", start)]
    assert (serial, state) == ("SN-LOW2", "processing")
    assert f'<a href="/devices/{device_id}">' in row
    assert row.count('<li class="supply') == 2 and 'class="supply low"' in row
    assert '<span class="alert alerts" title="alert 0; alert 1">2</span>' in row
    assert "<div" not in row  # one line: no block inside the row
    assert "SN-LOW2" in detail and "Toner 1" in detail  # the device page has everything


async def test_hostile_strings_and_query_values_are_escaped(tmp_path: Path) -> None:
    async with served(tmp_path) as (base, http):
        hostile = '"><script>alert(1)</script>'
        html = await get(http, base + "?q=" + quote(hostile) + "&model=" + quote(hostile))
        everything = await get(http, base + "?per_page=500")
        async with http.get(base) as response:
            policy = response.headers["Content-Security-Policy"]
    assert "<script>" not in html and "<script>" not in everything
    assert "&quot;&gt;&lt;script&gt;" in html  # the search echoed, escaped
    assert "<img src=x" not in everything and "<b>Evil" not in everything
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in everything
    assert "form-action 'self'" in policy and "script-src" not in policy  # no script at all


def test_query_parameters_are_forgiven_and_round_trip() -> None:
    query = parse_query({"q": "  a   b ", "state": "stopped", "low": "1", "sort": "supply",
                         "order": "desc", "page": "3", "per_page": "20"})
    assert query == FleetQuery(text="a b", state="stopped", low=True, sort="supply",
                               descending=True, page=3, per_page=20)
    assert parse_query(dict(pair.split("=") for pair in query.params()[1:].split("&"))) == \
        FleetQuery(text="a+b", state="stopped", low=True, sort="supply", descending=True,
                   page=3, per_page=20)  # `+` is a space to a URL parser, not to split("=")
    assert parse_query({"page": "x", "per_page": "100000", "sort": "evil", "q": "x" * 999}) == \
        FleetQuery(text="x" * 200, per_page=500)
    assert FleetQuery().params() == ""
