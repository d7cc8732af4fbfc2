"""`set-service-enabled`: the operator's enable setting by an authenticated command, relayed by
the gateway (run in the test's process to step through it) to its enable overrides, with the
config file as the upper bound; real virtual printers and the reference cloud on loopback."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gateway.store import DATABASE_NAME, Store
from gateway.uplink.enable_overrides import EnableOverrides, effective_enabled
from tests.support.command_helpers import (
    cloud_command,
    configure,
    gateway_in_process,
    issue,
    printer_ids,
    relay_setup,
    relay_through,
)
from tests.support.uplink_harness import Harness

pytestmark = pytest.mark.slow

MONITORING = ["identity", "supplies.level", "state"]


async def states(h: Harness, printer_id: str) -> dict[str, str]:
    view = await h.operator.ok("getPrinter", path={"printer_id": printer_id})
    return {a["service_id"]: a["activation_state"] for a in view["applications"]}


def overrides(data_dir: Path) -> list[tuple[str, str, int]]:
    with contextlib.closing(sqlite3.connect(data_dir / DATABASE_NAME)) as db:
        return db.execute("SELECT device_id, service_id, enabled FROM enable_overrides "
                          "ORDER BY device_id").fetchall()


async def test_operator_disables_gives_back_and_cannot_enable_what_it_disabled(
        tmp_path: Path) -> None:
    async with relay_setup(tmp_path, "127.0.118.1", ["color-mfp", "legacy-laser"]) as h:
        await h.operator.put_service("monitoring", MONITORING)
        legacy_serial = next(p.state.serial for p in h.fleet.printers
                             if p.profile.key == "legacy-laser")
        configure(h, enabled=False)  # [contract] off: the enable command is relayed all the same
        h.write_config(services={"default": True, "rule": [
            {"service": "monitoring", "serial": legacy_serial, "enabled": False}]})
        async with gateway_in_process(h) as gateway:
            ids = await printer_ids(h)
            for printer_id in ids.values():
                await h.operator.contract(printer_id, "monitoring")
            await relay_through(gateway)
            assert (await states(h, ids["color-mfp"]))["monitoring"] == "active"
            assert (await states(h, ids["legacy-laser"]))["monitoring"] == "inactive"

            async def run(profile: str, enabled: bool | None) -> dict[str, Any]:
                command = await issue(h, ids[profile], "set-service-enabled",
                                      {"service_id": "monitoring", "enabled": enabled})
                await relay_through(gateway)
                return await cloud_command(h, command["command_id"])

            # Disabled by the operator: done, deactivated at once (no sync waited for).
            status = await run("color-mfp", False)
            assert status["state"] == "done", status
            assert status["service_setting"] == {"service_id": "monitoring", "enabled": False,
                                                 "override": False, "config_enabled": True}
            assert status["contract_state"] is None
            assert (await states(h, ids["color-mfp"]))["monitoring"] == "inactive"
            view = await h.operator.ok("getPrinter", path={"printer_id": ids["color-mfp"]})
            assert view["requested_data_types"] == []

            # Given back to the config (null): active again.
            status = await run("color-mfp", None)
            assert status["state"] == "done", status
            assert status["service_setting"]["enabled"] is True
            assert status["service_setting"]["override"] is None
            assert (await states(h, ids["color-mfp"]))["monitoring"] == "active"

            # IT's file disables it on the legacy printer: the cloud cannot enable it …
            status = await run("legacy-laser", True)
            assert status["state"] == "refused", status
            assert status["reason"]["code"] == "not-permitted-by-config"
            assert status["service_setting"] == {"service_id": "monitoring", "enabled": False,
                                                 "override": None, "config_enabled": False}
            assert (await states(h, ids["legacy-laser"]))["monitoring"] == "inactive"
            # … but may disable it too (kept: it outlives a later change of the config).
            status = await run("legacy-laser", False)
            assert status["state"] == "done", status
            assert status["service_setting"]["override"] is False
            legacy_id = gateway.state.device_for_printer(ids["legacy-laser"])
        assert overrides(h.data_dir) == [(str(legacy_id), "monitoring", 0)]


async def test_a_printer_of_another_gateway_is_refused(tmp_path: Path) -> None:
    async with relay_setup(tmp_path, "127.0.118.10", ["mono-laser"]) as h:
        await h.operator.put_service("monitoring", MONITORING)
        configure(h)
        async with gateway_in_process(h) as gateway:
            ids = await printer_ids(h)
            # The gateway forgets the printer (as when it is no longer in its inventory).
            with gateway.store.transaction() as db:
                db.execute("DELETE FROM cloud_printers")
            command = await issue(h, ids["mono-laser"], "set-service-enabled",
                                  {"service_id": "monitoring", "enabled": False})
            await relay_through(gateway)
            status = await cloud_command(h, command["command_id"])
            assert status["state"] == "refused" and status["reason"]["code"] == "unknown-printer"
        assert overrides(h.data_dir) == []


def test_overrides_are_kept_in_the_store_and_bounded_by_the_config(tmp_path: Path) -> None:
    with Store.in_directory(tmp_path) as store:
        overrides_ = EnableOverrides(store)
        overrides_.set("7", "monitoring", False)
        overrides_.set("7", "delivery", True)
        overrides_.set("7", "delivery", None)  # back to the config: removed
    with Store.in_directory(tmp_path) as store:  # reopened, as after a restart
        kept = EnableOverrides(store)
        assert kept.get("7", "monitoring") is False
        assert kept.get("7", "delivery") is None
        assert kept.of_device("7") == {"monitoring": False}
    # The config file is the upper bound.
    assert [effective_enabled(c, o) for c in (True, False) for o in (None, True, False)] == \
        [True, True, False, False, False, False]
