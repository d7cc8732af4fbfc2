"""Data when it is due (issue 16): a service that becomes active gets a full upload of its data
types at once; FIG. 7 at every start-up and for a printer that answers again; FIG. 9 with no
control-information round trip; the connection destination asked for again before `valid_until`.

The fleet, the reference cloud and the real `printgw run` (a child process) on loopback; the cloud
behind a `FaultProxy` that counts the gateway's requests.  Addresses 127.0.114.0/24.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

import cloud.gateway_api
from cloud.server import CloudServer
from gateway.fleet.inventory import Inventory
from gateway.settings.schema import CloudSettings, GatewaySettings
from gateway.store import DATABASE_NAME, Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.link import CloudLink
from gateway.uplink.services import ServiceSettings
from tests.support.cloud_helpers import Operator, running_cloud, sqlite_url
from tests.support.fault_proxy import FaultProxy
from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = pytest.mark.slow

TYPES = ["supplies.level", "counters.total"]
QUICK = {"push": True, "changes_poll_interval": "1s"}


def requests(h: Harness, method: str, suffix: str) -> int:
    """Requests the gateway made whose path ends with `suffix`."""
    return sum(1 for m, p, _s in h.proxy.requests if m == method and p.endswith(suffix))


def carrying(statuses: list[dict], types: list[str]) -> list[dict]:
    return [s for s in statuses if set(types) <= set(s["data"])]


async def registered(h: Harness) -> str:
    serial = h.fleet.printers[0].state.serial

    async def printer_id() -> str | None:
        view = (await h.printers()).get(serial)
        return None if view is None else view["printer_id"]
    return await h.wait_for(printer_id, 30, "the printer registered")


async def test_first_data_right_after_activation(tmp_path: Path) -> None:
    """Activated by a notice (the operator contracts while the daemon runs, the change is pushed):
    the device is read at once and a periodic upload with the new types follows within seconds,
    not at the next periodic upload (an hour here) nor the next reading (an hour)."""
    async with uplink_setup(tmp_path, "127.0.114.1", ["mono-laser"]) as h:
        await h.operator.put_service("monitoring", TYPES)
        h.write_config(cloud=QUICK, poll={"interval": "1h", "periodic_upload": "1h"})
        daemon = await h.start_daemon()
        printer_id = await registered(h)
        await h.wait_for(lambda: "synchronised (FIG. 7)" in daemon.log(), 30, "start-up FIG. 7")
        assert carrying(await h.statuses(printer_id), TYPES) == []

        started = time.monotonic()
        await h.operator.contract(printer_id, "monitoring")

        async def first_data() -> list[dict]:
            return carrying(await h.statuses(printer_id), TYPES)
        (entry, *_rest) = await h.wait_for(first_data, 20, "the first data of the new service")
        elapsed = time.monotonic() - started
        assert entry["event"] == "periodic"
        assert elapsed < 20, elapsed  # the periodic interval is 3600 s
        print(f"activation to first data: {elapsed:.2f} s")

        # A control-information change adding a type (the service now wants alerts too): the
        # same at once, every type in a periodic upload.
        started = time.monotonic()
        await h.operator.put_service("monitoring", [*TYPES, "alerts"])

        async def with_alerts() -> list[dict]:
            return carrying(await h.statuses(printer_id), [*TYPES, "alerts"])
        (entry, *_rest) = await h.wait_for(with_alerts, 20, "the added type uploaded")
        assert entry["event"] == "periodic"
        print(f"control-information change to data: {time.monotonic() - started:.2f} s")
        assert await daemon.stop() == 0


async def test_fig7_at_every_start_up(tmp_path: Path) -> None:
    """A restart runs FIG. 7 again although the last sync is recent (sync_interval 24 h)."""
    async with uplink_setup(tmp_path, "127.0.114.11", ["mono-laser"]) as h:
        h.write_config(cloud=QUICK)
        daemon = await h.start_daemon()
        await registered(h)
        await h.wait_for(lambda: requests(h, "GET", "/applications") >= 1, 30, "FIG. 7")
        assert await daemon.stop() == 0
        before = requests(h, "GET", "/applications")

        daemon = await h.start_daemon()
        await h.wait_for(lambda: requests(h, "GET", "/applications") > before, 30,
                         "FIG. 7 after the restart")
        await h.wait_for(lambda: requests(h, "GET", "/control-information") >= 2, 10,
                         "the control information too")
        assert await daemon.stop() == 0


async def test_fig7_for_a_printer_that_comes_back(tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.114.21", ["mono-laser", "mono-laser"]) as h:
        h.write_config(cloud=QUICK, poll={"interval": "1s", "unreachable_backoff_max": "2s"})
        daemon = await h.start_daemon()
        gone = h.fleet.printers[1]

        async def both() -> bool:
            return len(await h.printers()) == 2
        await h.wait_for(both, 30, "both printers registered")
        printer_id = (await h.printers())[gone.state.serial]["printer_id"]

        def reads() -> int:
            return requests(h, "GET", f"/printers/{printer_id}/applications")
        await h.fleet.set_unreachable(gone, True)
        await h.wait_for(lambda: "does not answer" in daemon.log(), 20, "the printer gone")
        await asyncio.sleep(1)
        before = reads()
        others = requests(h, "GET", "/applications") - before
        await h.fleet.set_unreachable(gone, False)
        await h.wait_for(lambda: reads() > before, 20, "FIG. 7 for the printer back")
        await h.wait_for(lambda: "1 of 1 devices synchronised (FIG. 7: answering again)"
                         in daemon.log(), 10, "the log of it")
        # the other printer, always there, is not synchronised with it
        assert requests(h, "GET", "/applications") - reads() == others
        assert await daemon.stop() == 0


async def test_fig9_activation_without_a_control_information_call(tmp_path: Path) -> None:
    """Where the service allows activation by the first upload, the device is read at once, its
    upload activates the service, and the gateway sends the service's types from then on without
    ever asking for the control information (nor sending an activation notice)."""
    async with uplink_setup(tmp_path, "127.0.114.31", ["mono-laser"]) as h:
        await h.operator.put_service("quick-start", TYPES, first_upload=True)
        h.write_config(cloud=QUICK, poll={"interval": "1h", "periodic_upload": "1h"})
        daemon = await h.start_daemon()
        printer_id = await registered(h)
        await h.wait_for(lambda: "synchronised (FIG. 7)" in daemon.log(), 30, "start-up FIG. 7")
        control_calls = requests(h, "GET", "/control-information")

        started = time.monotonic()
        app = await h.operator.contract(printer_id, "quick-start")

        async def activated() -> bool:
            view = (await h.printers())[h.fleet.printers[0].state.serial]
            return any(a["activation_state"] == "active" for a in view["applications"])
        await h.wait_for(activated, 20, "activation by the first upload")
        print(f"contract to FIG. 9 activation: {time.monotonic() - started:.2f} s")
        statuses = await h.statuses(printer_id)
        assert [s["application_ids"] for s in carrying(statuses, TYPES)] == \
            [[app["application_id"]]]
        assert requests(h, "POST", "/activations") == 0
        # the service's types are in the gateway's table from the application information
        await h.wait_for(lambda: set(TYPES) <= set(table(h)), 10, "the types in the table")
        await asyncio.sleep(2)  # a late control-information call would show by now
        assert requests(h, "GET", "/control-information") == control_calls
        assert await daemon.stop() == 0


def table(h: Harness) -> list[str]:
    """The types the running daemon's transmission data type table sends (its store)."""
    with sqlite3.connect(f"file:{h.data_dir / DATABASE_NAME}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT current FROM transmission_types").fetchall()
    return [t for (current,) in rows for t in json.loads(current)]


# -- the connection destination -------------------------------------------------------------------


async def test_destination_asked_again_before_valid_until(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The cloud gives a destination valid for 3 s: the gateway asks again before it passes, uses
    a new endpoint from then on, and keeps the old one (retrying with back-off) while the entry
    URL fails."""
    monkeypatch.setattr(cloud.gateway_api, "DESTINATION_VALIDITY", timedelta(seconds=3))
    async with FaultProxy(upstream="", host="127.0.114.41") as entry, \
            FaultProxy(upstream="", host="127.0.114.42") as first, \
            FaultProxy(upstream="", host="127.0.114.43") as second, \
            running_cloud(sqlite_url(tmp_path), regions={"jp": first.url}) as server:
        for proxy in (entry, first, second):
            proxy.upstream = server.url
        token = await enrolment_token(server)
        with Store.in_directory(tmp_path / "data") as store:
            link = link_for(store, entry.url, token)
            stop = asyncio.Event()
            await link.connect()
            keeper = asyncio.create_task(link.keep_destination(stop))
            try:
                await check_destination(link, server, entry, first, second)
            finally:
                stop.set()
                await keeper
                await link.close()


def destinations(entry: FaultProxy) -> list[int]:
    return [s for m, p, s in entry.requests if p == "/v1/connection-destination"]


async def check_destination(link: CloudLink, server: CloudServer, entry: FaultProxy,
                            first: FaultProxy, second: FaultProxy) -> None:
    assert destinations(entry) == [200]
    assert link.client.base_url.rstrip("/") == first.url
    stored = link.destination.stored()
    assert stored is not None and stored.valid_until is not None
    assert 1 < stored.valid_until - time.time() <= 3.5

    server.settings.regions["jp"] = second.url  # type: ignore[index]
    await until(lambda: len(destinations(entry)) >= 2, 5, "asked again before valid_until")
    await until(lambda: link.client.base_url.rstrip("/") == second.url, 2, "the new endpoint")
    assert link.state.get("base_url") == second.url

    entry.mode = "error500"
    asked = len(destinations(entry))
    await until(lambda: len(destinations(entry)) >= asked + 2, 10, "retried with back-off")
    assert link.client.base_url.rstrip("/") == second.url  # kept
    assert "connection destination again" in (link.status.last_error or "")


async def until(check: object, within: float, what: str) -> None:
    end = time.monotonic() + within
    while not check():  # type: ignore[operator]
        assert time.monotonic() < end, f"not within {within} s: {what}"
        await asyncio.sleep(0.05)


def link_for(store: Store, url: str, token: str) -> CloudLink:
    gateway = GatewaySettings(name="destination-test", region="jp", time_zone="Asia/Tokyo")
    settings = CloudSettings.model_validate({"url": url, "enrolment_token": token,
                                             "push": False})
    return CloudLink(lambda: gateway, lambda: settings, CloudState(store), Inventory(store),
                     ServiceSettings(default=False))


async def enrolment_token(server: CloudServer) -> str:
    async with aiohttp.ClientSession() as http:
        return await Operator(http, server.url).enrolment_token()
