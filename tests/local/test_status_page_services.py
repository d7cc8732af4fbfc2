"""FIG. 10's reasons where people look (issue 16): the `/api/status` document, the fleet table's
service column, the device page and the `printgw status` table, from a real store."""

from __future__ import annotations

import io
import re
import zoneinfo
from html import unescape
from pathlib import Path

from rich.console import Console

from gateway.device.model import DeviceStatus, Supply
from gateway.fleet.inventory import Inventory, Sighting
from gateway.local.live_view import FleetView
from gateway.local.page_html import render_device, render_fleet
from gateway.local.status_table import print_fleet
from gateway.settings.loading import parse_config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.enable_overrides import EnableOverrides
from gateway.uplink.service_judge import judge_services
from gateway.uplink.services import ServiceSettings
from protocols.cloud.registration import Application


def application(service_id: str, **extra: object) -> Application:
    return Application.from_json({
        "service_id": service_id, "service_outline": service_id,
        "application_id": f"a-{service_id}",
        "provider": "Example Provider", "application_date": "2026-12-01",
        "activation_state": "inactive", "compatible_cartridge_models": [],
        "data_types": ["supplies.level"], "activation_by_first_upload": False, **extra})


def text(html: str) -> str:
    """What a reader sees of a page: its text without the tags."""
    return re.sub(r"<[^>]+>", "", html)


def test_each_services_reason_is_in_the_document_the_pages_and_the_table(tmp_path: Path) -> None:
    config = parse_config({"gateway": {"data_dir": str(tmp_path / "gateway")},
                           "discovery": {"mdns": False}})
    with Store.in_directory(tmp_path / "gateway") as store:
        device = Inventory(store).record(Sighting(address="192.0.2.7", serial="LEG-1",
                                                  sources=frozenset({"static"}),
                                                  model="Legacy <Laser>"))
        state = CloudState(store)
        state.set_printer(device.id, "p-1", "LEG-1", False)
        apps = [application("contract-printing", required_functions=["contract"]),
                application("toner-delivery", compatible_cartridge_models=["TN-9"]),
                application("monitoring")]
        status = DeviceStatus(host="192.0.2.7", reachable={"snmp": True}, supplies=[
            Supply(index="1.1", color="black", kind="toner", part_number="TN-1",
                   level_percent=40, level_state="known")])
        decisions = judge_services(device, status, apps, ServiceSettings(default=True),
                                   EnableOverrides(store), {})
        state.save_applications(device.id, apps, decisions)

        snapshot = FleetView(store, config).snapshot()
    [shown] = snapshot["devices"]
    reasons = {s["service_id"]: (s["reason"], s["reason_text"]) for s in shown["services"]}
    assert reasons["contract-printing"][0] == "missing-function:contract"
    assert reasons["toner-delivery"][0] == "incompatible-cartridge"
    assert "the device has TN-1" in reasons["toner-delivery"][1]
    assert reasons["monitoring"][0] == "active"

    zone = zoneinfo.ZoneInfo("UTC")
    assert "LEG-1" in unescape(render_fleet(snapshot, zone))  # the row; services: its page
    page = text(unescape(render_device(snapshot, shown, {}, zone)))
    assert "contract-printing: inactive (missing-function:contract)" in page
    assert "requires the contract function" in page  # the reason in words
    assert "toner-delivery: inactive (incompatible-cartridge)" in page
    assert "supports cartridge models TN-9; the device has TN-1" in page

    out = io.StringIO()
    print_fleet({**snapshot, "daemon": {"running": False, "status_page": None}},
                Console(file=out, width=250, color_system=None))
    table = out.getvalue()
    assert "contract-printing: inactive" in table and "(missing-function:contract)" in table
    assert "toner-delivery: inactive (incompatible-cartridge)" in table
