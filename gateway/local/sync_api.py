"""`POST /api/sync` on the status page: FIG. 7 now for one printer, some or all (the patent's
claim 10), as `printgw sync` asks it of the running daemon.

The status page has no login, and this call makes the daemon talk to the cloud, so it is guarded
against other programs and against web pages a browser on this machine opens:

- it needs the header `X-Printgw-Sync-Token` with the token the daemon writes to `sync.token` in
  its data directory when the page starts (mode 0600: only the daemon's user — and root — can
  read it; it changes at every start and is removed at the end);
- a request with an `Origin` header (every cross-site or same-site `fetch`/form POST a browser
  sends) is refused: `printgw sync` sends none.  A browser cannot add the custom header to a
  cross-site request without a CORS preflight, which the page never allows.

The body is `{"devices": ["12", "SERIAL"...]}` (device IDs or serial numbers; empty or absent:
every device); the answer is `{"synced": [...]}`, one `SyncedDevice` document per device.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

TOKEN_FILE = "sync.token"
TOKEN_HEADER = "X-Printgw-Sync-Token"
MAX_SELECTORS = 1000


@dataclass(frozen=True)
class SyncedDevice:
    """What FIG. 7 did for one device."""

    device_id: int
    serial: str | None
    address: str | None
    printer_id: str | None
    result: str
    """`synced`, `failed`, `busy` (being synchronised already) or `no-reading` (not read yet:
    nothing to register or judge by)."""
    detail: str | None = None


class SyncRefused(Exception):
    """The daemon cannot run the sync: no such device (404), no cloud link up (503)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


SyncNow = Callable[[Sequence[str]], Awaitable[list[SyncedDevice]]]


def write_token(data_dir: Path) -> str:
    """A new token in `data_dir/sync.token`, readable by this user only."""
    token = secrets.token_urlsafe(32)
    path = data_dir / TOKEN_FILE
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    return token


def read_token(data_dir: Path) -> str | None:
    try:
        return (data_dir / TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


def sync_handler(sync: SyncNow, token: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The route's handler for the daemon's `sync` and the token it wrote."""

    async def handle(request: web.Request) -> web.Response:
        if "Origin" in request.headers:
            raise web.HTTPForbidden(text="not from a web page\n")
        given = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPForbidden(text=f"{TOKEN_HEADER} missing or wrong (it is in "
                                         f"{TOKEN_FILE} in the data directory)\n")
        selectors = _selectors(await request.read())
        try:
            synced = await sync(selectors)
        except SyncRefused as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        return web.json_response({"synced": [asdict(s) for s in synced]})

    return handle


def _selectors(body: bytes) -> list[str]:
    if not body:
        return []
    try:
        document = json.loads(body)
    except ValueError:
        raise web.HTTPBadRequest(text="the body is not JSON\n") from None
    devices = document.get("devices", []) if isinstance(document, dict) else None
    if not isinstance(devices, list) or len(devices) > MAX_SELECTORS \
            or not all(isinstance(d, str) and 0 < len(d) <= 200 for d in devices):
        raise web.HTTPBadRequest(text='expected {"devices": ["ID or serial", ...]}\n')
    return devices


@dataclass(frozen=True)
class SyncAnswer:
    status: int
    document: dict[str, Any]


async def request_sync(url: str, token: str, selectors: Sequence[str],
                       seconds: float) -> SyncAnswer | None:
    """Ask the daemon's page at `url`; None when nothing answers there."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as http, \
                http.post(url.rstrip("/") + "/api/sync", json={"devices": list(selectors)},
                          headers={TOKEN_HEADER: token}) as response:
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        document = {"error": text.strip()}
    return SyncAnswer(response.status, document if isinstance(document, dict)
                      else {"error": str(document)})
