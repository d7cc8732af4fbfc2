"""A device whose identity the reference cloud refuses (S0603 answered 422 or 409) is flagged with
the reason, shown on the status page, kept across a restart, and not asked for again at every
sync: only once its identity changes, or after the sync interval."""

from __future__ import annotations

import zoneinfo
from pathlib import Path

from cloud.server import CloudServer
from gateway.device.model import DeviceStatus, Identity
from gateway.fleet.inventory import Device, Inventory, Sighting
from gateway.local.live_view import FleetView
from gateway.local.page_html import render_device, render_fleet
from gateway.settings.loading import parse_config
from gateway.settings.schema import CloudSettings, GatewaySettings
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.link import CloudLink
from gateway.uplink.services import ServiceSettings
from tests.support.cloud_helpers import Operator
from tests.support.fault_proxy import FaultProxy
from tests.support.outbox_entries import Clock

pytest_plugins = ("tests.support.cloud_helpers",)

SYNC_INTERVAL = 3600.0
LONG_MODEL = "LaserJet " + "M" * 300
"""What a discovery hint (mDNS `ty`) may carry: longer than the 256 characters the cloud takes."""


def link_for(store: Store, clock: Clock, url: str, token: str) -> CloudLink:
    gateway = GatewaySettings(name="refusal-test", region="jp", time_zone="Asia/Tokyo")
    cloud = CloudSettings.model_validate({"url": url, "enrolment_token": token,
                                          "sync_interval": SYNC_INTERVAL, "push": False})
    state = CloudState(store, clock=clock)
    state.set("base_url", url)  # the regional endpoint is the proxy too: every request counted
    state.set("region", "jp")
    return CloudLink(lambda: gateway, lambda: cloud, state, Inventory(store),
                     ServiceSettings(default=False))


def device(store: Store, serial: str, **hints: str) -> Device:
    return Inventory(store).record(Sighting(address="127.0.0.1", sources=frozenset({"static"}),
                                            serial=serial, **hints))


def registrations(proxy: FaultProxy) -> list[int]:
    return [status for method, path, status in proxy.requests
            if method == "POST" and path == "/v1/printers"]


async def test_a_refused_identity_is_shown_kept_and_not_asked_again_in_a_loop(
        tmp_path: Path, store: Store, clock: Clock, cloud: CloudServer,
        operator: Operator) -> None:
    token = await operator.enrolment_token()
    async with FaultProxy(cloud.url) as proxy:
        links = [link_for(store, clock, proxy.url, token)]
        try:
            await check_refusals(tmp_path, store, clock, proxy, links)
        finally:
            for link in links:
                await link.close()


async def check_refusals(tmp_path: Path, store: Store, clock: Clock, proxy: FaultProxy,
                         links: list[CloudLink]) -> None:
    link = links[0]
    await link.connect()
    refused = device(store, "SN-REFUSED", model=LONG_MODEL)
    good = device(store, "SN-GOOD")
    conflict = device(store, "SN-GOOD-TWIN")
    refused_status = DeviceStatus("127.0.0.1", identity=Identity(serial="SN-REFUSED",
                                                                  manufacturer="HP"))
    readings = [
        (refused, refused_status),
        (good, DeviceStatus("127.0.0.2", identity=Identity(
            serial="SN-GOOD", manufacturer="HP", model="LaserJet M404"))),
        # the same serial as `good`, another manufacturer: the cloud's serial-conflict
        (conflict, DeviceStatus("127.0.0.3", identity=Identity(
            serial="SN-GOOD", manufacturer="Canon", model="LBP 6030"))),
    ]
    assert await link.sync_all(readings[:2]) == 1
    assert await link.sync_all(readings) == 1
    assert sorted(registrations(proxy)) == [201, 409, 422]
    why = link.status.skipped[refused.id]
    assert why.startswith("registration refused: the cloud refused the request: HTTP 422")
    assert "/product_name" in why
    assert "HTTP 409 serial-conflict" in link.status.skipped[conflict.id]

    # every later sync, full or not, and every reading of the device: not asked again
    for _ in range(5):
        await link.sync_all(readings)
        await link.sync_all([readings[0]], full=False)
    assert len(registrations(proxy)) == 3

    # a restart: the refusals are in the store, shown without the daemon, not asked again
    await link.close()
    link = link_for(store, clock, proxy.url, "enrolled-already")  # the token is in the store
    links.append(link)
    await link.connect()
    view = FleetView(store, parse_config({"gateway": {"data_dir": str(tmp_path / "data"),
                                                      "name": "refusal-test"}}))
    snapshot = view.snapshot()
    shown = {e["device_id"]: e["message"] for e in snapshot["errors"]
             if e["source"] == "registration"}
    assert shown == {refused.id: why, conflict.id: link.state.refusal(conflict.id).reason}
    page = render_fleet(snapshot, zoneinfo.ZoneInfo("UTC"))
    assert page.count('class="sub bad registration-refused"') == 2
    assert "HTTP 422 validation-failed" in page
    one = view.device(refused.id)
    assert one is not None and one["registration_refused"]["status"] == 422
    assert "<th>Cloud registration</th>" in render_device(snapshot, one, {},
                                                          zoneinfo.ZoneInfo("UTC"))
    await link.sync_all(readings)
    assert len(registrations(proxy)) == 3
    assert link.status.skipped[refused.id] == why

    # once the sync interval has passed: asked once more (refused again), then not again
    clock.now += SYNC_INTERVAL
    await link.sync_all(readings)
    await link.sync_all(readings)
    assert sorted(registrations(proxy)) == [201, 409, 409, 422, 422]

    # its identity changes (the reading now names a model the cloud takes): asked at once
    refused_status.identity.model = "LaserJet M404"
    assert await link.sync_all([readings[0]], full=False) == 1
    assert registrations(proxy)[-1] == 201
    assert link.state.printer_id(refused.id) is not None
    assert link.state.refusal(refused.id) is None
    assert refused.id not in link.status.skipped
    registered = view.device(refused.id)
    assert registered is not None and registered["registration_refused"] is None
    assert refused.id not in {e["device_id"] for e in view.snapshot()["errors"]}
