"""The local status page `printgw run` serves (`[status_page]`, 127.0.0.1:8639 by default).

Plain server-rendered HTML (`gateway/local/page_html.py`), no JavaScript, readable on a phone (the
fleet table becomes one card per device on a narrow screen), refreshed by the browser:

- `/?q=…&state=…&model=…&site=…&low=1&alerts=1&sort=…&order=desc&page=…&per_page=…`: the fleet
  for thousands (docs/status-page.md) — the cloud link and the outbox in the header; a summary of
  the whole fleet (`page_summary`); a GET form for search and filters; one page of compact rows
  (`fleet_query`: problems first by default), each its state, name and model, address, lowest
  supplies as small bars, alert count and last reading, linking to its device page;
- `/api/devices?…` (the same parameters): that page of devices as JSON, with the summary;
- `/devices/{id}`: one device in full (supply bars with the low threshold and forecasts, alerts,
  contract mode and support services, last upload), its level history as an inline SVG chart;
- `/api/status`: the same data as JSON (`FleetView.snapshot()`; `printgw status --json` prints
  it); `/api/devices/{id}`: one device and its level history;

  an id that names no device — unknown, or beyond any database row id (1 to 2^63 - 1) — is 404;
- `/metrics`: Prometheus text format (`gateway/local/metrics.py`);
- `POST /api/sync`: FIG. 7 now, for `printgw sync` (`gateway/local/sync_api.py`: a token from the
  data directory, no browser requests).

The page has no login: it listens on loopback unless the administrator configures another
address.  On loopback it also answers only requests addressed to a loopback name or address, so
a web page elsewhere cannot read it through DNS rebinding.  The running page's URL is written to
`status-page.url` in the data directory, where `printgw status` finds it (with `port = 0` the
port is only known there and in the log).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import time
import zoneinfo
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from gateway.local.fleet_query import FleetPage, parse_query, select
from gateway.local.live_view import FleetView, iso
from gateway.local.metrics import GatewayMetrics, exposition
from gateway.local.page_html import render_device, render_fleet
from gateway.local.page_owner import clear_start_failure, data_dir_id, record_start_failure
from gateway.local.page_summary import summarise
from gateway.local.runtime import GatewayRuntime
from gateway.local.sync_api import TOKEN_FILE, SyncNow, sync_handler, write_token
from gateway.settings.schema import Config
from gateway.store import Store
from protocols.hosts import is_loopback_host

log = logging.getLogger(__name__)

URL_FILE = "status-page.url"
MAX_DEVICE_ID = 2**63 - 1
"""The largest SQLite row id: a larger id in a URL names no device (and SQLite cannot take it)."""
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class StatusPageError(Exception):
    """The page cannot be served (e.g. its port is in use)."""


class StatusPage:
    """The page's web server for a running daemon: what it shows comes from the store and the
    daemon's read-only `GatewayRuntime`; `/metrics` from the daemon's registry."""

    def __init__(self, runtime: GatewayRuntime, store: Store, metrics: GatewayMetrics,
                 sync: SyncNow | None = None) -> None:
        self.runtime = runtime
        self.sync = sync
        self.metrics = metrics
        self.settings = runtime.config().status_page
        self.view = FleetView(store, runtime.config(), runtime)
        self.url: str | None = None
        metrics.read_store(self.view)
        self._runner: web.AppRunner | None = None
        self._loopback = True
        self._url_file = Path(store.path).parent / URL_FILE

    async def start(self) -> str:
        """Listen; returns the page's URL (logged).  Raises `StatusPageError`."""
        host, port = self.settings.host, self.settings.port
        app = web.Application(middlewares=[self._guard])
        app.add_routes([web.get("/", self._fleet_page),
                        web.get(r"/devices/{device_id:\d+}", self._device_page),
                        web.get("/api/status", self._api_status),
                        web.get("/api/devices", self._api_devices),
                        web.get(r"/api/devices/{device_id:\d+}", self._api_device),
                        web.get("/metrics", self._metrics)])
        if self.sync is not None:
            token = write_token(self._url_file.parent)
            app.router.add_post("/api/sync", sync_handler(self.sync, token))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            await runner.cleanup()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise StatusPageError(f"cannot listen on {_netloc(host, port)}: {reason}") from exc
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self._loopback = ipaddress.ip_address(bound_host).is_loopback
        self.url = f"http://{_netloc(bound_host, bound_port)}/"
        self.view.page_url = self.url
        self.view.since = time.time()
        local = self.url
        if ipaddress.ip_address(bound_host).is_unspecified:
            local = f"http://{_netloc('127.0.0.1', bound_port)}/"
            log.warning("the status page listens on every interface (%s), without a login",
                        bound_host)
        self._url_file.write_text(local + "\n")
        log.info("status page on %s", self.url)
        return self.url

    async def close(self) -> None:
        if self._runner is None:
            return
        with contextlib.suppress(OSError):
            self._url_file.unlink()
        with contextlib.suppress(OSError):
            (self._url_file.parent / TOKEN_FILE).unlink()
        await self._runner.cleanup()
        self._runner = None

    # -- requests --------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                     ) -> web.StreamResponse:
        if self._loopback and not is_loopback_host(request.url.host):
            raise web.HTTPMisdirectedRequest(text="this page answers on loopback only\n")
        response = await handler(request)
        response.headers.update(_HEADERS)
        return response

    @property
    def _zone(self) -> zoneinfo.ZoneInfo:
        """Times are shown in the installation's time zone."""
        return zoneinfo.ZoneInfo(self.runtime.config().gateway.time_zone)

    async def _fleet_page(self, request: web.Request) -> web.Response:
        snapshot = self.view.snapshot()
        return _html(render_fleet(snapshot, self._zone, self._select(request, snapshot)))

    async def _api_devices(self, request: web.Request) -> web.Response:
        """The fleet page's rows as JSON: the same query parameters (`fleet_query`)."""
        snapshot = self.view.snapshot()
        document = {"generated_at": snapshot["generated_at"],
                    "summary": summarise(snapshot).to_json(),
                    **self._select(request, snapshot).to_json()}
        return web.json_response(document, dumps=_dumps)

    def _select(self, request: web.Request, snapshot: dict[str, Any]) -> FleetPage:
        return select(snapshot["devices"], parse_query(request.query),
                      self.runtime.config().gateway.sites)

    async def _device_page(self, request: web.Request) -> web.Response:
        device_id, device = self._device(request)
        snapshot = self.view.snapshot()
        return _html(render_device(snapshot, device, self.view.history(device_id), self._zone))

    async def _api_status(self, _request: web.Request) -> web.Response:
        document = self.view.snapshot()
        # which gateway this is, for `printgw status` (gateway/local/page_owner.py)
        document["gateway"]["data_dir_id"] = data_dir_id(self._url_file.parent)
        return web.json_response(document, dumps=_dumps)

    async def _api_device(self, request: web.Request) -> web.Response:
        device_id, device = self._device(request)
        history = {index: [[iso(at), level] for at, level in points]
                   for index, points in self.view.history(device_id).items()}
        return web.json_response({"device": device, "history": history}, dumps=_dumps)

    def _device(self, request: web.Request) -> tuple[int, dict[str, Any]]:
        """The device the URL's id names, or 404 (an id out of range is not looked up)."""
        text = request.match_info["device_id"]
        device_id = int(text) if len(text) <= 19 else MAX_DEVICE_ID + 1
        device = self.view.device(device_id) if 0 < device_id <= MAX_DEVICE_ID else None
        if device is None:
            raise web.HTTPNotFound(text=f"no device {text[:40]}\n")
        return device_id, device

    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = await exposition(self.metrics.registry,
                                              request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})


async def start_status_page(runtime: GatewayRuntime, store: Store, metrics: GatewayMetrics,
                            sync: SyncNow | None = None) -> StatusPage | None:
    """The daemon's page when `[status_page] enabled` (with `POST /api/sync` given `sync`);
    None when disabled or it cannot listen (logged: the daemon goes on without it)."""
    if not runtime.config().status_page.enabled:
        return None
    page = StatusPage(runtime, store, metrics, sync)
    data_dir = Path(store.path).parent
    try:
        await page.start()
    except StatusPageError as exc:
        log.error("status page: %s; the gateway runs without it (change [status_page] host or "
                  "port, or set enabled = false)", exc)
        record_start_failure(data_dir, str(exc))  # for `printgw status`
        return None
    clear_start_failure(data_dir)
    return page


def local_url(config: Config) -> str:
    """Where `printgw status` on this machine asks: the URL the running daemon wrote in its data
    directory, else the configured address (an any-address as loopback)."""
    with contextlib.suppress(OSError):
        written = (Path(config.gateway.data_dir) / URL_FILE).read_text().strip()
        if written:
            return written
    host = config.status_page.host
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_unspecified:
            host = "127.0.0.1" if ipaddress.ip_address(host).version == 4 else "::1"
    return f"http://{_netloc(host, config.status_page.port)}/"


async def fetch_status(url: str, seconds: float = 5.0) -> dict[str, Any] | None:
    """The running daemon's `/api/status` document, or None when no printgw daemon answers."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as http, \
                http.get(url.rstrip("/") + "/api/status") as response:
            if response.status != 200:
                return None
            document = await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    return document if isinstance(document, dict) and "daemon" in document else None


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1)


def _html(body: str) -> web.Response:
    return web.Response(text=body, content_type="text/html", charset="utf-8")
