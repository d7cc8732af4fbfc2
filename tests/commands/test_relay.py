"""Contract-mode commands relayed to printers (issue 6, gateway part): virtual printers with the
contract MIB, the reference cloud, the gateway (the real `printgw run`, or its `Gateway` in this
process where a test must step through it).  Every outcome is checked on the printer's own MIB
(net-snmp `snmpget`, or the simulator's state) and in the cloud's record of the command.

Tests use addresses 127.0.71.0-127.0.79.255.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.app.daemon import Gateway
from gateway.settings.loading import load_config
from gateway.store import DATABASE_NAME
from protocols.cloud.models import Command
from protocols.snmp import contract_mib as cm
from simulator.printer import VirtualPrinter
from simulator.snmp_v3 import V3User
from tests.support.cloud_helpers import Gateway as CloudGateway
from tests.support.command_helpers import (
    FAST,
    audit,
    cloud_command,
    configure,
    gateway_in_process,
    issue,
    printer_ids,
    relay_setup,
    relay_through,
)
from tests.support.sim_helpers import snmpget
from tests.support.uplink_harness import Harness

pytestmark = pytest.mark.slow

V3 = V3User("gwadmin", "auth-secret-1", "priv-secret-1")


def printer(h: Harness, profile: str) -> VirtualPrinter:
    return next(p for p in h.fleet.printers if p.profile.key == profile)


def acknowledgements(h: Harness, command_id: str) -> list[tuple[str, int]]:
    """(method, status) of every acknowledgement of the command that passed the proxy."""
    return [(method, status) for method, path, status in h.proxy.requests
            if path == f"/v1/commands/{command_id}/acknowledgements"]


MODE = f"{cm.pgwContractMode}.0"
PROHIBITED = f"{cm.pgwContractPrintingProhibited}.0"
PANEL = f"{cm.pgwPanelMessage}.0"


async def test_daemon_applies_every_command_kind_and_refuses_what_does_not_apply(
        tmp_path: Path) -> None:
    async with relay_setup(tmp_path, "127.0.71.1", ["color-mfp", "legacy-laser"]) as h:
        configure(h, write_community="private", **FAST)
        daemon = await h.start_daemon()
        await h.wait_for(lambda: _registered(h, 2), 30, "both printers registered")
        ids = await printer_ids(h)
        mfp = printer(h, "color-mfp")

        async def run(kind: str, parameters: dict[str, Any] | None = None,
                      profile: str = "color-mfp") -> dict[str, Any]:
            command = await issue(h, ids[profile], kind, parameters)

            async def final() -> dict[str, Any] | None:
                status = await cloud_command(h, command["command_id"])
                return status if status["state"] not in ("pending", "received") else None
            return await h.wait_for(final, 15, f"{kind} completed")

        steps: list[tuple[str, dict[str, Any] | None, dict[str, str], dict[str, Any]]] = [
            ("contract-transition", None, {MODE: "2"}, {"mode": "contract-non-billing"}),
            ("prohibit-contract-printing", None, {PROHIBITED: "1"},
             {"printing_prohibited": True}),
            ("permit-contract-printing", None, {PROHIBITED: "2"}, {"printing_prohibited": False}),
            ("billing-start", None, {MODE: "3"}, {"mode": "contract-billing"}),
            ("panel-message", {"message": "Install the contract cartridge"},
             {PANEL: "Install the contract cartridge"},
             {"panel_message": "Install the contract cartridge"}),
            ("withdrawal", None, {MODE: "1"}, {"mode": "non-contract"}),
        ]
        for kind, parameters, on_device, reported in steps:
            status = await run(kind, parameters)
            assert status["state"] == "done", status
            assert status["reason"] is None and status["received_at"] is not None
            # The printer's own MIB says so, and the acknowledgement reported what it says.
            read = await snmpget(mfp, *on_device)
            assert read == {oid: value for oid, value in on_device.items()}, (kind, read)
            contract = status["contract_state"]
            assert contract["supported"] is True
            assert {k: contract[k] for k in reported} == reported, (kind, contract)
            assert contract == mfp.state.to_json()["contract"], kind
        # A contract transition with billing at once, back to non-contract.
        status = await run("contract-transition", {"mode": "contract-billing"})
        assert status["state"] == "done" and mfp.state.contract_mode == 3
        await run("withdrawal")

        # Not applicable: billing on a non-contract device; anything on one without the MIB.
        status = await run("billing-start")
        assert status["state"] == "refused" and status["reason"]["code"] == "invalid-mode"
        assert mfp.state.contract_mode == 1
        legacy = printer(h, "legacy-laser")
        status = await run("contract-transition", profile="legacy-laser")
        assert status["state"] == "refused", status
        assert status["reason"]["code"] == "contract-unsupported"
        assert status["contract_state"] == {"supported": False, "mode": None,
                                            "printing_prohibited": None, "panel_message": None}
        assert legacy.state.contract_mode == 1
        assert await daemon.stop() == 0

        # The daemon's audit trail: who, what, result, for each command.
        with contextlib.closing(sqlite3.connect(h.data_dir / DATABASE_NAME)) as db:
            rows = db.execute("SELECT c.kind, c.result, a.who, a.what, a.result FROM commands c "
                              "JOIN command_audit a USING (command_id) ORDER BY a.id").fetchall()
        assert {who for _k, _r, who, _w, _a in rows} == {"cloud"}
        sets = [(kind, result) for kind, _r, _who, what, result in rows
                if what.startswith("SET ")]
        assert [kind for kind, _ in sets] == [s[0] for s in steps] + [
            "contract-transition", "withdrawal"]
        assert all(result == "accepted" for _, result in sets)
        assert "private" not in " ".join(str(r) for r in rows)  # no secret in the audit
        assert "private" not in daemon.log()


async def _registered(h: Harness, count: int) -> bool:
    return len(await h.printers()) == count


async def test_deadline_other_gateways_printer_replay_and_immutable_audit(tmp_path: Path) -> None:
    async with relay_setup(tmp_path, "127.0.72.1", ["color-mfp"]) as h:
        configure(h, write_community="private", **FAST)
        mfp = h.fleet.printers[0]
        async with gateway_in_process(h) as gateway:
            assert gateway.relay is not None
            ids = await printer_ids(h)

            # A deadline that passes before the gateway hears of the command.
            late = await issue(h, ids["color-mfp"], "contract-transition", deadline=1)
            await asyncio.sleep(1.2)
            await relay_through(gateway)
            status = await cloud_command(h, late["command_id"])
            assert status["state"] == "refused" and status["reason"]["code"] == "deadline-passed"
            assert mfp.state.contract_mode == 1

            # A command for a printer of another gateway is refused and never reaches a device;
            # the cloud does not take this gateway's word on another gateway's command.
            other = await CloudGateway.enrol(h.http, h.cloud.url, h.operator, name="other")
            foreign = await issue(h, await other.register(serial=mfp.state.serial + "X"),
                                  "contract-transition")
            await gateway.relay.handle(Command.from_json(foreign))
            await asyncio.wait_for(gateway.relay.drain(), 10)
            assert mfp.state.contract_mode == 1
            row = gateway.relay.log.get(foreign["command_id"])
            assert row is not None
            assert (row["result"], row["completed_ack"]) == ("refused", "rejected")
            assert "unknown-printer" in row["reason"]
            assert (await cloud_command(h, foreign["command_id"]))["state"] == "pending"

            # Done once; delivered again (push replays, a poll after a lost cursor…), it is
            # acknowledged again from the log and not applied again.
            command = await issue(h, ids["color-mfp"], "contract-transition")
            await relay_through(gateway)
            assert (await cloud_command(h, command["command_id"]))["state"] == "done"
            mfp.state.set_contract_mode(1)  # changed on the device since
            acks_before = len(acknowledgements(h, command["command_id"]))
            await gateway.relay.handle(Command.from_json(command))
            await asyncio.wait_for(gateway.relay.drain(), 10)
            assert mfp.state.contract_mode == 1  # not applied twice
            assert len(acknowledgements(h, command["command_id"])) == acks_before + 1
            assert (await cloud_command(h, command["command_id"]))["state"] == "done"

        trail = audit(h.data_dir, command["command_id"])
        assert [r["result"] for r in trail if r["what"].startswith("SET ")] == ["accepted"]
        assert any(r["what"] == "delivered again" for r in trail)
        assert {r["who"] for r in trail} == {"cloud"}
        assert any("deadline-passed" in r["result"] for r in audit(h.data_dir,
                                                                   late["command_id"]))
        with contextlib.closing(sqlite3.connect(h.data_dir / DATABASE_NAME)) as db:
            for statement in ("UPDATE command_audit SET result = 'forged'",
                              "DELETE FROM command_audit"):
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    db.execute(statement)
            assert db.execute("SELECT count(*) FROM command_audit").fetchone()[0] > 0


async def test_wrong_write_credentials_fail_set_failed(tmp_path: Path) -> None:
    async with relay_setup(tmp_path, "127.0.73.1", ["color-mfp"]) as h:
        mfp = h.fleet.printers[0]
        # An unknown community: the agent drops the SET silently, while reads are answered.
        # The read community: the agent answers noAccess.
        for community, detail in (("not-the-community", "write credentials"),
                                  ("public", "noAccess")):
            configure(h, write_community=community, **FAST)
            async with gateway_in_process(h) as gateway:
                ids = await printer_ids(h)
                command = await issue(h, ids["color-mfp"], "contract-transition")
                await relay_through(gateway)
            status = await cloud_command(h, command["command_id"])
            assert status["state"] == "failed", status
            assert status["reason"]["code"] == "set-failed"
            assert detail in status["reason"]["detail"]
            assert status["contract_state"]["mode"] == "non-contract"
            assert mfp.state.contract_mode == 1


async def test_device_offline_mid_transition_is_retried_then_failed_never_done(
        tmp_path: Path) -> None:
    async with relay_setup(tmp_path, "127.0.74.1", ["color-mfp", "inkjet"]) as h:
        configure(h, write_community="private", **FAST)
        mfp, inkjet = printer(h, "color-mfp"), printer(h, "inkjet")
        async with gateway_in_process(h) as gateway:
            ids = await printer_ids(h)

            # The printer takes the SET and drops off the network before its answer.
            apply_mode = mfp.state.set_contract_mode

            def then_go_offline(mode: int) -> None:
                apply_mode(mode)
                mfp.state.set_unreachable(True)
            mfp.state.set_contract_mode = then_go_offline  # type: ignore[method-assign]

            # Meanwhile the inkjet is offline when the command comes and back before the
            # deadline: it is retried and done.
            await h.fleet.set_unreachable(inkjet, True)
            started = time.monotonic()
            half = await issue(h, ids["color-mfp"], "contract-transition", deadline=4)
            retried = await issue(h, ids["inkjet"], "contract-transition", deadline=30)
            await gateway.link.poll_changes()  # type: ignore[union-attr]
            await asyncio.sleep(1.5)
            await h.fleet.set_unreachable(inkjet, False)
            await asyncio.wait_for(gateway.relay.drain(), 30)  # type: ignore[union-attr]
            assert time.monotonic() - started >= 3.5  # retried until the deadline

        status = await cloud_command(h, half["command_id"])
        assert status["state"] == "failed", status
        assert status["reason"]["code"] == "device-unreachable"
        assert mfp.state.contract_mode == 2  # half-applied on the device, and not reported done
        trail = audit(h.data_dir, half["command_id"])
        assert sum(r["what"] == "device did not answer" for r in trail) >= 2

        status = await cloud_command(h, retried["command_id"])
        assert status["state"] == "done", status
        assert status["contract_state"]["mode"] == "contract-non-billing"
        assert inkjet.state.contract_mode == 2
        assert any(r["what"] == "device did not answer"
                   for r in audit(h.data_dir, retried["command_id"]))


async def test_sets_over_snmpv3_authpriv_when_configured(tmp_path: Path) -> None:
    async with relay_setup(tmp_path, "127.0.75.1", ["mono-laser"], v3_users=[V3]) as h:
        mfp = h.fleet.printers[0]
        users = {"v3_users": {"writer": {
            "user": V3.name, "auth_key": V3.auth_key, "priv_key": V3.priv_key}}}
        # The fleet takes SETs over v3 authPriv only: the v2c write community is refused.
        configure(h, users, write_community="private", **FAST)
        async with gateway_in_process(h) as gateway:
            ids = await printer_ids(h)
            refused = await issue(h, ids["mono-laser"], "prohibit-contract-printing")
            await relay_through(gateway)
        status = await cloud_command(h, refused["command_id"])
        assert (status["state"], status["reason"]["code"]) == ("failed", "set-failed")
        assert mfp.state.contract_printing_prohibited is False

        configure(h, users, v3_user="writer", **FAST)
        async with gateway_in_process(h) as gateway:
            command = await issue(h, ids["mono-laser"], "prohibit-contract-printing")
            await relay_through(gateway)
        status = await cloud_command(h, command["command_id"])
        assert status["state"] == "done", status
        assert status["contract_state"]["printing_prohibited"] is True
        assert mfp.state.contract_printing_prohibited is True
        assert next(r["what"] for r in audit(h.data_dir, command["command_id"])
                if r["what"].startswith("SET ")).endswith("user='gwadmin', context='')")


async def test_acknowledgements_survive_a_cloud_outage_and_a_restart(tmp_path: Path) -> None:
    async with relay_setup(tmp_path, "127.0.76.1", ["color-mfp"]) as h:
        configure(h, write_community="private", **FAST)
        mfp = h.fleet.printers[0]
        async with gateway_in_process(h) as gateway:
            ids = await printer_ids(h)
            command = await issue(h, ids["color-mfp"], "contract-transition")
            await gateway.link.poll_changes()  # type: ignore[union-attr]
            h.proxy.mode = "error500"  # the cloud goes down before any acknowledgement
            await asyncio.wait_for(gateway.relay.drain(), 10)  # type: ignore[union-attr]
            assert mfp.state.contract_mode == 2
            row = gateway.relay.log.get(command["command_id"])  # type: ignore[union-attr]
            assert row is not None and row["completed_ack"] == "due" and row["ack_error"]
        assert (await cloud_command(h, command["command_id"]))["state"] == "pending"

        # Restarted with the cloud back: the cloud lists the command as pending, the log has
        # its outcome: acknowledged without applying it again.
        h.proxy.mode = "pass"
        mfp.state.set_contract_mode(1)
        async with Gateway(load_config(h.config_path)) as gateway:
            assert await gateway.connect() and gateway.relay is not None
            await gateway.relay.resume()
            await asyncio.wait_for(gateway.relay.drain(), 10)
        status = await cloud_command(h, command["command_id"])
        assert status["state"] == "done", status
        assert status["contract_state"]["mode"] == "contract-non-billing"
        assert mfp.state.contract_mode == 1  # not applied a second time
