"""Providers end to end (issue 16): the real `printgw run` daemon, the reference cloud, a virtual
colour MFP driven through the simulator's control API, and two providers as real webhook
receivers on loopback.

Shown: the provider is told of activation, suspension, resumption and cancellation; one
consumable order per cartridge cycle (a toner drained past the order threshold and then to empty
orders once; replaced and drained again, once more); the provider switch (another provider's
service of the same kind activated: the first one deactivated and its provider told, the
gateway's own table with one of the two active).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.store import DATABASE_NAME
from protocols.hosts import free_port
from simulator.control_api import start_control_api
from simulator.fleet import Fleet
from tests.support.contract_helpers import WebhookReceiver, webhook_receiver
from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = pytest.mark.slow

SECRET = b"provider-e2e-secret-0123456789"
FLEET_IP = "127.0.110.1"
PROVIDER_A, PROVIDER_B, CONTROL = "127.0.111.1", "127.0.111.2", "127.0.111.3"
DATA_TYPES = ["supplies.level", "supplies.kind", "supplies.color", "supplies.model"]


@contextlib.asynccontextmanager
async def control_api(fleet: Fleet) -> AsyncIterator[str]:
    """The simulator's control API for `fleet`: its base URL."""
    port = free_port(CONTROL)
    runner = await start_control_api(fleet, CONTROL, port)
    try:
        yield f"http://{CONTROL}:{port}/printers/0"
    finally:
        await runner.cleanup()


async def control(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
    async with http.post(url, json=body) as response:
        assert response.status == 200, await response.text()


async def define(h: Harness, service_id: str, provider: str, endpoint: str) -> None:
    await h.operator.ok("putService", path={"service_id": service_id}, json_body={
        "service_outline": f"Toner delivery by {provider}", "provider": provider,
        "data_types": DATA_TYPES, "kind": "supplies-delivery", "provider_endpoint": endpoint,
        "order_threshold_percent": 20})


def gateway_states(h: Harness) -> dict[str, str]:
    """The gateway's own application table (its database, read only)."""
    uri = f"file:{h.data_dir / DATABASE_NAME}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
        return dict(conn.execute("SELECT service_id, state FROM applications"))


async def events(h: Harness, receiver: WebhookReceiver, wanted: list[str], what: str) -> None:
    await h.wait_for(lambda: receiver.events() == wanted, 30, f"{what}: {wanted} "
                     f"(so far {receiver.events()})")


async def test_providers_are_told_orders_follow_cartridge_cycles_and_kinds_switch(
        tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, FLEET_IP, ["color-mfp"], webhook_secret=SECRET) as h, \
            webhook_receiver(secret=SECRET, host=PROVIDER_A) as a, \
            webhook_receiver(secret=SECRET, host=PROVIDER_B) as b, \
            control_api(h.fleet) as printer_api:
        await define(h, "toner-a", "Provider A", a.url)
        await define(h, "toner-b", "Provider B", b.url)
        h.write_config(poll={"interval": "1s"})
        daemon = await h.start_daemon()
        serial = h.fleet.printers[0].state.serial
        printers = await h.wait_for(h.printers, 30, "the printer registered")
        printer_id = printers[serial]["printer_id"]

        # Activation (by the gateway, after the push), suspension, resumption (the gateway
        # activates it again): the provider is told each, signed, once.
        await h.operator.contract(printer_id, "toner-a")
        await events(h, a, ["activated"], "activation")
        await h.operator.application_action("suspend", printer_id, "toner-a")
        await events(h, a, ["activated", "suspended"], "suspension")
        await h.operator.application_action("resume", printer_id, "toner-a")
        await events(h, a, ["activated", "suspended", "resumed", "activated"], "resumption")
        assert all(d.verified for d in a.deliveries)
        assert a.deliveries[0].body["serial"] == serial

        def orders(receiver: WebhookReceiver) -> list[dict[str, Any]]:
            return [d.body for d in receiver.deliveries if d.body["event"] == "consumable-order"]

        async def drain(percent: int) -> None:
            await control(h.http, f"{printer_api}/level", {"supply": "black", "percent": percent})

        async def uploaded(event: str, count: int) -> None:
            async def seen() -> bool:
                found = [s for s in await h.statuses(printer_id) if s["event"] == event]
                return len(found) >= count
            await h.wait_for(seen, 30, f"{count} {event} upload(s) in the cloud")

        # One order per cartridge cycle: past the threshold, then empty: one order.
        await drain(50)
        await drain(15)
        await h.wait_for(lambda: orders(a), 30, "the first order")
        await drain(5)
        await drain(0)
        await uploaded("supply-empty", 1)
        await asyncio.sleep(1)
        [first] = orders(a)
        assert first["supply"]["color"] == "black" and first["supply"]["cycle"] == 1
        assert first["level_percent"] <= 20 and first["threshold_percent"] == 20

        # The cartridge replaced and drained again: a second order.
        await control(h.http, f"{printer_api}/replace", {"supply": "black"})
        await uploaded("supply-replaced", 1)
        await drain(40)
        await drain(10)
        await h.wait_for(lambda: len(orders(a)) >= 2, 30, "the second order")
        await drain(0)
        await uploaded("supply-empty", 2)
        await asyncio.sleep(1)
        assert len(orders(a)) == 2 and orders(a)[1]["supply"]["cycle"] == 2

        # Another provider's service of the same kind contracted: the gateway activates it,
        # the cloud switches the printer over and tells the first provider.
        await h.operator.contract(printer_id, "toner-b")
        await events(h, b, ["activated"], "the second provider's activation")
        await events(h, a, ["activated", "suspended", "resumed", "activated",
                            "consumable-order", "consumable-order", "deactivated"], "the switch")
        assert a.deliveries[-1].body["reason"] == "switched"
        await h.wait_for(lambda: gateway_states(h) == {"toner-a": "suspended",
                                                       "toner-b": "active"},
                         15, f"the gateway's table with one active ({gateway_states(h)})")
        view = (await h.printers())[serial]
        assert sorted(x["activation_state"] for x in view["applications"]) == [
            "active", "suspended"]

        # Cancellation by the operator: the provider is told.
        await h.operator.application_action("cancel", printer_id, "toner-b")
        await events(h, b, ["activated", "cancelled"], "cancellation")
        await asyncio.sleep(2)
        assert b.events() == ["activated", "cancelled"]  # never a second activation
        assert await daemon.stop() == 0
        assert "Traceback" not in daemon.log()
