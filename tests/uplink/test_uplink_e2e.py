"""The cloud link end to end: virtual fleet + reference cloud + the real `printgw run`.

What issue 5 asks to be shown: every printer registered once with its serial; activation notices
for exactly the services FIG. 10 allows; uploads holding exactly the requested data types;
contract changes reaching the gateway by push within a second and by polling when the push channel
is cut; a threshold crossing reaching the cloud within one poll interval.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = pytest.mark.slow

PROFILES = ["color-mfp", "mono-laser", "inkjet", "legacy-laser"]
SERVICES: dict[str, tuple[list[str], list[str]]] = {
    # service: (data types it needs, compatible cartridge models: empty = any)
    "monitoring": (["identity", "supplies.level", "state", "alerts", "counters.total"], []),
    "toner-delivery": (["supplies.level", "supplies.model", "supplies.color"],
                       ["CX54-B", "TN-210"]),
    "ink-delivery": (["supplies.level", "supplies.model"], ["IJ4-B"]),
    "contract-print": (["contract", "supplies.cartridge", "counters.contract"], []),
}


async def put_services(h: Harness, names: list[str] | None = None) -> None:
    for service_id in names or list(SERVICES):
        types, models = SERVICES[service_id]
        await h.operator.put_service(service_id, types, models=models)


def activation_notices(h: Harness) -> set[tuple[str, str, str]]:
    """(printer ID, service ID, application ID) of every activation notice the gateway sent."""
    sent = set()
    for method, path, body in h.proxy.bodies:
        if method == "POST" and path.endswith("/activations"):
            printer_id = path.split("/")[3]
            for a in json.loads(body)["activations"]:
                sent.add((printer_id, a["service_id"], a["application_id"]))
    return sent


def registrations(h: Harness) -> list[str]:
    return [json.loads(body)["serial"] for method, path, body in h.proxy.bodies
            if method == "POST" and path == "/v1/printers"]


async def test_once_registers_activates_per_fig10_and_uploads_only_requested_types(
        tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.60.1", PROFILES) as h:
        await put_services(h)
        serial = {p.profile.key: p.state.serial for p in h.fleet.printers}
        h.write_config(services={"default": True, "rule": [
            {"service": "contract-print", "model": "*LaserWriter*", "enabled": False},
            {"service": "monitoring", "serial": serial["inkjet"], "enabled": False}]})

        rc, _out, err = await h.run_once()
        assert rc == 0, err
        printers = await h.printers()
        assert sorted(printers) == sorted(serial.values())
        assert sorted(registrations(h)) == sorted(serial.values())
        ids = {key: printers[s]["printer_id"] for key, s in serial.items()}
        assert all(not v["applications"] for v in printers.values())
        assert activation_notices(h) == set()

        # Contracts for every service on every printer; the legacy printer's monitoring one
        # is cancelled again (its application ID is then empty).
        apps: dict[tuple[str, str], str] = {}
        for key, printer_id in ids.items():
            for service_id in SERVICES:
                app = await h.operator.contract(printer_id, service_id)
                apps[key, service_id] = app["application_id"]
        await h.operator.application_action("cancel", ids["legacy-laser"], "monitoring")

        h.proxy.bodies.clear()
        rc, _out, err = await h.run_once()
        assert rc == 0, err
        assert registrations(h) == []  # known printers are not registered again
        assert {s: v["printer_id"] for s, v in (await h.printers()).items()} == \
            {serial[k]: ids[k] for k in ids}

        allowed = {  # FIG. 10: enabled x application ID present x compatible
            ("color-mfp", "monitoring"), ("color-mfp", "toner-delivery"),
            ("color-mfp", "contract-print"),
            ("mono-laser", "monitoring"), ("mono-laser", "toner-delivery"),
            ("inkjet", "ink-delivery"), ("inkjet", "contract-print"),
        }
        assert activation_notices(h) == {(ids[k], s, apps[k, s]) for k, s in allowed}

        printers = await h.printers()
        for key, printer_id in ids.items():
            view = printers[serial[key]]
            states = {a["service_id"]: a["activation_state"] for a in view["applications"]}
            for service_id in SERVICES:
                expected = "active" if (key, service_id) in allowed else (
                    "cancelled" if (key, service_id) == ("legacy-laser", "monitoring")
                    else "inactive")
                assert states[service_id] == expected, (key, service_id)
            wanted = {t for k, s in allowed if k == key for t in SERVICES[s][0]}
            assert set(view["requested_data_types"]) == wanted
            assert set(view["current_data_types"]) == wanted
            statuses = await h.statuses(printer_id)
            if not wanted:
                assert statuses == []
                continue
            assert [s["event"] for s in statuses] == ["periodic"]
            assert set(statuses[0]["data"]) == wanted
            if "identity" in wanted:
                assert statuses[0]["data"]["identity"]["serial"] == serial[key]


async def test_daemon_push_within_a_second_polling_when_cut_threshold_within_a_poll(
        tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.61.1", ["color-mfp"]) as h:
        await put_services(h, ["monitoring", "toner-delivery", "contract-print"])
        printer = h.fleet.printers[0]
        printer.state.set_level("black", 60)
        h.write_config(poll={"interval": "2s"})
        daemon = await h.start_daemon()
        loop = asyncio.get_running_loop()

        printers = await h.wait_for(h.printers, 30, "the printer registered")
        printer_id = printers[printer.state.serial]["printer_id"]

        def push_open() -> bool:
            return any(p == "/v1/push" and s == 101 for _m, p, s in h.proxy.requests)
        await h.wait_for(push_open, 15, "the push channel open")

        def notified(service_id: str) -> bool:
            return any(s == service_id for _p, s, _a in activation_notices(h))

        def fetched_applications(after: int) -> bool:
            return any(m == "GET" and p.endswith("/applications")
                       for m, p, _s in h.proxy.requests[after:])

        # A contract created in the cloud: pushed, and the gateway activates it within a second
        # of the change being committed (the operator's call answered).
        await h.operator.contract(printer_id, "monitoring")
        started = loop.time()
        await h.wait_for(lambda: notified("monitoring"), 1.0, "activation after a push")
        assert loop.time() - started < 1.0 + 0.25  # the last check's lateness on a busy machine

        # Suspended, resumed and cancelled: each reaches the gateway (it re-reads the
        # application information) within a second.
        for action in ("suspend", "resume", "cancel"):
            seen = len(h.proxy.requests)
            await h.operator.application_action(action, printer_id, "monitoring")
            await h.wait_for(lambda seen=seen: fetched_applications(seen), 1.0,
                             f"{action} pushed to the gateway")

        # The push channel cut (and refused): the gateway falls back to polling the change
        # stream (every second here) and still learns of a new contract.
        await h.proxy.cut_websockets(block=True)
        await h.operator.contract(printer_id, "toner-delivery")
        await h.wait_for(lambda: notified("toner-delivery"), 5.0, "activation by polling")
        assert any(p == "/v1/changes" for _m, p, _s in h.proxy.requests)

        # The channel back: push again.
        await h.proxy.cut_websockets(block=False)
        seen_push = len([1 for _m, p, s in h.proxy.requests if p == "/v1/push" and s == 101])
        await h.wait_for(lambda: len([1 for _m, p, s in h.proxy.requests
                                      if p == "/v1/push" and s == 101]) > seen_push,
                         70, "the push channel reopened")
        await h.operator.contract(printer_id, "contract-print")
        await h.wait_for(lambda: notified("contract-print"), 1.0, "activation after a push")

        # A supply crossing a threshold reaches the cloud within one poll interval (2 s).
        async def crossed() -> list[dict]:
            return [s for s in await h.statuses(printer_id) if s["event"] == "threshold-crossed"]
        assert await crossed() == []
        printer.state.set_level("black", 15)
        started = loop.time()
        events = await h.wait_for(crossed, 2.5, "threshold-crossed status in the cloud")
        assert loop.time() - started <= 2.5
        assert events[0]["event_detail"]["threshold_percent"] == 20
        assert set(events[0]["data"]) == set(
            SERVICES["toner-delivery"][0] + SERVICES["contract-print"][0])

        assert await daemon.stop() == 0
        assert "Traceback" not in daemon.log()


async def test_fig9_first_upload_activates_and_fig7_sync_repeats(tmp_path: Path) -> None:
    """Where the cloud allows it, the first status upload carrying the application ID activates
    the service (no activation notice, no control information round trip needed); the FIG. 7
    sync runs again on schedule."""
    async with uplink_setup(tmp_path, "127.0.62.1", ["mono-laser"]) as h:
        await h.operator.put_service("quick-start", ["supplies.level", "counters.total"],
                                     first_upload=True)
        printer = h.fleet.printers[0]
        h.write_config(cloud={"sync_interval": "2s", "push": False,
                              "changes_poll_interval": "30s"}, poll={"interval": "1s"})
        rc, _out, err = await h.run_once()
        assert rc == 0, err
        printer_id = (await h.printers())[printer.state.serial]["printer_id"]
        app = await h.operator.contract(printer_id, "quick-start")

        daemon = await h.start_daemon()

        async def activated() -> bool:
            view = (await h.printers())[printer.state.serial]
            return any(a["activation_state"] == "active" for a in view["applications"])
        await h.wait_for(activated, 10, "activation by the first upload")
        assert activation_notices(h) == set()
        carrying = [s for s in await h.statuses(printer_id)
                    if s.get("application_ids") == [app["application_id"]]]
        assert len(carrying) == 1
        assert set(carrying[0]["data"]) == {"supplies.level", "counters.total"}

        # FIG. 7 again on schedule (every 2 s here), with no change pushed or polled.
        def application_reads() -> int:
            return sum(1 for m, p, _s in h.proxy.requests
                       if m == "GET" and p == f"/v1/printers/{printer_id}/applications")
        before = application_reads()
        await h.wait_for(lambda: application_reads() >= before + 2, 10, "two more FIG. 7 syncs")
        assert activation_notices(h) == set()  # already active: no notice on later syncs
        assert await daemon.stop() == 0
