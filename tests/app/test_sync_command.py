"""`printgw sync` (the patent's claim 10) against the real daemon: FIG. 7 now, for every printer
or the ones named, through the status page's `POST /api/sync`, which only a holder of the daemon's
token (its data directory) and no web page may call.  Addresses 127.0.115.0/24.
"""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import aiohttp
import pytest

from gateway.local.status_page import URL_FILE
from gateway.local.sync_api import TOKEN_FILE, TOKEN_HEADER
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import run
from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = pytest.mark.slow


def application_reads(h: Harness, printer_id: str) -> int:
    return sum(1 for m, p, _s in h.proxy.requests
               if m == "GET" and p == f"/v1/printers/{printer_id}/applications")


async def sync(h: Harness, *args: str) -> tuple[int, str, str]:
    return await run(*COMMAND, "sync", "--config", str(h.config_path), *args, limit=60)


async def test_sync_runs_fig7_now_for_all_or_the_named_printers(tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.115.1", ["mono-laser", "inkjet"]) as h:
        h.write_config(cloud={"push": False, "changes_poll_interval": "30s"})
        daemon = await h.start_daemon()

        async def both() -> dict | None:
            printers = await h.printers()
            return printers if len(printers) == 2 else None
        printers = await h.wait_for(both, 30, "both printers registered")
        await h.wait_for(lambda: "devices synchronised (FIG. 7)" in daemon.log(), 30,
                         "the start-up FIG. 7")
        await asyncio.sleep(0.5)  # the registrations' own syncs are over
        ids = {serial: view["printer_id"] for serial, view in printers.items()}
        before = {serial: application_reads(h, i) for serial, i in ids.items()}

        rc, out, err = await sync(h)
        assert rc == 0, err
        assert out.count(": synced") == 2, out
        for serial, printer_id in ids.items():
            assert f"serial {serial}  printer {printer_id}: synced" in out
            assert application_reads(h, printer_id) == before[serial] + 1

        laser = h.fleet.printers[0].state.serial
        rc, out, err = await sync(h, "--device", laser.lower())  # serials without case
        assert rc == 0, err
        assert out.count(": synced") == 1 and laser in out
        assert application_reads(h, ids[laser]) == before[laser] + 2
        assert sum(application_reads(h, i) for i in ids.values()) == sum(before.values()) + 3

        rc, out, err = await sync(h, "--device", "NO-SUCH-SERIAL")
        assert rc == 1
        assert "the daemon refused: no device 'NO-SUCH-SERIAL'" in err

        await check_guard(h)
        assert await daemon.stop() == 0
        assert not (h.data_dir / TOKEN_FILE).exists()  # removed at the end

        rc, out, err = await sync(h)
        assert rc == 1
        assert "no daemon to ask" in err


async def check_guard(h: Harness) -> None:
    """Only with the token from the data directory (readable by the daemon's user only), and
    never from a web page (an `Origin` header)."""
    token_file = h.data_dir / TOKEN_FILE
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    url = (h.data_dir / URL_FILE).read_text().strip() + "api/sync"
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {TOKEN_HEADER: "guessed"},
                        {TOKEN_HEADER: token, "Origin": "http://evil.example"}):
            async with http.post(url, json={"devices": []}, headers=headers) as response:
                assert response.status == 403, headers
        async with http.post(url, data="{not json", headers={TOKEN_HEADER: token}) as response:
            assert response.status == 400
        async with http.get(url, headers={TOKEN_HEADER: token}) as response:
            assert response.status == 405
