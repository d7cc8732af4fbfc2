"""The cloud link heals (issue 19): the gateway (its `Gateway`, in this process) against a hostile
cloud (`tests/support/hostile_cloud.py`, a real aiohttp server on loopback) and a virtual printer
with the contract MIB.

- bad changes between good ones in one page or on the push channel: the good commands are applied
  (checked on the printer) and acknowledged `done`, each bad one is acknowledged `refused` with
  its reason code, all within one poll; the cursor moves past them;
- bad connection destinations (`http://` to a host that is not loopback, `ftp://`, a URL with a
  password) are refused, logged without the password and retried; the link comes up once the
  destination is good; a stored bad one is discarded at start;
- the link task logs an unexpected error and starts the failed part again.

Tests use addresses 127.0.191.0-127.0.191.255.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.app.daemon import Gateway
from gateway.settings.loading import load_config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from protocols.cloud.models import Command, UnreadableCommand
from simulator.fleet import Fleet
from simulator.printer import VirtualPrinter
from tests.support.fake_cloud import ENROLMENT_TOKEN, now_iso
from tests.support.hostile_cloud import (
    BAD_DESTINATIONS,
    ORIGIN,
    PASSWORD,
    HostileCloud,
    bad_commands,
    command,
    hostile_cloud,
)
from tests.support.sim_helpers import running_fleet
from tests.support.uplink_harness import toml_document

UNSUPPORTED = {"supported": False, "mode": None, "printing_prohibited": None,
               "panel_message": None}


@dataclass
class Setup:
    tmp: Path
    cloud: HostileCloud
    fleet: Fleet | None

    def config(self, **sections: dict[str, Any]) -> Path:
        """The gateway's config: the hostile cloud, the fleet's printers (if any), fast retries;
        `sections` merged over it."""
        printers = self.fleet.printers if self.fleet else []
        document: dict[str, dict[str, Any]] = {
            "gateway": {"data_dir": str(self.tmp / "gateway"), "name": "hostile-cloud-test",
                        "region": "jp", "time_zone": "Asia/Tokyo"},
            "snmp": {"communities": ["public"], "timeout": "0.5s", "retries": 0},
            "discovery": {"mdns": False, "static": [{"host": p.ip} for p in printers]},
            "cloud": {"url": self.cloud.url, "enrolment_token": ENROLMENT_TOKEN,
                      "changes_poll_interval": "1s", "timeout": "5s", "push": False},
            "contract": {"write_community": "private", "retry_initial": "0.3s",
                         "retry_max": "1s"},
            "poll": {"interval": "1h"},
            "status_page": {"enabled": False},
        }
        if printers:
            document["snmp"]["port"] = printers[0].snmp_port
            document["ipp"] = {"port": printers[0].ipp_port, "timeout": "3s"}
        for name, values in sections.items():
            document.setdefault(name, {}).update(values)
        path = self.tmp / "gateway.toml"
        path.write_text(toml_document(document))
        return path


@contextlib.asynccontextmanager
async def setup(tmp: Path, printers: int = 0) -> AsyncIterator[Setup]:
    async with contextlib.AsyncExitStack() as stack:
        fleet = (await stack.enter_async_context(
            running_fleet("127.0.191.1", printers, profiles=["color-mfp"]))
            if printers else None)
        cloud = await stack.enter_async_context(hostile_cloud())
        yield Setup(tmp, cloud, fleet)


async def registered(s: Setup, gateway: Gateway) -> tuple[VirtualPrinter, str]:
    """The fleet's printer read and registered with the hostile cloud: (printer, printer ID)."""
    assert s.fleet is not None
    await gateway.cycle(sync=True)
    printer = s.fleet.printers[0]
    return printer, s.cloud.printers[printer.state.serial]


async def within(check: Callable[[], bool], seconds: float, what: str) -> float:
    """Wait until `check()`; the seconds it took."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


# -- bad changes between good ones -----------------------------------------------------------------

async def test_bad_changes_between_good_ones_in_one_page(tmp_path: Path) -> None:
    async with setup(tmp_path, printers=1) as s, Gateway(load_config(s.config())) as gateway:
        printer, printer_id = await registered(s, gateway)
        assert gateway.link is not None and gateway.relay is not None
        message = command(printer_id, "panel-message", {"message": "Hello from the cloud"})
        prohibit = command(printer_id, "prohibit-contract-printing")
        bad = bad_commands(printer_id)
        no_id = command(printer_id, "withdrawal", command_id="12345")
        s.cloud.stream(message, *bad.values(),
                       {"type": "printer-retired", "occurred_at": now_iso(),
                        "printer_id": printer_id},
                       no_id, prohibit)
        polls = s.cloud.poll_requests

        await gateway.link.poll_changes()
        await asyncio.wait_for(gateway.relay.drain(), 30)

        assert s.cloud.poll_requests == polls + 1, "one poll took the whole page"
        assert gateway.state.get("cursor") == s.cloud.changes[-1]["cursor"]
        # The good commands: applied on the printer, acknowledged done.
        assert printer.state.panel_message == "Hello from the cloud"
        assert printer.state.contract_printing_prohibited is True
        for good in (message, prohibit):
            ack = s.cloud.acknowledged(good["command_id"])
            assert ack is not None and ack["result"] == "done", ack
            assert ack["contract_state"]["supported"] is True
        # The bad ones: each refused with its reason, never applied.
        assert printer.state.contract_mode == 1, "the bogus transition was not applied"
        for name, sent in bad.items():
            ack = s.cloud.acknowledged(sent["command_id"])
            assert ack is not None, name
            assert ack["result"] == "refused" and ack["reason"]["code"] == name.split("/")[0]
            assert ack["contract_state"] == UNSUPPORTED
            assert len(ack["reason"]["detail"]) <= 300
        assert "12345" not in {c for c, _stage in s.cloud.acks}, "no ID: nothing to acknowledge"
        assert "does not match the document, skipped" in (gateway.link.status.last_error or "")
        # The gateway's own record: each bad command completed as refused, with its audit.
        rows = gateway.store.conn.execute(
            "SELECT command_id, result, completed_ack FROM commands").fetchall()
        results = {r["command_id"]: (r["result"], r["completed_ack"]) for r in rows}
        for sent in bad.values():
            assert results[sent["command_id"]] == ("refused", "sent")

        # Delivered again (a replay of the stream): acknowledged again, applied never again.
        gateway.state.delete("cursor")
        acks = len(s.cloud.seen)
        await gateway.link.poll_changes()
        await asyncio.wait_for(gateway.relay.drain(), 30)
        again = [seen for seen in s.cloud.seen[acks:] if seen.operation == "acknowledgeCommand"]
        assert len(again) >= len(bad) + 2
        audit = gateway.store.conn.execute(
            "SELECT what FROM command_audit WHERE command_id = ?",
            (bad["unsupported-command/new kind"]["command_id"],)).fetchall()
        assert any("delivered again" in row["what"] for row in audit)


async def test_bad_changes_on_the_push_channel(tmp_path: Path) -> None:
    async with setup(tmp_path, printers=1) as s, \
            Gateway(load_config(s.config(cloud={"push": True}))) as gateway:
        printer, printer_id = await registered(s, gateway)
        assert gateway.link is not None and gateway.relay is not None
        message = command(printer_id, "panel-message", {"message": "Pushed"})
        bad = bad_commands(printer_id)
        last = command(printer_id, "contract-transition", {"mode": "contract-billing"})
        s.cloud.stream(message, *bad.values(), last)
        stop = asyncio.Event()
        follow = asyncio.create_task(gateway.link.follow_changes(stop))
        try:
            every = [c["command_id"] for c in (message, last, *bad.values())]
            took = await within(lambda: all(s.cloud.acknowledged(c) for c in every), 20,
                                "every command acknowledged")
        finally:
            stop.set()
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follow
        assert took < 10
        assert printer.state.panel_message == "Pushed" and printer.state.contract_mode == 3
        assert s.cloud.acknowledged(last["command_id"])["result"] == "done"
        for name, sent in bad.items():
            ack = s.cloud.acknowledged(sent["command_id"])
            assert ack["result"] == "refused" and ack["reason"]["code"] == name.split("/")[0]
        assert gateway.state.get("cursor") == s.cloud.changes[-1]["cursor"]


async def test_bad_pending_commands_after_a_resynchronisation(tmp_path: Path) -> None:
    async with setup(tmp_path, printers=1) as s, Gateway(load_config(s.config())) as gateway:
        _printer, printer_id = await registered(s, gateway)
        assert gateway.link is not None and gateway.relay is not None
        bad = bad_commands(printer_id)
        good = command(printer_id, "permit-contract-printing")
        s.cloud.stream(*bad.values(), good)
        gateway.state.set("cursor", "h_lost")  # not retained: 410, then listPendingCommands
        s.cloud.changes = []
        await gateway.link.poll_changes()
        await asyncio.wait_for(gateway.relay.drain(), 30)
        assert s.cloud.acknowledged(good["command_id"])["result"] == "done"
        for name, sent in bad.items():
            assert s.cloud.acknowledged(sent["command_id"])["reason"]["code"] == \
                name.split("/")[0]


# -- bad connection destinations ---------------------------------------------------------------

async def test_bad_destinations_are_refused_logged_without_password_and_retried(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with setup(tmp_path) as s, Gateway(load_config(s.config())) as gateway:
        assert gateway.link is not None
        s.cloud.destinations = [*BAD_DESTINATIONS, ORIGIN]
        for bad in BAD_DESTINATIONS:
            assert not await gateway.connect(), bad
            error = gateway.link.status.last_error or ""
            assert "connection destination for region jp is not usable" in error, error
            assert gateway.state.get("base_url") is None, "never stored"
            assert not gateway.link.status.connected
        assert await gateway.connect()
        assert gateway.link.status.connected
        assert gateway.state.get("base_url") == s.cloud.url
        assert s.cloud.destination_requests == len(BAD_DESTINATIONS) + 1
    assert PASSWORD not in caplog.text
    assert "must not carry credentials" in caplog.text
    assert "refusing plain http:// to 192.0.2.10" in caplog.text


async def test_the_link_comes_up_once_the_destination_is_good(tmp_path: Path) -> None:
    async with setup(tmp_path) as s, Gateway(load_config(s.config())) as gateway:
        assert gateway.uplink is not None and gateway.link is not None
        s.cloud.destinations = [BAD_DESTINATIONS[2], BAD_DESTINATIONS[0], ORIGIN]
        stop = asyncio.Event()
        connected = asyncio.Event()

        async def on_connected() -> None:
            connected.set()
        run = asyncio.create_task(gateway.uplink.run(stop, on_connected))
        try:
            started = time.monotonic()
            await asyncio.wait_for(connected.wait(), 15)
            took = time.monotonic() - started
            assert not run.done()
        finally:
            stop.set()
            await asyncio.wait_for(run, 15)
        assert 1.4 < took < 8, (f"two retries with jittered back-off (0.5-1 s, then 1-2 s), "
                                f"took {took:.1f} s")
        assert gateway.state.get("base_url") == s.cloud.url
        assert gateway.link.status.errors >= 2


async def test_a_stored_bad_destination_is_discarded_at_start(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with setup(tmp_path) as s:
        config = s.config()
        with Store.in_directory(tmp_path / "gateway") as store:
            state = CloudState(store)  # as an older version stored it, unchecked
            state.set("base_url", f"https://gateway:{PASSWORD}@192.0.2.7")
            state.set("region", "jp")
        async with Gateway(load_config(config)) as gateway:
            assert await gateway.connect()
            assert gateway.state.get("base_url") == s.cloud.url
            assert s.cloud.destination_requests == 1
    assert "stored connection destination discarded" in caplog.text
    assert PASSWORD not in caplog.text


# -- the link task heals ---------------------------------------------------------------------------

async def test_the_link_task_logs_an_unexpected_error_and_starts_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with setup(tmp_path) as s, Gateway(load_config(s.config(
            contract={"enabled": False}))) as gateway:
        assert gateway.uplink is not None and gateway.link is not None
        printer_id = "9b2e4c71-0f3d-4a8e-b6c5-1d7a2e9f4b30"
        first = command(printer_id, "withdrawal")
        s.cloud.stream(first)
        starts: list[float] = []
        handled: list[Command | UnreadableCommand] = []

        async def on_connected() -> None:
            starts.append(time.monotonic())
            if len(starts) == 1:
                raise RuntimeError("a bug in a start-up step")

        async def on_command(item: Command | UnreadableCommand) -> None:
            handled.append(item)
            if len(handled) == 1:
                raise KeyError("a bug in the command handler")
        gateway.link.on_command = on_command
        stop = asyncio.Event()
        run = asyncio.create_task(gateway.uplink.run(stop, on_connected))
        try:
            await within(lambda: len(handled) >= 2, 15, "the command handled after a restart")
            assert not run.done(), "the link task is still running"
        finally:
            stop.set()
            await asyncio.wait_for(run, 15)
        assert len(starts) == 2 and 0.9 < starts[1] - starts[0] < 3
        assert [getattr(c, "command_id", None) for c in handled[:2]] == [first["command_id"]] * 2
        assert gateway.state.get("cursor") == "h_001", "moved on once handled"
    text = caplog.text
    assert "the start-up steps failed unexpectedly" in text and "RuntimeError: a bug" in text
    assert "the change stream failed unexpectedly" in text and "KeyError" in text

