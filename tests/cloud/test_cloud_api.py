"""The reference cloud through real HTTP (aiohttp client, loopback): the gateway's sequence
(S0601-S0611), status batches, FIG. 9, the change stream (push and poll), commands, the operator
API and every error answer.  Every answer is checked against the document by `Api.call`; the core
flows run on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import secrets
import signal
import ssl
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cloud import times
from cloud.app import ROUTES
from cloud.cli import TOKEN_ENV
from cloud.server import CloudServer
from protocols.cloud.times import rfc3339
from protocols.hosts import free_port
from tests.support.cloud_helpers import (
    BOTH_BACKENDS,
    OPERATIONS,
    OPERATOR_TOKEN,
    Api,
    Gateway,
    Operator,
    next_push,
    running_cloud,
    self_signed_certificate,
    sqlite_url,
)
from tests.support.paths import REPO

pytest_plugins = ("tests.support.cloud_helpers",)

TONER = ["supplies.level", "supplies.kind", "supplies.color", "supplies.model"]
MONITORING = ["state", "alerts"]
STATE = {"printer_state": "idle", "reasons": [], "message": None, "abnormal": False,
         "reachable": {"snmp": True, "ipp": True}}
REGISTRATION = {"serial": "CNB7K12345", "product_name": "HP Color LaserJet MFP M479fdw",
                "manufacturer": "HP", "shipping_destination": "JP", "time_zone": "Asia/Tokyo",
                "device_type": "mfp", "mac": "3c:52:82:0a:1b:2c", "firmware": "002.2208A"}


def entry(printer_id: str, data: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"entry_id": str(uuid.uuid4()), "printer_id": printer_id,
            "read_at": rfc3339(times.now()), "event": "periodic",
            "data": data or {"counters.total": {"total": 1200}}, **extra}


async def contracted_printer(gateway: Gateway, operator: Operator, service_id: str = "monitoring",
                             data_types: list[str] | None = None) -> tuple[str, str]:
    """A printer of `gateway` with an active contract for the service; (printer ID, app ID)."""
    printer_id = await gateway.register()
    await operator.put_service(service_id, data_types or MONITORING)
    application = await operator.contract(printer_id, service_id)
    result = await gateway.activate(printer_id, service_id, application["application_id"])
    assert result["results"][0]["result"] == "activated"
    return printer_id, application["application_id"]


# -- the gateway's sequence ------------------------------------------------------------------------

@BOTH_BACKENDS
async def test_the_gateway_sequence(cloud: CloudServer, http: aiohttp.ClientSession,
                                    operator: Operator) -> None:
    destination = await Api(http, cloud.url, None).ok(
        "resolveConnectionDestination", json_body={"region": "jp", "country": "JP"})
    assert destination["base_url"] == cloud.url
    assert destination["push_url"] == cloud.url.replace("http", "ws", 1) + "/v1/push"
    gateway = await Gateway.enrol(http, destination["base_url"], operator)

    first = await gateway.call("registerPrinter", json_body=REGISTRATION)
    again = await gateway.call("registerPrinter", json_body={**REGISTRATION, "firmware": "3.0"})
    assert (first.status, first.body["created"]) == (201, True)
    assert (again.status, again.body["created"]) == (200, False)
    printer_id = first.body["printer_id"]
    assert again.body["printer_id"] == printer_id
    assert again.body["registered_at"] == first.body["registered_at"]
    printer = {"printer_id": printer_id}
    assert await gateway.ok("getApplicationInformation", path=printer) == {
        "printer_id": printer_id, "revision": 0, "applications": []}

    await operator.put_service("toner-delivery", TONER, models=["W2030A"])
    await operator.put_service("remote-monitoring", MONITORING)
    await operator.contract(printer_id, "toner-delivery", "abc123")
    await operator.contract(printer_id, "remote-monitoring", "def456")
    info = await gateway.ok("getApplicationInformation", path=printer)
    assert info["revision"] == 2
    assert [(a["service_id"], a["application_id"], a["activation_state"])
            for a in info["applications"]] == [("toner-delivery", "abc123", "inactive"),
                                               ("remote-monitoring", "def456", "inactive")]
    assert info["applications"][0]["compatible_cartridge_models"] == ["W2030A"]
    control = await gateway.ok("getDeviceControlInformation", path=printer)
    assert control["requested_data_types"] == [] and control["difference"] == {
        "added": [], "removed": []}

    notice = {"activations": [{"service_id": "toner-delivery", "application_id": "abc123"},
                              {"service_id": "remote-monitoring", "application_id": "def456"}]}
    activated = await gateway.ok("notifyActivation", path=printer, json_body=notice)
    assert [(r["result"], r["activation_state"], r["reason"]) for r in activated["results"]] \
        == [("activated", "active", None)] * 2
    again_activated = await gateway.ok("notifyActivation", path=printer, json_body=notice)
    assert again_activated["results"] == activated["results"], "idempotent"
    assert again_activated["revision"] == activated["revision"]

    control = await gateway.ok("getDeviceControlInformation", path=printer)
    requested = [*TONER, *MONITORING]
    assert control["requested_data_types"] == requested
    assert control["current_data_types"] == []
    assert control["difference"] == {"added": requested, "removed": []}
    assert {s["service_id"] for s in control["by_service"]} == {"toner-delivery",
                                                                "remote-monitoring"}
    reported = await gateway.ok("reportTransmissionDataTypes", path=printer, json_body={
        "based_on_revision": control["revision"],
        "transmission_data_types": ["alerts", "state", "supplies.level", "supplies.kind",
                                    "supplies.color", "counters.total"],
        "unavailable": [{"data_type": "supplies.model", "reason": "No part numbers."}]})
    assert reported["revision"] == control["revision"] + 1
    assert reported["current_data_types"] == ["supplies.level", "supplies.kind",
                                              "supplies.color", "counters.total", "state",
                                              "alerts"]
    assert reported["difference"] == {"added": ["supplies.model"], "removed": ["counters.total"]}

    view = await operator.ok("getPrinter", path=printer)
    assert view["gateway_id"] == gateway.gateway_id
    assert view["registration"]["firmware"] == "3.0"
    assert view["registration"]["mac"] == "3c:52:82:0a:1b:2c"
    assert view["requested_data_types"] == requested
    assert view["current_data_types"] == reported["current_data_types"]
    assert [a["activation_state"] for a in view["applications"]] == ["active", "active"]
    page = await operator.ok("listPrinters", params={"gateway_id": gateway.gateway_id})
    assert [p["printer_id"] for p in page["printers"]] == [printer_id]
    assert (await operator.ok("listPrinters", params={"serial": "nope"}))["printers"] == []


@BOTH_BACKENDS
async def test_concurrent_registrations_of_one_serial_give_one_printer(
        cloud: CloudServer, gateway: Gateway) -> None:
    ids = await asyncio.gather(*(gateway.register("SAME-SERIAL") for _ in range(6)))
    assert len(set(ids)) == 1


async def test_registration_is_per_gateway_and_keeps_its_manufacturer(
        cloud: CloudServer, http: aiohttp.ClientSession, operator: Operator,
        gateway: Gateway) -> None:
    other = await Gateway.enrol(http, cloud.url, operator, name="other")
    assert await gateway.register("SN-1") != await other.register("SN-1")
    conflict = await gateway.call("registerPrinter", json_body={
        **REGISTRATION, "serial": "SN-1", "manufacturer": "Canon"})
    assert conflict.status == 409
    assert conflict.body["type"].endswith("/serial-conflict")


# -- activation ------------------------------------------------------------------------------------

async def test_activation_refusals(cloud: CloudServer, http: aiohttp.ClientSession,
                                   operator: Operator, gateway: Gateway) -> None:
    printer_id = await gateway.register()
    second = await gateway.register()
    await operator.put_service("toner-delivery", TONER)
    await operator.put_service("remote-monitoring", MONITORING)
    await operator.contract(printer_id, "toner-delivery", "t-1")
    await operator.contract(printer_id, "remote-monitoring", "m-1")
    await operator.contract(second, "toner-delivery", "t-2")
    foreign = await Gateway.enrol(http, cloud.url, operator, name="foreign")
    foreign_printer = await foreign.register()
    await operator.contract(foreign_printer, "toner-delivery", "t-foreign")

    async def outcome(service_id: str, application_id: str,
                      action: str = "activate") -> tuple[str, str, str | None]:
        body = await gateway.activate(printer_id, service_id, application_id, action)
        result = body["results"][0]
        return result["result"], result["activation_state"], (result["reason"] or {}).get("code")

    assert await outcome("toner-delivery", "nope") == ("refused", "inactive",
                                                       "application-unknown")
    assert await outcome("toner-delivery", "m-1") == ("refused", "inactive",
                                                       "application-mismatch")
    assert await outcome("toner-delivery", "t-2") == ("refused", "inactive",
                                                      "application-mismatch")
    assert await outcome("toner-delivery", "t-foreign") == ("refused", "inactive",
                                                            "application-unknown")
    await operator.application_action("suspend", printer_id, "remote-monitoring")
    assert await outcome("remote-monitoring", "m-1") == ("refused", "suspended",
                                                         "application-suspended")
    await operator.application_action("resume", printer_id, "remote-monitoring")
    assert await outcome("remote-monitoring", "m-1") == ("activated", "active", None)
    assert await outcome("remote-monitoring", "m-1", "deactivate") == ("deactivated",
                                                                       "inactive", None)
    await operator.application_action("cancel", printer_id, "toner-delivery")
    assert await outcome("toner-delivery", "t-1") == ("refused", "cancelled",
                                                      "application-cancelled")
    info = await gateway.ok("getApplicationInformation", path={"printer_id": printer_id})
    assert info["applications"][0]["application_id"] is None
    assert info["applications"][0]["activation_state"] == "cancelled"
    missing = await gateway.call("notifyActivation", path={"printer_id": foreign_printer},
                                 json_body={"activations": [{"service_id": "toner-delivery",
                                                             "application_id": "t-foreign"}]})
    assert missing.status == 404


async def test_operator_application_rules(operator: Operator, gateway: Gateway) -> None:
    printer_id = await gateway.register()
    await operator.put_service("toner-delivery", TONER)
    created = await operator.contract(printer_id, "toner-delivery")
    assert created["application_id"] and created["activation_state"] == "inactive"
    live = await operator.call("createApplication", path={"printer_id": printer_id},
                               json_body={"service_id": "toner-delivery"})
    assert live.status == 409
    other = await gateway.register()
    taken = await operator.call("createApplication", path={"printer_id": other}, json_body={
        "service_id": "toner-delivery", "application_id": created["application_id"]})
    assert taken.status == 409
    unknown_service = await operator.call("createApplication", path={"printer_id": other},
                                          json_body={"service_id": "no-such-service"})
    assert unknown_service.status == 422
    assert unknown_service.body["errors"][0]["pointer"] == "/service_id"
    await operator.application_action("cancel", printer_id, "toner-delivery")
    await operator.application_action("cancel", printer_id, "toner-delivery")  # idempotent
    for action in ("suspend", "resume"):
        refused = await operator.call(f"{action}Application", path={
            "printer_id": printer_id, "service_id": "toner-delivery"})
        assert refused.status == 409
    replaced = await operator.contract(printer_id, "toner-delivery", "new-id")
    assert (replaced["application_id"], replaced["activation_state"]) == ("new-id", "inactive")
    absent = await operator.call("suspendApplication", path={
        "printer_id": printer_id, "service_id": "remote-monitoring"})
    assert absent.status == 404
    services = await operator.ok("listServices")
    assert [s["service_id"] for s in services["services"]] == ["toner-delivery"]


async def test_create_application_idempotency_key(operator: Operator, gateway: Gateway) -> None:
    printer_id = await gateway.register()
    await operator.put_service("toner-delivery", TONER)
    await operator.put_service("remote-monitoring", MONITORING)
    headers = {"Idempotency-Key": "create-app-0001"}
    path = {"printer_id": printer_id}
    first = await operator.call("createApplication", path=path, headers=headers,
                                json_body={"service_id": "toner-delivery"})
    retry = await operator.call("createApplication", path=path, headers=headers,
                                json_body={"service_id": "toner-delivery"})
    assert first.status == retry.status == 201 and first.body == retry.body
    reuse = await operator.call("createApplication", path=path, headers=headers,
                                json_body={"service_id": "remote-monitoring"})
    assert reuse.status == 422 and reuse.body["type"].endswith("/idempotency-key-reuse")


# -- status uploads --------------------------------------------------------------------------------

@BOTH_BACKENDS
async def test_status_batches(cloud: CloudServer, http: aiohttp.ClientSession,
                              operator: Operator, gateway: Gateway) -> None:
    printer_id, _ = await contracted_printer(gateway, operator)
    other = await Gateway.enrol(http, cloud.url, operator, name="other")
    foreign_printer = await other.register()
    good = entry(printer_id, {"state": STATE, "alerts": [], "counters.total": {"total": 5}})
    bad = entry(printer_id, {"supplies.level": [{
        "index": "1.1", "level_percent": 150, "level_state": "known", "raw_level": 1,
        "max_capacity": 1, "unit": None, "class": "consumed", "over_capacity": False,
        "low_percent": None}]})
    foreign = entry(foreign_printer)
    future = entry(printer_id, read_at=rfc3339(times.now() + timedelta(hours=1)))
    misspelt = {**entry(printer_id), "colour": "black"}
    body = {"statuses": [good, bad, foreign, future, good, misspelt]}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    answer = await gateway.call("uploadStatuses", json_body=body, headers=key)
    assert answer.status == 200
    result = answer.body
    assert result["counts"] == {"accepted": 1, "duplicate": 1, "rejected": 4}
    statuses = [r["status"] for r in result["results"]]
    assert statuses == ["accepted", "rejected", "rejected", "rejected", "duplicate", "rejected"]
    assert result["results"][0]["ignored_data_types"] == ["counters.total"]
    reasons = [(r["reason"]["code"], r["reason"]["pointer"]) for r in result["results"]
               if r["status"] == "rejected"]
    assert reasons == [
        ("invalid-entry", "/statuses/1/data/supplies.level/0/level_percent"),
        ("unknown-printer", "/statuses/2/printer_id"),
        ("read-at-in-future", "/statuses/3/read_at"),
        ("invalid-entry", "/statuses/5/colour")]

    replay = await gateway.call("uploadStatuses", json_body=body, headers=key)
    assert (replay.status, replay.body) == (200, result), "a retried batch gets the same answer"
    reuse = await gateway.call("uploadStatuses", json_body={"statuses": [good]}, headers=key)
    assert reuse.status == 422 and reuse.body["type"].endswith("/idempotency-key-reuse")

    later = entry(printer_id, {"state": {**STATE, "printer_state": "processing"}})
    compressed = gzip.compress(json.dumps({"statuses": [good, later]}).encode())
    zipped = await gateway.call("uploadStatuses", data=compressed, headers={
        "Idempotency-Key": str(uuid.uuid4()), "Content-Encoding": "gzip"})
    assert [r["status"] for r in zipped.body["results"]] == ["duplicate", "accepted"]

    received = await operator.ok("listReceivedStatuses", path={"printer_id": printer_id})
    assert [s["entry_id"] for s in received["statuses"]] == [good["entry_id"],
                                                             later["entry_id"]]
    assert received["statuses"][0]["data"] == {"state": STATE, "alerts": []}
    assert received["statuses"][0]["gateway_id"] == gateway.gateway_id
    first_page = await operator.ok("listReceivedStatuses", path={"printer_id": printer_id},
                                   params={"limit": 1, "data_type": "state"})
    assert len(first_page["statuses"]) == 1 and first_page["next_cursor"]
    second_page = await operator.ok("listReceivedStatuses", path={"printer_id": printer_id},
                                    params={"limit": 1, "cursor": first_page["next_cursor"]})
    assert second_page["statuses"][0]["entry_id"] == later["entry_id"]
    assert second_page["next_cursor"] is None
    alerts_only = await operator.ok("listReceivedStatuses", path={"printer_id": printer_id},
                                    params={"data_type": "alerts"})
    assert [s["entry_id"] for s in alerts_only["statuses"]] == [good["entry_id"]]
    since = await operator.ok("listReceivedStatuses", path={"printer_id": printer_id},
                              params={"since": rfc3339(times.now() + timedelta(minutes=1))})
    assert since["statuses"] == []
    view = await operator.ok("getPrinter", path={"printer_id": printer_id})
    assert view["last_status_at"] == later["read_at"]


@BOTH_BACKENDS
async def test_concurrent_batches_with_one_key(gateway: Gateway, operator: Operator) -> None:
    printer_id, _ = await contracted_printer(gateway, operator)
    body = {"statuses": [entry(printer_id, {"state": STATE})]}
    headers = {"Idempotency-Key": "same-key-for-all"}
    answers = await asyncio.gather(*(gateway.call("uploadStatuses", json_body=body,
                                                  headers=headers) for _ in range(5)))
    done = [a.body for a in answers if a.status == 200]
    assert {a.status for a in answers} <= {200, 409} and done
    assert all(d == done[0] for d in done)
    assert done[0]["counts"]["accepted"] == 1


async def test_contract_state_from_statuses(operator: Operator, gateway: Gateway) -> None:
    printer_id, _ = await contracted_printer(gateway, operator, "contract-watch", ["contract"])
    contract = {"supported": True, "mode": "contract-billing", "printing_prohibited": False,
                "panel_message": None}
    older = entry(printer_id, {"contract": {**contract, "mode": "non-contract"}},
                  read_at=rfc3339(times.now() - timedelta(minutes=5)))
    await gateway.upload([entry(printer_id, {"contract": contract}), older])
    view = await operator.ok("getPrinter", path={"printer_id": printer_id})
    assert view["contract"] == contract, "the latest reading wins, not the latest upload"


@BOTH_BACKENDS
async def test_fig9_activation_by_first_upload(operator: Operator, gateway: Gateway) -> None:
    printer_id = await gateway.register()
    await operator.put_service("remote-monitoring", MONITORING, first_upload=True)
    await operator.put_service("toner-delivery", TONER)
    monitoring = await operator.contract(printer_id, "remote-monitoring", "xyz789")
    await operator.contract(printer_id, "toner-delivery", "abc123")
    assert monitoring["activation_by_first_upload"] is True
    first = entry(printer_id, {"state": STATE, "alerts": [], "counters.total": {"total": 1}},
                  application_ids=["xyz789", "abc123", "unknown-app"])
    result = (await gateway.upload([first]))["results"][0]
    assert result["status"] == "accepted"
    assert result["ignored_data_types"] == ["counters.total"], "activated types are kept"
    assert [(a["service_id"], a["result"], (a["reason"] or {}).get("code"))
            for a in result["activations"]] == [
        ("remote-monitoring", "activated", None),
        ("toner-delivery", "refused", "first-upload-activation-not-allowed"),
        (None, "refused", "application-unknown")]
    control = await gateway.ok("getDeviceControlInformation", path={"printer_id": printer_id})
    assert control["requested_data_types"] == MONITORING
    assert control["current_data_types"] == MONITORING, "the S0611 report is implied"
    again = (await gateway.upload([entry(printer_id, {"state": STATE},
                                         application_ids=["xyz789"])]))["results"][0]
    assert again["activations"][0]["result"] == "activated"
    assert again["activations"][0]["activated_at"] == result["activations"][0]["activated_at"]


# -- the change stream -----------------------------------------------------------------------------

@BOTH_BACKENDS
async def test_push_poll_and_cursors(cloud: CloudServer, operator: Operator,
                                     gateway: Gateway) -> None:
    printer_id, application_id = await contracted_printer(gateway, operator)
    ws = await gateway.push()
    try:
        hello = await next_push(ws)
        assert hello["type"] == "hello" and hello["heartbeat_seconds"] == 30
        replayed = await next_push(ws)  # the contract created above
        assert (replayed["type"], replayed["printer_id"]) == ("application-info-changed",
                                                              printer_id)
        started = time.monotonic()
        await operator.application_action("suspend", printer_id, "monitoring")
        suspended = [await next_push(ws), await next_push(ws)]
        assert time.monotonic() - started < 1.0, "pushed within a second"
        assert [m["type"] for m in suspended] == ["application-info-changed",
                                                  "control-info-changed"]
        assert suspended[0]["revision"] == suspended[1]["revision"]
    finally:
        await ws.close()
    cursor = suspended[1]["cursor"]

    await operator.application_action("resume", printer_id, "monitoring")
    ws = await gateway.push(cursor=suspended[0]["cursor"])
    try:
        hello = await next_push(ws)
        assert hello["cursor"] == suspended[0]["cursor"]
        resumed = [await next_push(ws), await next_push(ws)]
        assert resumed[0] == suspended[1], "the same change, the same cursor"
        assert resumed[1]["type"] == "application-info-changed"
    finally:
        await ws.close()

    polled = await gateway.ok("pollChanges", params={"cursor": cursor})
    assert polled["changes"] == [resumed[1]]
    assert polled["next_cursor"] == resumed[1]["cursor"] and polled["has_more"] is False
    everything = await gateway.ok("pollChanges", params={"limit": 2})
    assert everything["has_more"] is True and everything["changes"][0] == replayed
    idle = await gateway.ok("pollChanges", params={"cursor": polled["next_cursor"]})
    assert idle["changes"] == [] and idle["next_cursor"] == polled["next_cursor"]

    waiting = asyncio.create_task(gateway.ok("pollChanges", params={
        "cursor": polled["next_cursor"], "wait": 10}))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    command = await operator.ok("createCommand", path={"printer_id": printer_id},
                                json_body={"kind": "withdrawal"})
    woken = await asyncio.wait_for(waiting, 2)
    assert time.monotonic() - started < 1.0
    assert [c["type"] for c in woken["changes"]] == ["command"]
    assert woken["changes"][0]["command"]["command_id"] == command["command_id"]
    assert application_id

    await cloud.prune(times.now() + timedelta(days=8))
    expired = await gateway.call("pollChanges", params={"cursor": cursor})
    assert expired.status == 410 and expired.body["type"].endswith("/cursor-expired")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await gateway.push(cursor=cursor)
    assert refused.value.status == 410
    fresh = await gateway.ok("pollChanges")
    assert fresh["changes"] == [] and fresh["next_cursor"] is None
    ws = await gateway.push()
    try:
        assert (await next_push(ws))["cursor"] == woken["next_cursor"], "the stream's start"
    finally:
        await ws.close()


async def test_push_channel_refusals(cloud: CloudServer, http: aiohttp.ClientSession,
                                     gateway: Gateway) -> None:
    plain = await gateway.call("openPushChannel")
    assert plain.status == 426 and plain.headers["Upgrade"] == "websocket"
    url = cloud.url.replace("http", "ws", 1) + "/v1/push"
    auth = {"Authorization": f"Bearer {gateway.token}"}
    for kwargs, status in (({"headers": auth}, 400),
                           ({"headers": auth, "protocols": ("printgw.v1",),
                             "params": {"cursor": "bogus"}}, 400),
                           ({"protocols": ("printgw.v1",)}, 401),
                           ({"protocols": ("printgw.v1",),
                             "headers": {"Authorization": f"Bearer {OPERATOR_TOKEN}"}}, 403)):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, **kwargs)
        assert refused.value.status == status, kwargs


async def test_shutdown_closes_push_channels_going_away(tmp_path: Path,
                                                        http: aiohttp.ClientSession) -> None:
    async with running_cloud(sqlite_url(tmp_path)) as server:
        gateway = await Gateway.enrol(http, server.url, Operator(http, server.url))
        ws = await gateway.push()
        await next_push(ws)
        waiting = asyncio.create_task(gateway.ok("pollChanges", params={"wait": 30}))
        await asyncio.sleep(0.1)
    closing = await ws.receive(timeout=2)
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1001
    assert (await asyncio.wait_for(waiting, 2))["changes"] == []


# -- commands --------------------------------------------------------------------------------------

@BOTH_BACKENDS
async def test_commands(operator: Operator, gateway: Gateway) -> None:
    printer_id = await gateway.register()
    ws = await gateway.push()
    try:
        await next_push(ws)
        headers = {"Idempotency-Key": "command-0001"}
        created = await operator.call("createCommand", path={"printer_id": printer_id},
                                      json_body={"kind": "contract-transition"}, headers=headers)
        assert created.status == 201
        command = created.body
        assert command["state"] == "pending"
        assert command["parameters"] == {"mode": "contract-non-billing"}
        pushed = await next_push(ws)
        assert pushed["type"] == "command"
        assert pushed["command"] == {k: command[k] for k in pushed["command"]}
    finally:
        await ws.close()
    retry = await operator.call("createCommand", path={"printer_id": printer_id},
                                json_body={"kind": "contract-transition"}, headers=headers)
    assert (retry.status, retry.body) == (200, command)
    second = await operator.ok("createCommand", path={"printer_id": printer_id}, json_body={
        "kind": "panel-message", "parameters": {"message": "Install the contract cartridge."}})

    pending = await gateway.ok("listPendingCommands")
    assert [c["command_id"] for c in pending["commands"]] == [command["command_id"],
                                                              second["command_id"]]
    ack = {"command_id": command["command_id"]}
    at = rfc3339(times.now())
    received = await gateway.ok("acknowledgeCommand", path=ack, json_body={
        "printer_id": printer_id, "stage": "received", "at": at})
    assert (received["state"], received["received_at"]) == ("received", at)
    contract = {"supported": True, "mode": "contract-non-billing", "printing_prohibited": False,
                "panel_message": None}
    completed = {"printer_id": printer_id, "stage": "completed", "result": "done", "at": at,
                 "contract_state": contract}
    done = await gateway.ok("acknowledgeCommand", path=ack, json_body=completed)
    assert (done["state"], done["contract_state"]) == ("done", contract)
    assert await gateway.ok("acknowledgeCommand", path=ack, json_body=completed) == done
    conflict = await gateway.call("acknowledgeCommand", path=ack, json_body={
        **completed, "result": "failed", "reason": {"code": "set-failed", "detail": "No."}})
    assert conflict.status == 409
    assert conflict.body["type"].endswith("/acknowledgement-conflict")
    assert await operator.ok("getCommand", path=ack) == done
    refused = await gateway.ok("acknowledgeCommand", path={"command_id": second["command_id"]},
                               json_body={**completed, "result": "refused", "reason": {
                                   "code": "contract-unsupported", "detail": "No MIB."}})
    assert (refused["state"], refused["received_at"]) == ("refused", at), "implies received"
    assert (await gateway.ok("listPendingCommands"))["commands"] == []


async def test_command_rules(operator: Operator, gateway: Gateway,
                             http: aiohttp.ClientSession, cloud: CloudServer) -> None:
    printer_id = await gateway.register()
    other_printer = await gateway.register()
    command = await operator.ok("createCommand", path={"printer_id": printer_id},
                                json_body={"kind": "billing-start"})
    path = {"command_id": command["command_id"]}
    wrong_printer = await gateway.call("acknowledgeCommand", path=path, json_body={
        "printer_id": other_printer, "stage": "received", "at": rfc3339(times.now())})
    assert wrong_printer.status == 422
    assert wrong_printer.body["errors"][0]["pointer"] == "/printer_id"
    foreign = await Gateway.enrol(http, cloud.url, operator, name="foreign")
    hidden = await foreign.call("acknowledgeCommand", path=path, json_body={
        "printer_id": printer_id, "stage": "received", "at": rfc3339(times.now())})
    assert hidden.status == 404
    assert (await foreign.ok("listPendingCommands"))["commands"] == []
    assert (await gateway.ok("listPendingCommands", params={"printer_id": other_printer})
            )["commands"] == []
    past = await operator.call("createCommand", path={"printer_id": printer_id}, json_body={
        "kind": "withdrawal", "deadline": "2020-01-01T00:00:00Z"})
    assert past.status == 422 and past.body["errors"][0]["pointer"] == "/deadline"
    no_text = await operator.call("createCommand", path={"printer_id": printer_id},
                                  json_body={"kind": "panel-message"})
    assert no_text.status == 422
    assert no_text.body["errors"] == [{"pointer": "/parameters", "detail": "Required field."}]
    unknown = await operator.call("getCommand", path={"command_id": str(uuid.uuid4())})
    assert unknown.status == 404


# -- operator: services and notices ----------------------------------------------------------------

async def test_service_changes_notify_the_gateways(operator: Operator, gateway: Gateway) -> None:
    printer_id, _ = await contracted_printer(gateway, operator, "monitoring")
    created = await operator.call("putService", path={"service_id": "spare"}, json_body={
        "service_outline": "x", "provider": "y", "data_types": []})
    assert created.status == 201 and created.body["activation_by_first_upload"] is False
    changes = await gateway.ok("pollChanges")
    start = changes["next_cursor"]
    same = await operator.call("putService", path={"service_id": "monitoring"}, json_body={
        "service_outline": "The monitoring service", "provider": "Example Provider",
        "data_types": MONITORING})
    assert same.status == 200
    assert (await gateway.ok("pollChanges", params={"cursor": start}))["changes"] == []
    await operator.put_service("monitoring", ["state"])
    changed = await gateway.ok("pollChanges", params={"cursor": start})
    assert [(c["type"], c["printer_id"]) for c in changed["changes"]] == [
        ("application-info-changed", printer_id), ("control-info-changed", printer_id)]
    control = await gateway.ok("getDeviceControlInformation", path={"printer_id": printer_id})
    assert control["requested_data_types"] == ["state"]


async def test_enrolment(cloud: CloudServer, http: aiohttp.ClientSession,
                         operator: Operator) -> None:
    anonymous = Api(http, cloud.url, None)
    token = await operator.ok("createEnrolmentToken", json_body={
        "region": "jp", "label": "Tokyo office", "expires_in_seconds": 3600})
    assert token["label"] == "Tokyo office" and token["enrolment_token"].startswith("pgwe_")
    request = {"enrolment_token": token["enrolment_token"], "name": "gw", "hostname": None,
               "software_version": "0.1.0"}
    key = {"Idempotency-Key": "enrol-attempt-1"}
    first = await anonymous.call("enrolGateway", json_body=request, headers=key)
    assert first.status == 201 and first.body["token"].startswith("pgwg_")
    retry = await anonymous.call("enrolGateway", json_body=request, headers=key)
    assert (retry.status, retry.body) == (200, first.body)
    for headers in ({}, {"Idempotency-Key": "enrol-attempt-2"}):
        spent = await anonymous.call("enrolGateway", json_body=request, headers=headers)
        assert spent.status == 401 and spent.body["type"].endswith("/enrolment-token-invalid")
    unknown = await anonymous.call("enrolGateway", json_body={
        **request, "enrolment_token": "pgwe_not-a-token"})
    assert unknown.status == 401
    gateway = Gateway(http, cloud.url, first.body["token"])
    assert await gateway.register()
    await cloud.prune(times.now() + timedelta(days=2))
    late = await anonymous.call("enrolGateway", json_body=request, headers=key)
    assert late.status == 401, "the replay window is 24 h"


async def test_regions(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    regions = {"jp": "https://jp.api.printgw.example", "eu-west": "http://127.0.0.1:9/"}
    async with running_cloud(sqlite_url(tmp_path), regions=regions) as server:
        anonymous = Api(http, server.url, None)
        jp = await anonymous.ok("resolveConnectionDestination", json_body={"region": "jp"})
        assert (jp["base_url"], jp["push_url"]) == ("https://jp.api.printgw.example",
                                                    "wss://jp.api.printgw.example/v1/push")
        eu = await anonymous.ok("resolveConnectionDestination", json_body={"region": "eu-west"})
        assert eu["base_url"] == "http://127.0.0.1:9"
        for call, operator in (("resolveConnectionDestination", anonymous),
                               ("createEnrolmentToken", Operator(http, server.url))):
            unknown = await operator.call(call, json_body={"region": "us"})
            assert unknown.status == 422 and unknown.body["type"].endswith("/unknown-region")


# -- error answers ---------------------------------------------------------------------------------

async def test_error_answers(cloud: CloudServer, http: aiohttp.ClientSession,
                             operator: Operator, gateway: Gateway) -> None:
    printer_id, _ = await contracted_printer(gateway, operator)
    key = {"Idempotency-Key": str(uuid.uuid4())}

    async def upload(data: bytes, **headers: str) -> dict[str, Any]:
        answer = await gateway.call("uploadStatuses", data=data, headers={**key, **headers})
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        return {"status": answer.status, **answer.body}

    too_many = json.dumps({"statuses": [entry(printer_id) for _ in range(501)]}).encode()
    assert (await upload(too_many))["status"] == 413
    huge = json.dumps({"statuses": [entry(printer_id, {"state": {
        **STATE, "reasons": ["x" * 1000] * 5000}})]}).encode()
    assert (await upload(huge))["status"] == 413
    assert (await upload(gzip.compress(huge), **{"Content-Encoding": "gzip"}))["status"] == 413
    assert (await upload(b"{}", **{"Content-Encoding": "deflate"}))["status"] == 415
    assert (await upload(b"{}", **{"Content-Type": "text/plain"}))["status"] == 415
    bad_json = await upload(b"{not json")
    assert bad_json["status"] == 400 and bad_json["type"].endswith("/malformed-request")
    assert (await upload(b"not gzip", **{"Content-Encoding": "gzip"}))["status"] == 400
    no_key = await gateway.call("uploadStatuses", json_body={"statuses": [entry(printer_id)]})
    assert no_key.status == 400 and no_key.body["errors"][0]["header"] == "Idempotency-Key"
    empty = await upload(json.dumps({"statuses": []}).encode())
    assert empty["status"] == 422 and empty["errors"][0]["pointer"] == "/statuses"
    no_id = await upload(json.dumps({"statuses": [{"printer_id": printer_id}]}).encode())
    assert no_id["status"] == 422
    assert no_id["errors"] == [{"pointer": "/statuses/0/entry_id", "detail": "Required field."}]

    registration = await gateway.call("registerPrinter", json_body={
        **REGISTRATION, "colour": "black", "time_zone": "Tokyo"})
    assert registration.status == 422
    assert [e["pointer"] for e in registration.body["errors"]] == ["/colour", "/time_zone"]
    nul = await gateway.call("registerPrinter", json_body={**REGISTRATION, "serial": "a\x00b"})
    assert nul.status == 422 and nul.body["errors"][0]["pointer"] == "/serial"
    bad_limit = await gateway.call("pollChanges", params={"limit": "many"})
    assert bad_limit.status == 400 and bad_limit.body["errors"][0]["parameter"] == "limit"
    assert (await gateway.call("pollChanges", params={"wait": 61})).status == 400

    printer = {"printer_id": printer_id}
    assert (await Api(http, cloud.url, None).call("getApplicationInformation",
                                                  path=printer)).status == 401
    assert (await Api(http, cloud.url, "pgwg_unknown").call("getApplicationInformation",
                                                            path=printer)).status == 401
    assert (await operator.call("getApplicationInformation", path=printer)).status == 403
    assert (await gateway.call("getPrinter", path=printer)).status == 403
    other = await Gateway.enrol(http, cloud.url, operator, name="other")
    for call in ("getApplicationInformation", "getDeviceControlInformation"):
        assert (await other.call(call, path=printer)).status == 404, "another's is not found"
        assert (await gateway.call(call, path={"printer_id": "not-a-uuid"})).status == 404
    assert (await operator.call("getPrinter", path={"printer_id": str(uuid.uuid4())})
            ).status == 404
    assert (await operator.call("listPrinters", params={"cursor": "x"})).status == 400

    async with http.delete(cloud.url + "/v1/printers") as response:
        assert response.status == 405 and response.content_type == "application/problem+json"
    async with http.get(cloud.url + "/v1/nowhere") as response:
        assert response.status == 404 and response.content_type == "application/problem+json"


# -- the server as a whole -------------------------------------------------------------------------

def test_every_operation_has_a_route() -> None:
    routes = {(method, path) for method, path, _ in ROUTES}
    documented = {(method, path) for method, path, _ in OPERATIONS.values()}
    assert routes == documented


async def test_tls(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    trusting = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=cert))
    async with running_cloud(sqlite_url(tmp_path), ssl_context=server_side) as server, \
            aiohttp.ClientSession(connector=trusting) as https:
        assert server.url.startswith("https://127.0.0.1:")
        destination = await Api(https, server.url, None).ok(
            "resolveConnectionDestination", json_body={"region": "jp"})
        assert destination["push_url"] == server.url.replace("https", "wss") + "/v1/push"
        gateway = await Gateway.enrol(https, server.url, Operator(https, server.url))
        ws = await gateway.push()
        assert (await next_push(ws))["type"] == "hello"
        await ws.close()


async def test_stops_when_cancelled_as_it_is_woken(tmp_path: Path) -> None:
    """The contract engine and the order sender stop even when the shutdown cancels them in the
    same turn of the event loop as a wake-up (an upload's, a new order's): `asyncio.wait_for`
    then returned on 3.11 instead of raising, and the cloud could never stop."""
    server = CloudServer(database_url=sqlite_url(tmp_path), contract_poll_seconds=3600,
                         order_webhook=f"http://127.0.0.1:{free_port()}/orders")
    engine = server.contracts

    async def wake_both(_app: object) -> None:  # runs right before the cleanup cancels them
        engine.wake()
        engine.orders.wake()

    server.app.on_cleanup.insert(0, wake_both)
    async with server:
        for _ in range(2000):  # until both wait for a wake-up (asyncio.Event._waiters)
            if engine._wake._waiters and engine.orders._wake._waiters:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the contract engine and the order sender never went idle")
        closing = asyncio.create_task(server.close())
        await asyncio.wait({closing}, timeout=20)
        assert closing.done(), "the cloud did not stop"


async def test_cli_serves_tls_and_stops(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    token_file = tmp_path / "operator-tokens"
    token_file.write_text(f"# operators\n\n{OPERATOR_TOKEN}\n")
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cloud", "serve", "--port", str(port), "--tls-cert", str(cert),
        "--tls-key", str(key), "--operator-token-file", str(token_file),
        "--database", sqlite_url(tmp_path), cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert line.decode().strip() == f"printgw-cloud listening on https://127.0.0.1:{port}"
        trusting = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=cert))
        async with aiohttp.ClientSession(connector=trusting) as https:
            services = await Operator(https, f"https://127.0.0.1:{port}").ok("listServices")
        assert services == {"services": []}
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0


async def test_cli_refuses_plain_http_off_loopback(tmp_path: Path) -> None:
    env = {**os.environ, TOKEN_ENV: secrets.token_urlsafe(24), "PYTHONPATH": str(REPO)}
    for arguments, complaint in ((["--host", "0.0.0.0"], "needs TLS"),
                                 (["--tls-cert", "x.pem"], "go together")):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cloud", "serve", *arguments, cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
        assert process.returncode == 2 and complaint in stderr.decode()
    env.pop(TOKEN_ENV)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cloud", "serve", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2 and "no operator token" in stderr.decode()
