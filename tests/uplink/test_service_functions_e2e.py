"""FIG. 10 on the device's real functions, end to end (issue 16): the virtual fleet, the reference
cloud and the real `printgw run` daemon.

- a contract-printing service (`required_functions: [contract]`) becomes active on the printer
  with the contract MIB, never on `legacy-laser`, which has none;
- a cartridge swap to a compatible model is judged again at the next reading: the service becomes
  active within a couple of poll intervals, not at the next daily FIG. 7;
- the reasons are in the daemon's log (once per device and service), the status page's
  `/api/status` and HTML, and `printgw status --json`.

Addresses: 127.0.112.0-127.0.113.255.
"""

from __future__ import annotations

import asyncio
import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from protocols.hosts import free_port
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import run
from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = pytest.mark.slow

POLL = 2.0
"""The poll interval (seconds): a re-judgement is due within a couple of them."""


async def cloud_states(h: Harness) -> dict[tuple[str, str], str]:
    """(serial, service ID) → the activation state the cloud has."""
    return {(serial, app["service_id"]): app["activation_state"]
            for serial, view in (await h.printers()).items() for app in view["applications"]}


async def status_document(base: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(base + "api/status") as response:
        assert response.status == 200
        return await response.json()


def services_of(document: dict[str, Any], serial: str) -> dict[str, dict[str, Any]]:
    [device] = [d for d in document["devices"] if d["serial"] == serial]
    return {s["service_id"]: s for s in device["services"]}


async def test_contract_function_and_cartridge_swap_decide_activation(tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.112.1", ["mono-laser", "legacy-laser"]) as h:
        await h.operator.ok("putService", path={"service_id": "contract-printing"}, json_body={
            "service_outline": "Flat-rate printing", "provider": "Example Provider",
            "data_types": ["contract", "counters.contract", "supplies.level"],
            "required_functions": ["contract"], "kind": "contract-printing"})
        await h.operator.put_service("toner-next", ["supplies.level", "supplies.model"],
                                     models=["TN-250"])
        mono, legacy = h.fleet.printers
        port = free_port()
        h.write_config(poll={"interval": f"{POLL:g}s"}, status_page={"port": port},
                       services={"default": True})
        daemon = await h.start_daemon()
        base = f"http://127.0.0.1:{port}/"

        printers = await h.wait_for(
            lambda: _all_registered(h), 60, "both printers registered")
        for view in printers.values():
            for service_id in ("contract-printing", "toner-next"):
                await h.operator.contract(view["printer_id"], service_id)

        # The contract MIB decides: active on the mono laser, never on the legacy one.
        await h.wait_for(lambda: _state_is(h, mono.state.serial, "contract-printing", "active"),
                         30, "contract printing active on the printer with the contract MIB")
        document = await h.wait_for(
            lambda: _reason_shown(base, legacy.state.serial, "contract-printing"), 30,
            "the legacy printer's contract-printing decision on the status page")
        legacy_services = services_of(document, legacy.state.serial)
        assert legacy_services["contract-printing"]["reason"] == "missing-function:contract"
        assert "contract function" in legacy_services["contract-printing"]["reason_text"]
        assert legacy_services["toner-next"]["reason"] == "incompatible-cartridge"
        states = await cloud_states(h)
        assert states[legacy.state.serial, "contract-printing"] != "active"
        assert states[mono.state.serial, "toner-next"] != "active"

        # A compatible cartridge put in: judged again at the next reading, not at the next sync.
        toner = mono.state.supply("black")
        toner.description = "Black Toner Cartridge TN-250"
        mono.state.replace("black")
        swapped = asyncio.get_running_loop().time()
        await h.wait_for(lambda: _state_is(h, mono.state.serial, "toner-next", "active"),
                         4 * POLL + 10, "the swapped-in compatible cartridge's service active")
        took = asyncio.get_running_loop().time() - swapped
        document = await status_document(base)
        assert services_of(document, mono.state.serial)["toner-next"]["reason"] == "active"
        await _never_active(h, legacy.state.serial, "contract-printing")

        # The log: one line per device and service when the reason changes, not per reading.
        log = daemon.log()
        lines = re.findall(r"services: device \d+ \((\S+)\) service (\S+): (\S+)", log)
        assert (legacy.state.serial, "contract-printing", "missing-function:contract") in lines
        assert (mono.state.serial, "toner-next", "incompatible-cartridge") in lines
        assert (mono.state.serial, "toner-next", "active") in lines
        assert len(lines) == len(set(lines)), lines  # no repeats: the reasons changed once each

        # The device's page (the fleet rows link to it) and `printgw status --json`.
        [shown_device] = [d for d in document["devices"] if d["serial"] == legacy.state.serial]
        async with aiohttp.ClientSession() as http, \
                http.get(f"{base}devices/{shown_device['id']}") as response:
            html = unescape(await response.text())
        assert "(missing-function:contract)" in re.sub(r"<[^>]+>", "", html)
        rc, out, err = await run(*COMMAND, "status", "--config", str(h.config_path), "--json")
        assert rc == 0, err
        shown = services_of(json.loads(out), legacy.state.serial)
        assert shown["contract-printing"]["reason"] == "missing-function:contract"
        assert took < 4 * POLL + 10


async def _all_registered(h: Harness) -> dict[str, dict[str, Any]] | None:
    printers = await h.printers()
    return printers if len(printers) == len(h.fleet.printers) else None


async def _state_is(h: Harness, serial: str, service_id: str, state: str) -> bool:
    return (await cloud_states(h)).get((serial, service_id)) == state


async def _reason_shown(base: str, serial: str, service_id: str) -> dict[str, Any] | None:
    document = await status_document(base)
    service = services_of(document, serial).get(service_id)
    return document if service is not None and service.get("reason") else None


async def _never_active(h: Harness, serial: str, service_id: str) -> None:
    assert (await cloud_states(h)).get((serial, service_id)) != "active"
