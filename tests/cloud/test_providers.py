"""Providers (issue 16, `cloud.providers`) against the running reference cloud and a real webhook
receiver on loopback: the service definition's provider fields, the provider told of every state
change of its service on a printer (signed, one key per change, `no-endpoint` when it has none),
consumable orders once per cartridge cycle (also across a restart), and one provider per kind per
printer (the switch, also under concurrent activations)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.cloud_helpers import Gateway, Operator, next_push, running_cloud, sqlite_url
from tests.support.contract_helpers import WebhookReceiver, webhook_receiver

pytest_plugins = ("tests.support.cloud_helpers",)

SECRET = b"provider-secret-0123456789"
SUPPLY_TYPES = ["supplies.level", "supplies.kind", "supplies.color", "supplies.model",
                "supplies.cartridge"]


async def define(operator: Operator, service_id: str, *, endpoint: str | None,
                 kind: str | None = "supplies-delivery", provider: str = "Provider A",
                 threshold: int | None = None) -> Any:
    body: dict[str, Any] = {
        "service_outline": f"The {service_id} service", "provider": provider,
        "data_types": SUPPLY_TYPES, "kind": kind, "provider_endpoint": endpoint,
        "required_functions": ["color"], "order_threshold_percent": threshold}
    return await operator.ok("putService", path={"service_id": service_id}, json_body=body)


async def deliveries(operator: Operator, service_id: str) -> list[dict[str, Any]]:
    return (await operator.ok("listProviderDeliveries", path={"service_id": service_id},
                              params={"limit": 100}))["deliveries"]


async def settled(operator: Operator, service_id: str, count: int) -> list[dict[str, Any]]:
    """The service's deliveries once `count` exist and none is pending."""
    for _ in range(200):
        found = await deliveries(operator, service_id)
        if len(found) >= count and all(d["delivery"]["state"] != "pending" for d in found):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"not settled: {await deliveries(operator, service_id)}")


@pytest.fixture
async def provider() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver(secret=SECRET) as receiver:
        yield receiver


@pytest.fixture
async def world(tmp_path: Path, http: aiohttp.ClientSession
                ) -> AsyncIterator[tuple[Operator, Gateway]]:
    async with running_cloud(sqlite_url(tmp_path), webhook_secret=SECRET) as cloud:
        operator = Operator(http, cloud.url)
        yield operator, await Gateway.enrol(http, cloud.url, operator)


# -- the definition --------------------------------------------------------------------------------

async def test_the_provider_fields_are_stored_and_shown_to_operator_and_gateway(
        world: tuple[Operator, Gateway]) -> None:
    operator, gateway = world
    created = await define(operator, "toner-a", endpoint="https://provider.example/hook",
                           threshold=20)
    fields = {"kind": "supplies-delivery", "provider_endpoint": "https://provider.example/hook",
              "required_functions": ["color"], "order_threshold_percent": 20}
    assert {k: created[k] for k in fields} == fields
    plain = await operator.put_service("monitor", ["state"])
    assert (plain["kind"], plain["provider_endpoint"], plain["required_functions"],
            plain["order_threshold_percent"]) == ("monitor", None, [], None)
    [listed, _] = (await operator.ok("listServices"))["services"][::-1]
    assert {k: listed[k] for k in fields} == fields
    printer_id = await gateway.register()
    await operator.contract(printer_id, "toner-a", "app-a")
    info = await gateway.ok("getApplicationInformation", path={"printer_id": printer_id})
    assert {k: info["applications"][0][k] for k in fields} == fields
    refused = await operator.call("putService", path={"service_id": "toner-b"}, json_body={
        "service_outline": "x", "provider": "x", "data_types": ["state"],
        "provider_endpoint": "http://provider.example/hook"})
    assert refused.status == 422 and refused.body["errors"][0]["pointer"] == "/provider_endpoint"


# -- notices ---------------------------------------------------------------------------------------

async def test_the_provider_is_told_of_every_state_change_signed_once_each(
        world: tuple[Operator, Gateway], provider: WebhookReceiver) -> None:
    operator, gateway = world
    await define(operator, "toner-a", endpoint=provider.url)
    printer_id = await gateway.register(serial="SN-PROVIDER-1")
    await operator.contract(printer_id, "toner-a", "app-a")
    await gateway.activate(printer_id, "toner-a", "app-a")
    await gateway.activate(printer_id, "toner-a", "app-a")  # already active: nothing to tell
    await gateway.activate(printer_id, "toner-a", "app-a", action="deactivate")
    await gateway.activate(printer_id, "toner-a", "app-a")
    for action in ("suspend", "suspend", "resume", "cancel"):
        await operator.application_action(action, printer_id, "toner-a")
    found = await settled(operator, "toner-a", 6)
    events = ["activated", "deactivated", "activated", "suspended", "resumed", "cancelled"]
    assert provider.events() == events == [d["event"] for d in found]
    assert all(d.verified for d in provider.deliveries)
    assert len({d.key for d in provider.deliveries}) == 6
    first = provider.deliveries[0]
    assert first.key == first.body["delivery_id"] == found[0]["delivery_id"]
    assert {k: first.body[k] for k in ("service_id", "kind", "printer_id", "application_id",
                                       "serial", "provider")} == {
        "service_id": "toner-a", "kind": "supplies-delivery", "printer_id": printer_id,
        "application_id": "app-a", "serial": "SN-PROVIDER-1", "provider": "Provider A"}
    assert provider.deliveries[1].body["reason"] == "gateway"
    assert provider.deliveries[-1].body["application_id"] == "app-a"  # its former ID
    assert {d["delivery"]["state"] for d in found} == {"delivered"}


async def test_without_an_endpoint_notices_are_recorded_not_sent(
        world: tuple[Operator, Gateway]) -> None:
    operator, gateway = world
    await define(operator, "toner-a", endpoint=None)
    printer_id = await gateway.register()
    await operator.contract(printer_id, "toner-a", "app-a")
    await gateway.activate(printer_id, "toner-a", "app-a")
    [record] = await deliveries(operator, "toner-a")
    assert (record["event"], record["url"], record["delivery"]["state"],
            record["delivery"]["attempts"]) == ("activated", None, "no-endpoint", 0)
    missing = await operator.call("listProviderDeliveries", path={"service_id": "nothing"},
                                  params={"limit": 10})
    assert missing.status == 404


# -- consumable orders -----------------------------------------------------------------------------

def reading(printer_id: str, level: int | None, *, event: str = "periodic",
            cartridge: str = "C-1", **detail: Any) -> dict[str, Any]:
    """One status entry with toner 1.1 at `level` percent."""
    entry: dict[str, Any] = {
        "entry_id": str(uuid.uuid4()), "printer_id": printer_id,
        "read_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "event": event,
        "data": {
            "supplies.level": [{"index": "1.1", "level_percent": level,
                                "level_state": "known" if level is not None else "unknown",
                                "raw_level": level, "max_capacity": 100, "unit": "percent",
                                "class": "consumed", "over_capacity": False,
                                "low_percent": 10}],
            "supplies.kind": [{"index": "1.1", "kind": "toner", "class": "consumed",
                               "description": "Black Toner"}],
            "supplies.color": [{"index": "1.1", "color": "black"}],
            "supplies.model": [{"index": "1.1", "part_number": "W2030A",
                                "description": "HP 415A"}],
            "supplies.cartridge": [{"index": "1.1", "cartridge_type": "commercial",
                                    "cartridge_id": cartridge, "cartridge_new": False}]}}
    if event != "periodic":
        entry["event_detail"] = {"supply_index": "1.1", **detail}
    return entry


async def upload(gateway: Gateway, *entries: dict[str, Any]) -> None:
    answer = await gateway.upload(list(entries))
    assert answer["counts"]["accepted"] == len(entries), answer


async def contracted(operator: Operator, gateway: Gateway, endpoint: str) -> str:
    await define(operator, "toner-a", endpoint=endpoint, threshold=20)
    printer_id = await gateway.register()
    await operator.contract(printer_id, "toner-a", "app-a")
    await gateway.activate(printer_id, "toner-a", "app-a")
    return printer_id


def orders(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    return [d.body for d in receiver.deliveries if d.body["event"] == "consumable-order"]


async def test_one_order_per_cartridge_cycle_never_per_event_or_upload(
        tmp_path: Path, http: aiohttp.ClientSession, provider: WebhookReceiver) -> None:
    url = sqlite_url(tmp_path)
    async with running_cloud(url, webhook_secret=SECRET) as cloud:
        operator = Operator(http, cloud.url)
        gateway = await Gateway.enrol(http, cloud.url, operator)
        printer_id = await contracted(operator, gateway, provider.url)
        for level in (60, 40):
            await upload(gateway, reading(printer_id, level))
        await upload(gateway, reading(printer_id, 18, event="threshold-crossed",
                                      threshold_percent=20))
        await upload(gateway, reading(printer_id, 12), reading(printer_id, 5))
        await upload(gateway, reading(printer_id, 0, event="supply-empty"))
        await settled(operator, "toner-a", 2)
    async with running_cloud(url, webhook_secret=SECRET) as cloud:  # a restart
        operator = Operator(http, cloud.url)
        gateway.base_url = cloud.url
        await upload(gateway, reading(printer_id, 0, event="supply-empty"))
        await asyncio.sleep(0.3)
        assert len(orders(provider)) == 1
        await upload(gateway, reading(printer_id, 100, event="supply-replaced",
                                      cartridge="C-2"))
        await upload(gateway, reading(printer_id, 30, cartridge="C-2"))
        await upload(gateway, reading(printer_id, None, event="supply-empty",
                                      cartridge="C-2"))  # no level
        await upload(gateway, reading(printer_id, 3, cartridge="C-2"))
        found = await settled(operator, "toner-a", 3)
    first, second = orders(provider)
    assert first["order_id"] != second["order_id"]
    assert first["supply"] == {"index": "1.1", "kind": "toner", "description": "Black Toner",
                               "color": "black", "part_number": "W2030A", "cycle": 1}
    assert (first["level_percent"], first["threshold_percent"], first["printer_id"],
            first["provider"]) == (18, 20, printer_id, "Provider A")
    assert second["supply"]["cycle"] == 2 and second["level_percent"] is None
    assert [d["kind"] for d in found] == ["notice", "order", "order"]


async def test_a_level_jump_or_a_new_cartridge_starts_a_new_cycle_and_inactive_orders_nothing(
        world: tuple[Operator, Gateway], provider: WebhookReceiver) -> None:
    operator, gateway = world
    printer_id = await contracted(operator, gateway, provider.url)
    await upload(gateway, reading(printer_id, 10))
    await upload(gateway, reading(printer_id, 95))  # refilled: no event, the level jumped
    await upload(gateway, reading(printer_id, 15))
    await upload(gateway, reading(printer_id, 15, cartridge="C-9"))  # another cartridge
    await settled(operator, "toner-a", 4)
    assert [o["supply"]["cycle"] for o in orders(provider)] == [1, 2, 3]
    await operator.application_action("suspend", printer_id, "toner-a")
    await upload(gateway, reading(printer_id, 90, cartridge="C-10"))
    await upload(gateway, reading(printer_id, 5, cartridge="C-10"))
    await settled(operator, "toner-a", 5)
    assert len(orders(provider)) == 3


# -- one provider per kind -------------------------------------------------------------------------

async def test_activating_another_providers_service_of_the_same_kind_switches_over(
        world: tuple[Operator, Gateway], provider: WebhookReceiver) -> None:
    operator, gateway = world
    async with webhook_receiver(secret=SECRET) as other:
        await define(operator, "toner-a", endpoint=provider.url)
        await define(operator, "toner-b", endpoint=other.url, provider="Provider B")
        await define(operator, "toner-a-plus", endpoint=provider.url, kind="supplies-delivery")
        await define(operator, "monitor", endpoint=None, kind="monitoring")
        printer_id = await gateway.register()
        for service_id in ("toner-a", "toner-b", "toner-a-plus", "monitor"):
            await operator.contract(printer_id, service_id, f"app-{service_id}")
        await gateway.activate(printer_id, "toner-a", "app-toner-a")
        await gateway.activate(printer_id, "monitor", "app-monitor")
        ws = await gateway.push()
        try:
            while True:  # skip what is already in the stream
                await next_push(ws, within=0.3)
        except TimeoutError:
            pass
        await gateway.activate(printer_id, "toner-b", "app-toner-b")
        message = await next_push(ws, within=5)
        await ws.close()
        states = {a["service_id"]: a["activation_state"] for a in (await operator.ok(
            "getPrinter", path={"printer_id": printer_id}))["applications"]}
        assert states == {"toner-a": "suspended", "toner-b": "active",
                          "toner-a-plus": "inactive", "monitor": "active"}
        assert (message["type"], message["printer_id"]) == ("application-info-changed",
                                                            printer_id)
        await settled(operator, "toner-a", 2)
        await settled(operator, "toner-b", 1)
        assert provider.events() == ["activated", "deactivated"]
        assert provider.deliveries[-1].body["reason"] == "switched"
        assert other.events() == ["activated"]
        # The same provider's second service of the kind does not switch its own one off.
        await gateway.activate(printer_id, "toner-a-plus", "app-toner-a-plus")
        states = {a["service_id"]: a["activation_state"] for a in (await operator.ok(
            "getPrinter", path={"printer_id": printer_id}))["applications"]}
        assert states["toner-b"] == "suspended" and states["toner-a-plus"] == "active"


async def test_concurrent_activations_of_two_providers_never_leave_both_active(
        world: tuple[Operator, Gateway]) -> None:
    operator, gateway = world
    await define(operator, "toner-a", endpoint=None)
    await define(operator, "toner-b", endpoint=None, provider="Provider B")
    for _ in range(5):
        printer_id = await gateway.register(serial=f"SN{secrets.token_hex(4)}")
        for service_id in ("toner-a", "toner-b"):
            await operator.contract(printer_id, service_id, f"{service_id}-{printer_id[:8]}")
        await asyncio.gather(*(gateway.activate(printer_id, s, f"{s}-{printer_id[:8]}")
                               for s in ("toner-a", "toner-b")))
        states = sorted(a["activation_state"] for a in (await operator.ok(
            "getPrinter", path={"printer_id": printer_id}))["applications"])
        assert states == ["active", "suspended"]


async def test_a_first_upload_activation_switches_over_and_tells_both_providers(
        world: tuple[Operator, Gateway], provider: WebhookReceiver) -> None:
    operator, gateway = world
    async with webhook_receiver(secret=SECRET) as other:
        await define(operator, "toner-a", endpoint=provider.url)
        body = {"service_outline": "B", "provider": "Provider B", "data_types": SUPPLY_TYPES,
                "kind": "supplies-delivery", "provider_endpoint": other.url,
                "activation_by_first_upload": True}
        await operator.ok("putService", path={"service_id": "toner-b"}, json_body=body)
        printer_id = await gateway.register()
        await operator.contract(printer_id, "toner-a", "app-a")
        await operator.contract(printer_id, "toner-b", "app-b")
        await gateway.activate(printer_id, "toner-a", "app-a")
        ws = await gateway.push()
        try:
            while True:
                await next_push(ws, within=0.3)
        except TimeoutError:
            pass
        entry = {**reading(printer_id, 80), "application_ids": ["app-b"]}
        answer = await gateway.upload([entry])
        message = await next_push(ws, within=5)
        await ws.close()
        assert answer["results"][0]["activations"][0]["result"] == "activated"
        assert message["type"] == "application-info-changed"
        await settled(operator, "toner-a", 2)
        await settled(operator, "toner-b", 1)
    assert provider.events() == ["activated", "deactivated"]
    assert other.events() == ["activated"]


async def test_an_unsigned_delivery_outside_loopback_is_a_failed_attempt(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with running_cloud(sqlite_url(tmp_path)) as cloud:  # no webhook secret
        operator = Operator(http, cloud.url)
        gateway = await Gateway.enrol(http, cloud.url, operator)
        await define(operator, "toner-a", endpoint="https://provider.invalid/hook")
        printer_id = await gateway.register()
        await operator.contract(printer_id, "toner-a", "app-a")
        await gateway.activate(printer_id, "toner-a", "app-a")
        for _ in range(100):
            [record] = await deliveries(operator, "toner-a")
            if record["delivery"]["attempts"]:
                break
            await asyncio.sleep(0.05)
    assert record["delivery"]["state"] == "pending"
    assert "unsigned" in record["delivery"]["last_error"]
