"""The status page shows each printer's contract mode, its prohibition and its panel message, as
the device last reported them (issue 15: `printgw demo --contract-change` is watched there).

In process: a gateway without a cloud, its page on loopback, two readings recorded the way the
poller records them.  Addresses: 127.0.99.201-127.0.99.202.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from gateway.app.daemon import Gateway
from gateway.device.model import Contract, DeviceStatus, Identity, State
from gateway.fleet.inventory import Sighting
from gateway.local.status_page import StatusPage
from gateway.settings.loading import parse_config
from protocols.hosts import free_port

PANEL = 'Please install the <contract> cartridge "now".'


def record(gateway: Gateway, address: str, serial: str, contract: Contract) -> int:
    device = gateway.inventory.record(Sighting(
        address=address, sources=frozenset({"static"}), serial=serial,
        protocols=frozenset({"snmp"})))
    gateway.intake.record(device, DeviceStatus(
        host=address, identity=Identity(serial=serial), state=State(printer_state="idle"),
        contract=contract))
    return device.id


async def test_contract_mode_and_panel_message_on_the_fleet_and_device_pages(
        tmp_path: Path) -> None:
    config = parse_config({"gateway": {"data_dir": str(tmp_path / "gateway")},
                           "discovery": {"mdns": False}, "status_page": {"port": free_port()}})
    async with Gateway(config) as gateway:
        new = record(gateway, "127.0.99.201", "NEW-1", Contract(
            supported=True, mode="contract-non-billing", printing_prohibited=True,
            panel_message=PANEL))
        old = record(gateway, "127.0.99.202", "OLD-1", Contract(
            supported=True, mode="non-contract", printing_prohibited=False, panel_message=""))
        page = StatusPage(gateway.runtime, gateway.store, gateway.metrics)
        base = await page.start()
        try:
            async with aiohttp.ClientSession() as http:
                pages = {}
                for path in ("", f"devices/{new}", f"devices/{old}"):
                    async with http.get(base + path) as response:
                        assert response.status == 200
                        pages[path] = await response.text()
                async with http.get(base + "api/status") as response:
                    devices = {d["serial"]: d for d in (await response.json())["devices"]}
        finally:
            await page.close()

    shown = ('<div class="contract">contract-non-billing <span class="bad">printing prohibited'
             '</span></div><div class="panel sub">Panel: “Please install the &lt;contract&gt; '
             'cartridge &quot;now&quot;.”</div>')
    assert shown in pages[""] and shown in pages[f"devices/{new}"]
    assert '<div class="contract">non-contract</div>' in pages[f"devices/{old}"]
    assert "Panel:" not in pages[f"devices/{old}"]  # no message, no line
    assert devices["NEW-1"]["contract"] == {"supported": True, "mode": "contract-non-billing",
                                            "printing_prohibited": True, "panel_message": PANEL}
    assert devices["OLD-1"]["contract"]["panel_message"] == ""
