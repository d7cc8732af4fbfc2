"""The operator's enable setting by command, end to end: virtual fleet + reference cloud + the real
`printgw run` daemon.  The operator disables an active service on one printer (deactivated at once,
the cloud shows it inactive) and gives it back (active again); an enable of a service IT's config
disables is refused with the reason; the overrides survive a restart and a SIGHUP reload
(FIG. 10 run again after each keeps the service inactive).  The operator's printer view shows
why a legacy printer cannot deliver a data type."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.command_helpers import cloud_command, issue, printer_ids
from tests.support.uplink_harness import Harness, uplink_setup

pytestmark = pytest.mark.slow

MONITORING = ["identity", "supplies.level", "state", "contract"]
"""`contract` included: the legacy printer (no contract MIB) cannot deliver it."""
SYNCED = re.compile(r"cloud: [1-9]\d* of \d+ devices synchronised")
WITHIN = 30.0
"""Seconds for what the daemon does at once (generous: the machine is shared)."""


async def state_of(h: Harness, printer_id: str, service_id: str) -> str | None:
    view = await h.operator.ok("getPrinter", path={"printer_id": printer_id})
    return next((a["activation_state"] for a in view["applications"]
                 if a["service_id"] == service_id), None)


async def becomes(h: Harness, printer_id: str, service_id: str, state: str) -> None:
    async def check() -> bool:
        return await state_of(h, printer_id, service_id) == state
    await h.wait_for(check, WITHIN, f"{service_id} {state} on {printer_id}", step=0.2)


async def command_result(h: Harness, printer_id: str, service_id: str,
                         enabled: bool | None) -> dict[str, Any]:
    command = await issue(h, printer_id, "set-service-enabled",
                          {"service_id": service_id, "enabled": enabled})

    async def final() -> dict[str, Any] | None:
        status = await cloud_command(h, command["command_id"])
        return status if status["state"] not in ("pending", "received") else None
    result: dict[str, Any] = await h.wait_for(final, WITHIN, f"{service_id}={enabled} done",
                                              step=0.2)
    return result


def write_config(h: Harness, *extra_rules: dict[str, Any]) -> None:
    h.write_config(services={"default": True, "rule": [
        {"service": "toner-delivery", "enabled": False}, *extra_rules]})


async def test_operator_switches_a_service_by_command_and_overrides_outlive_restarts(
        tmp_path: Path) -> None:
    async with uplink_setup(tmp_path, "127.0.119.1", ["color-mfp", "legacy-laser"]) as h:
        await h.operator.put_service("monitoring", MONITORING)
        await h.operator.put_service("toner-delivery", ["supplies.level"])
        write_config(h)
        daemon = await h.start_daemon()

        async def both() -> bool:
            return len(await h.printers()) == 2
        await h.wait_for(both, WITHIN, "both printers registered", step=0.2)
        ids = await printer_ids(h)
        mfp, legacy = ids["color-mfp"], ids["legacy-laser"]
        for printer_id in (mfp, legacy):
            await h.operator.contract(printer_id, "monitoring")
        await becomes(h, mfp, "monitoring", "active")
        await becomes(h, legacy, "monitoring", "active")

        # The legacy printer's reason for `contract`, in the operator's view.
        async def reasons() -> list[dict[str, str]]:
            view = await h.operator.ok("getPrinter", path={"printer_id": legacy})
            return [u for u in view["unavailable_data_types"] if u["data_type"] == "contract"]
        shown = await h.wait_for(reasons, WITHIN, "the legacy printer's unavailable reason",
                                 step=0.2)
        assert "contract" in shown[0]["reason"].lower(), shown

        # Disabled by the operator: deactivated at once, the other printer untouched.
        status = await command_result(h, mfp, "monitoring", False)
        assert status["state"] == "done", status
        assert status["service_setting"] == {"service_id": "monitoring", "enabled": False,
                                             "override": False, "config_enabled": True}
        await becomes(h, mfp, "monitoring", "inactive")
        assert await state_of(h, legacy, "monitoring") == "active"

        # What IT disabled cannot be enabled from the cloud.
        await h.operator.contract(mfp, "toner-delivery")
        status = await command_result(h, mfp, "toner-delivery", True)
        assert status["state"] == "refused", status
        assert status["reason"]["code"] == "not-permitted-by-config"
        assert status["service_setting"]["config_enabled"] is False
        assert await state_of(h, mfp, "toner-delivery") == "inactive"

        # A restart, then a reload that makes FIG. 10 run again: the override holds.
        assert await daemon.stop() == 0
        seen = len(h.proxy.requests)
        daemon = await h.start_daemon()

        def applications_read(after: int) -> bool:
            return any(m == "GET" and p == f"/v1/printers/{mfp}/applications"
                       for m, p, _s in h.proxy.requests[after:])
        await h.wait_for(lambda: applications_read(seen), WITHIN, "FIG. 7 after the restart")
        await h.wait_for(lambda: SYNCED.search(daemon.log()), WITHIN, "FIG. 7 done")
        assert await state_of(h, mfp, "monitoring") == "inactive"
        write_config(h, {"service": "monitoring", "model": "*NoSuchModel*", "enabled": False})
        daemon.process.send_signal(signal.SIGHUP)
        await h.wait_for(lambda: "reload: applied" in daemon.log(), WITHIN, "the reload")
        # Another override on the printer has its services decided again at once.
        status = await command_result(h, mfp, "toner-delivery", False)
        assert status["state"] == "done", status
        assert status["service_setting"]["override"] is False
        assert await state_of(h, mfp, "monitoring") == "inactive"

        # Given back to the config's setting: active again.
        status = await command_result(h, mfp, "monitoring", None)
        assert status["state"] == "done", status
        assert status["service_setting"]["enabled"] is True
        await becomes(h, mfp, "monitoring", "active")
        assert await state_of(h, mfp, "toner-delivery") == "inactive"
        assert await daemon.stop() == 0
