"""Helpers for the tests of contract-mode commands relayed by the gateway (issue 6): the set-up,
the gateway run in the test's process where a test must step through it, commands issued and
looked up as the operator, the gateway's audit of them."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from gateway.app.daemon import Gateway
from gateway.settings.loading import load_config
from gateway.store import DATABASE_NAME
from protocols.cloud.times import rfc3339
from tests.support.uplink_harness import Harness, uplink_setup

FAST = {"retry_initial": "0.3s", "retry_max": "1s"}
"""Fast retries of the acknowledgements (the `[contract]` section)."""


def relay_setup(tmp: Path, first_ip: str, profiles: list[str],
                **fleet_options: Any) -> contextlib.AbstractAsyncContextManager[Harness]:
    """One printer per profile, the reference cloud behind a fault proxy, an enrolment token."""
    return uplink_setup(tmp, first_ip, profiles, fleet_options=fleet_options)


def configure(h: Harness, snmp: dict[str, Any] | None = None, **contract: Any) -> Path:
    """The gateway's config with fast SNMP timeouts, `[contract]` as given."""
    return h.write_config(snmp={"port": h.fleet.printers[0].snmp_port,
                                "communities": ["public"], "timeout": "0.5s", "retries": 0,
                                **(snmp or {})},
                          contract=contract)


@contextlib.asynccontextmanager
async def gateway_in_process(h: Harness) -> AsyncIterator[Gateway]:
    """The gateway of `h`'s config, its printers read and registered."""
    async with Gateway(load_config(h.config_path)) as gateway:
        await gateway.cycle(sync=True)
        assert gateway.link is not None and gateway.link.status.connected
        yield gateway


async def printer_ids(h: Harness) -> dict[str, str]:
    """Printer ID by profile key."""
    printers = await h.printers()
    return {p.profile.key: printers[p.state.serial]["printer_id"] for p in h.fleet.printers}


async def issue(h: Harness, printer_id: str, kind: str, parameters: dict[str, Any] | None = None,
                deadline: float | None = None) -> dict[str, Any]:
    """A contract-mode command issued by the operator (`deadline`: seconds from now)."""
    body: dict[str, Any] = {"kind": kind}
    if parameters is not None:
        body["parameters"] = parameters
    if deadline is not None:
        body["deadline"] = rfc3339(time.time() + deadline)
    return await h.operator.ok("createCommand", path={"printer_id": printer_id}, json_body=body)


async def cloud_command(h: Harness, command_id: str) -> dict[str, Any]:
    """The cloud's record of the command."""
    return await h.operator.ok("getCommand", path={"command_id": command_id})


async def relay_through(gateway: Gateway) -> None:
    """Fetch the change stream and wait until every command it brought is completed."""
    assert gateway.link is not None and gateway.relay is not None
    await gateway.link.poll_changes()
    await asyncio.wait_for(gateway.relay.drain(), 30)


def audit(data_dir: Path, command_id: str) -> list[sqlite3.Row]:
    """The gateway's audit rows of the command, oldest first."""
    with contextlib.closing(sqlite3.connect(data_dir / DATABASE_NAME)) as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT * FROM command_audit WHERE command_id = ? ORDER BY id",
                          (command_id,)).fetchall()
