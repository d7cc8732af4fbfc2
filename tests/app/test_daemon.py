"""`printgw run` as an administrator runs it (issue 7): per-device schedules with back-off, SIGTERM,
SIGHUP, structured logs without secrets, systemd's notify socket and unit.

The daemon tests run the real `printgw run` in a child process against a virtual fleet and the
reference cloud behind a fault proxy (`tests/support/uplink_harness.py`).
Addresses 127.0.95.0-99.255.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import io
import json
import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.local import logs
from gateway.settings.loading import load_config, parse_config
from tests.support.command_helpers import cloud_command, issue
from tests.support.notify_socket import notify_socket
from tests.support.paths import REPO
from tests.support.printgw_cli import printgw
from tests.support.uplink_checks import (
    assert_no_duplicates,
    black_level_read,
    gateway_db,
    monitoring_everywhere,
    outbox,
    printer_ids,
    set_level_and_wait_for_a_poll,
    uploaded_entries,
)
from tests.support.uplink_harness import Daemon, Harness, uplink_setup

UNIT = REPO / "config" / "printgw.service"


# -- helpers ---------------------------------------------------------------------------------------

def configure(h: Harness, **sections: dict[str, Any]) -> Path:
    """The harness's config without the status page (tests run side by side), `sections` on
    top."""
    return h.write_config(**{"status_page": {"enabled": False}, **sections})


def records(daemon: Daemon) -> list[dict[str, Any]]:
    """The daemon's JSON log records (`--log-format json`)."""
    return [json.loads(line) for line in daemon.log().splitlines() if line.startswith("{")]


def readings(daemon: Daemon, device_id: int) -> list[dict[str, Any]]:
    """The debug record of each reading of the device: outcome, seconds, next_in."""
    return [r for r in records(daemon) if r.get("device_id") == device_id
            and r["level"] == "debug" and "outcome" in r]


def device_ids(h: Harness) -> dict[str, int]:
    """The gateway's device row of each printer, by serial."""
    with gateway_db(h) as db:
        return {serial: device_id for device_id, serial in
                db.execute("SELECT id, serial FROM devices WHERE serial IS NOT NULL")}


async def stop(daemon: Daemon, within: float) -> float:
    """SIGTERM; asserts exit status 0 within `within` seconds; returns how long it took."""
    started = time.monotonic()
    assert await daemon.stop(signal.SIGTERM, limit=within + 10) == 0, daemon.log()[-3000:]
    took = time.monotonic() - started
    assert took <= within, (took, daemon.log()[-3000:])
    return took


async def a_reading_under_way(h: Harness) -> None:
    """Wait until the fleet gets a new IPP request (a reading has just started)."""
    assert h.fleet.ipp is not None
    seen = h.fleet.ipp.requests
    await h.wait_for(lambda: h.fleet.ipp.requests > seen, 15, "a reading started", step=0.01)


async def notifications(sock: socket.socket, count: int, within: float = 15.0) -> list[str]:
    """The next `count` state changes told to systemd (`STATUS=` lines skipped: they come at any
    time; tests/app/test_sd_notify.py checks them)."""
    loop = asyncio.get_running_loop()
    received: list[str] = []
    while len(received) < count:
        message = (await asyncio.wait_for(loop.sock_recv(sock, 4096), within)).decode()
        if not message.startswith("STATUS="):
            received.append(message)
    return received


def within_jitter(value: float, nominal: float) -> bool:
    return nominal * 0.9 - 0.05 <= value <= nominal * 1.1 + 0.05


@contextlib.asynccontextmanager
async def fleet_and_cloud(tmp: Path, first_ip: str, profiles: list[str],
                          **fleet_options: Any) -> AsyncIterator[Harness]:
    async with uplink_setup(tmp, first_ip, profiles, fleet_options=fleet_options) as h:
        yield h


# -- logging (in process) --------------------------------------------------------------------------

@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The root logger set up by `logs.configure` on a string, put back as it was after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_with_fields_and_secrets_redacted(log_stream: io.StringIO,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRINTGW_TEST_PROXY", "http://u:pr0xy-pass@p:3128")  # a login: not inline
    config = parse_config({"snmp": {"communities": ["s3cret-community"], "v3_users": {
        "ops": {"auth_key": "s3cret-auth-key", "priv_key": "s3cret-priv-key"}}},
        "cloud": {"enrolment_token": "s3cret-enrolment",
                  "proxy": {"env": "PRINTGW_TEST_PROXY"}},
        "contract": {"write_community": "s3cret-write"}, "logging": {"format": "json"}})
    logs.configure(config, stream=log_stream)
    logs.protect("s3cret-bearer-token", None)
    log = logging.getLogger("printgw.test")
    log.info("reading with %s", "s3cret-community",
             extra={"device_id": 7, "secret": "s3cret-write", "keys": ["a", "s3cret-write"]})
    try:
        raise ValueError("auth failed for s3cret-auth-key and pr0xy-pass")
    except ValueError:
        log.exception("while talking with s3cret-bearer-token")
    log.debug("not shown at info")
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert set(first) == {"time", "level", "logger", "message", "device_id", "secret", "keys"}
    assert (first["level"], first["logger"], first["message"]) == (
        "info", "printgw.test", "reading with ***")
    assert (first["device_id"], first["secret"], first["keys"]) == (7, "***", ["a", "***"])
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert second["message"] == "while talking with ***"
    assert "ValueError: auth failed for *** and ***" in second["exception"]
    assert "s3cret" not in log_stream.getvalue() and "pr0xy" not in log_stream.getvalue()


def test_text_lines_and_a_reload_switching_format_and_level(log_stream: io.StringIO) -> None:
    logs.configure(parse_config({}), logs.LogOverrides(level="debug"), stream=log_stream)
    log = logging.getLogger("printgw.test")
    log.debug("one %s", "line", extra={"outcome": "asleep", "next_in": 2.0})
    logs.configure(parse_config({"logging": {"format": "json", "level": "warning"}}),
                   stream=log_stream)
    log.info("dropped: below warning")
    log.warning("as JSON")
    text, as_json = log_stream.getvalue().splitlines()
    assert text.endswith(" DEBUG printgw.test: one line outcome=asleep next_in=2.0"), text
    assert json.loads(as_json)["message"] == "as JSON"
    assert sum(isinstance(h, logging.StreamHandler) and logs.redactor in h.filters
               for h in logging.getLogger().handlers) == 1  # reconfigured, not added twice


# -- the systemd unit ------------------------------------------------------------------------------

def test_the_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None,
                                     comment_prefixes=("#",), empty_lines_in_values=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["ExecStart"].endswith("printgw run --config /etc/printgw/gateway.toml")
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["Restart"] == "on-failure" and service["RestartPreventExitStatus"] == "2"
    assert service["DynamicUser"] == "yes" and service["StateDirectory"] == "printgw"
    expected = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "",
                "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
                "MemoryDenyWriteExecute": "yes", "LockPersonality": "yes"}
    assert {k: service[k] for k in expected} == expected
    assert "@system-service" in UNIT.read_text()
    grace = load_config(REPO / "config" /
                        "gateway.example.toml").gateway.shutdown_grace
    assert float(service["TimeoutStopSec"].removesuffix("s")) > grace
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (no systemd on this machine)")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point it at this machine's printgw
    program = shutil.which("printgw") or sys.executable
    unit = tmp_path / "printgw.service"
    unit.write_text(UNIT.read_text().replace("/opt/printgw/bin/printgw", program))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # unknown keys are only warned about


# -- SIGTERM ---------------------------------------------------------------------------------------

@pytest.mark.slow
async def test_sigterm_during_polling_finishes_or_drops_the_reading_and_loses_nothing(
        tmp_path: Path) -> None:
    """A reading under way when SIGTERM comes finishes within the grace period (or is dropped
    without a trace when the period is too short); what was queued before the signal reaches
    the cloud exactly once after the restart."""
    async with fleet_and_cloud(tmp_path, "127.0.95.1", ["color-mfp"], sleep_delay=0.25) as h:
        printer = h.fleet.printers[0]
        printer.state.set_level("black", 60)
        settings = {"poll": {"interval": "1s", "sleep_backoff_max": "1s"},
                    "snmp": {"timeout": "2s"}, "cloud": {"timeout": "3s"}}
        configure(h, **settings)
        daemon = await h.start_daemon("--log-format", "json")
        ids = await printer_ids(h, 1)
        await monitoring_everywhere(h, ids)
        device_id = device_ids(h)[printer.state.serial]

        # The cloud refuses uploads: entries pile up in the outbox.  Then the printer falls
        # asleep: each reading takes a few seconds.
        h.proxy.mode = "error500"
        for level in (18, 9):
            await set_level_and_wait_for_a_poll(h, 0, level)
        printer.state.set_sleep(True)
        await h.wait_for(lambda: any(r["outcome"] == "asleep"
                                     for r in readings(daemon, device_id)), 20, "asleep")
        await a_reading_under_way(h)
        queued = {row[0] for row in outbox(h)}
        assert len(queued) >= 2
        await stop(daemon, within=12)
        logged = records(daemon)
        after_signal = logged[next(i for i, r in enumerate(logged)
                                   if r["message"].startswith("stopping:")):]
        assert any(r.get("device_id") == device_id and r.get("outcome") == "asleep"
                   for r in after_signal), "the reading under way finished"
        assert not any("dropped" in r["message"] for r in after_signal)
        assert queued <= {row[0] for row in outbox(h)}

        # Again with a grace period shorter than a reading: it is dropped, nothing else moves.
        configure(h, gateway={"shutdown_grace": "0.3s"}, **settings)
        daemon = await h.start_daemon("--log-format", "json")
        await h.wait_for(lambda: readings(daemon, device_id), 30, "a first reading")
        await a_reading_under_way(h)
        queued = {row[0] for row in outbox(h)}
        await stop(daemon, within=4)
        assert any(r["message"].startswith("stopping: 1 readings not finished in time, dropped")
                   for r in records(daemon)), daemon.log()[-3000:]
        assert {row[0] for row in outbox(h)} == queued

        # The cloud back: everything queued before the signals arrives, once.
        h.proxy.mode = "pass"
        daemon = await h.start_daemon()
        # Its point is "once", not speed: the printer is asleep (readings of seconds) and the
        # start-up steps come first on a busy machine.
        await h.wait_for(lambda: not outbox(h), 60, "the outbox delivered after the restart")
        [printer_id] = ids.values()
        stored = await h.statuses(printer_id)
        assert_no_duplicates(stored)
        assert queued <= {s["entry_id"] for s in stored}
        assert "Traceback" not in daemon.log()
        await stop(daemon, within=12)


@pytest.mark.slow
async def test_sigterm_during_an_upload_finishes_it_or_leaves_the_batch_for_the_same_retry(
        tmp_path: Path) -> None:
    async with fleet_and_cloud(tmp_path, "127.0.96.1", ["color-mfp"]) as h:
        printer = h.fleet.printers[0]
        printer.state.set_level("black", 60)
        configure(h, poll={"interval": "1s"}, cloud={"timeout": "5s"})
        daemon = await h.start_daemon()
        ids = await printer_ids(h, 1)
        await monitoring_everywhere(h, ids)
        [printer_id] = ids.values()

        # The answer takes 3 s, the grace period is 10 s: the upload finishes before the exit.
        h.proxy.mode = "slow"
        seen = len(h.proxy.bodies)
        printer.state.set_level("black", 18)
        sent = await h.wait_for(lambda: uploaded_entries(h, seen), 10, "an upload on its way")
        await stop(daemon, within=12)
        assert not outbox(h)
        assert set(sent[0]) <= {s["entry_id"] for s in await h.statuses(printer_id)}

        # The cloud hangs, the grace period is 1 s: the upload is cut, its entries stay queued
        # and are sent again after the restart as the same batch (same Idempotency-Key).
        configure(h, poll={"interval": "1s"}, cloud={"timeout": "30s"},
                  gateway={"shutdown_grace": "1s"})
        h.proxy.mode = "pass"
        seen = len(h.proxy.requests)
        daemon = await h.start_daemon()
        await h.wait_for(lambda: ("GET", "/v1/push", 101) in h.proxy.requests[seen:], 15,
                         "the daemon connected (its push channel open)")
        h.proxy.mode = "hang"
        seen = len(h.proxy.bodies)
        await set_level_and_wait_for_a_poll(h, 0, 9)
        [held] = await h.wait_for(lambda: uploaded_entries(h, seen), 10, "an upload held")
        await stop(daemon, within=5)
        assert [row[0] for row in outbox(h)] == held

        h.proxy.mode = "pass"
        seen = len(h.proxy.bodies)
        daemon = await h.start_daemon()
        await h.wait_for(lambda: not outbox(h), 20, "the held batch delivered")
        assert uploaded_entries(h, seen)[0] == held
        statuses = await h.statuses(printer_id)
        assert_no_duplicates(statuses)
        assert set(held) <= {s["entry_id"] for s in statuses}
        await stop(daemon, within=12)


# -- SIGHUP ----------------------------------------------------------------------------------------

@pytest.mark.slow
async def test_sighup_applies_a_changed_config_and_tells_systemd(tmp_path: Path,
                                                                 monkeypatch) -> None:
    async with fleet_and_cloud(tmp_path, "127.0.97.1", ["color-mfp", "mono-laser"]) as h:
        first, second = h.fleet.printers
        configure(h, discovery={"mdns": False, "static": [{"host": first.ip}]},
                  poll={"interval": "1h"})
        sock_path = tmp_path / "notify"
        with notify_socket(sock_path) as sock:
            monkeypatch.setenv("NOTIFY_SOCKET", str(sock_path))
            daemon = await h.start_daemon("--log-format", "json")
            assert await notifications(sock, 1) == ["READY=1"]
            await printer_ids(h, 1)
            first_id = device_ids(h)[first.state.serial]
            await h.wait_for(lambda: readings(daemon, first_id), 10, "a first reading")

            # A second printer, a shorter interval, and a setting that needs a restart.
            configure(h, discovery={"mdns": False, "static": [{"host": first.ip},
                                                               {"host": second.ip}]},
                      poll={"interval": "1s"}, status_page={"enabled": False, "port": 8699})
            daemon.process.send_signal(signal.SIGHUP)
            reloading, ready = await notifications(sock, 2)
            assert reloading.startswith("RELOADING=1\nMONOTONIC_USEC=") and ready == "READY=1"
            await printer_ids(h, 2)  # the new printer read and registered
            count = len(readings(daemon, first_id))
            await h.wait_for(lambda: len(readings(daemon, first_id)) >= count + 3, 8,
                             "readings every second")
            [applied] = [r for r in records(daemon) if r["message"].startswith("reload: applied")]
            assert set(applied["changed"]) == {"discovery.static", "poll.interval"}
            assert applied["restart_needed"] == ["status_page.port"]
            assert "needs a restart (kept as before until then): status_page.port" in \
                applied["message"]

            await stop(daemon, within=12)
            assert await notifications(sock, 1) == ["STOPPING=1"]
        assert not [r for r in records(daemon) if r["level"] in ("warning", "error")]


@pytest.mark.slow
async def test_sighup_with_a_broken_config_keeps_the_old_one_and_logs_why(tmp_path: Path) -> None:
    async with fleet_and_cloud(tmp_path, "127.0.98.1", ["color-mfp"]) as h:
        printer = h.fleet.printers[0]
        printer.state.set_level("black", 60)
        good = configure(h, poll={"interval": "1s"}).read_text()
        daemon = await h.start_daemon("--log-format", "json")
        ids = await printer_ids(h, 1)
        await monitoring_everywhere(h, ids)

        broken = {
            "syntax": good + "[poll\n",
            "values": good.replace('interval = "1s"', 'interval = "soon"').replace(
                "[cloud]\n", "[cloud]\nbatchsize = 10\n"),
        }
        for what, text in broken.items():
            h.config_path.write_text(text)
            expected = [line.removeprefix("  - ") for line in
                        printgw("check-config", str(h.config_path)).stderr.splitlines()[1:]]
            assert expected, what
            seen = len(records(daemon))
            daemon.process.send_signal(signal.SIGHUP)

            def refused(seen: int = seen) -> list[dict[str, Any]]:
                return [r for r in records(daemon)[seen:] if r["level"] == "error"]
            wanted = 1 + len(expected)
            await h.wait_for(lambda wanted=wanted: len(refused()) == wanted, 10, f"{what} refused")
            summary, *problems = refused()
            assert "still running on the previous config" in summary["message"]
            assert summary["problems"] == expected
            assert [p["message"] for p in problems] == [
                f"reload refused: {h.config_path}: {p}" for p in expected]
            if what == "syntax":
                assert expected[0].startswith("line "), expected

        # Still polling every second with the old config: a change reaches the cloud.
        await set_level_and_wait_for_a_poll(h, 0, 18)
        [printer_id] = ids.values()

        async def crossed() -> bool:
            return any(s["event"] == "threshold-crossed" for s in await h.statuses(printer_id))
        await h.wait_for(crossed, 10, "the threshold crossing uploaded")
        await stop(daemon, within=12)


# -- back-off --------------------------------------------------------------------------------------

@pytest.mark.slow
async def test_a_sleeping_printer_backs_off_quietly_and_an_unreachable_one_backs_off(
        tmp_path: Path) -> None:
    async with fleet_and_cloud(tmp_path, "127.0.99.1", ["color-mfp", "mono-laser"],
                               sleep_delay=0.2) as h:
        for printer in h.fleet.printers:
            printer.state.set_level("black", 60)
        configure(h, poll={"interval": "0.5s", "sleep_backoff_max": "2s",
                           "unreachable_backoff_max": "2s"},
                  snmp={"timeout": "0.5s", "retries": 0}, ipp={"timeout": "1s"})
        daemon = await h.start_daemon("--log-format", "json")
        ids = await printer_ids(h, 2)
        await monitoring_everywhere(h, ids)
        sleepy, gone = h.fleet.printers
        serial_ids = device_ids(h)
        sleepy_id, gone_id = serial_ids[sleepy.state.serial], serial_ids[gone.state.serial]

        def outcomes(device_id: int, outcome: str) -> list[float]:
            return [r["next_in"] for r in readings(daemon, device_id) if r["outcome"] == outcome]

        sleepy.state.set_sleep(True)
        await h.fleet.set_unreachable(gone, True)
        await h.wait_for(lambda: len(outcomes(sleepy_id, "asleep")) >= 3
                         and len(outcomes(gone_id, "unreachable")) >= 3, 30, "three of each")
        for device_id, outcome in ((sleepy_id, "asleep"), (gone_id, "unreachable")):
            delays = outcomes(device_id, outcome)[:3]
            assert [within_jitter(d, n) for d, n in zip(delays, (1, 2, 2), strict=True)] == \
                [True] * 3, (outcome, delays)

        # Asleep is no outage: no warning, no event, the last known levels kept.
        assert not [r for r in records(daemon) if r.get("device_id") == sleepy_id
                    and r["level"] in ("warning", "error")]
        assert black_level_read(h, sleepy.state.serial) == 60
        sleepy_statuses = await h.statuses(ids[sleepy.state.serial])
        assert {s["event"] for s in sleepy_statuses} == {"periodic"}
        # Unreachable is: one warning when it stops answering.
        assert [r["message"] for r in records(daemon) if r.get("device_id") == gone_id
                and r["level"] == "warning"] == [
            f"device {gone_id} at {gone.ip} does not answer; trying again in "
            f"{outcomes(gone_id, 'unreachable')[0]:.0f} s, then less and less often"]

        # Both back: read every interval again.
        sleepy.state.set_sleep(False)
        await h.fleet.set_unreachable(gone, False)
        await h.wait_for(lambda: outcomes(sleepy_id, "awake")[-1:] and outcomes(
            gone_id, "awake")[-1:] and readings(daemon, gone_id)[-1]["outcome"] == "awake"
            and readings(daemon, sleepy_id)[-1]["outcome"] == "awake", 15, "both awake")
        assert within_jitter(outcomes(sleepy_id, "awake")[-1], 0.5)
        assert within_jitter(outcomes(gone_id, "awake")[-1], 0.5)
        messages = [r["message"] for r in records(daemon)]
        assert f"device {sleepy_id} is awake" in messages
        assert f"device {gone_id} at {gone.ip} answers again" in messages
        await stop(daemon, within=12)


# -- secrets ---------------------------------------------------------------------------------------

@pytest.mark.slow
async def test_no_secret_in_a_debug_log(tmp_path: Path, monkeypatch) -> None:
    """Communities (from a file), v3 keys, the enrolment token (from a file), the write
    community (from the environment) and the cloud's bearer token: none in the whole log of a
    daemon at debug level that enrols, reads, uploads, relays a command and reloads."""
    read, write = "s3cret-read-community", "s3cret-write-community"
    async with fleet_and_cloud(tmp_path, "127.0.99.101", ["color-mfp"],
                               read_community=read, write_community=write) as h:
        secrets_dir = tmp_path / "credentials"
        secrets_dir.mkdir()
        for name, value in (("communities", f"# read\n{read}\n"),
                            ("enrolment-token", h.enrolment_token)):
            (secrets_dir / name).write_text(value)
            (secrets_dir / name).chmod(0o600)
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(secrets_dir))
        monkeypatch.setenv("PRINTGW_TEST_WRITE", write)
        document = {
            "snmp": {"communities_file": "$CREDENTIALS_DIRECTORY/communities", "timeout": "1s",
                     "v3_users": {"ops": {"auth_key": "s3cret-auth-key",
                                          "priv_key": "s3cret-priv-key"}}},
            "cloud": {"enrolment_token_file": "$CREDENTIALS_DIRECTORY/enrolment-token"},
            "contract": {"write_community": {"env": "PRINTGW_TEST_WRITE"},
                         "retry_initial": "0.3s", "retry_max": "1s"},
            "poll": {"interval": "1s"}}
        text = configure(h, **document).read_text()
        for line in (f'enrolment_token = "{h.enrolment_token}"\n', 'communities = ["public"]\n'):
            assert line in text
            text = text.replace(line, "")  # given by the files instead
        h.config_path.write_text(text)
        daemon = await h.start_daemon("--log-format", "json")
        ids = await printer_ids(h, 1)
        await monitoring_everywhere(h, ids)
        [printer_id] = ids.values()
        command = await issue(h, printer_id, "panel-message", {"message": "Hello"})

        async def completed() -> bool:
            state = (await cloud_command(h, command["command_id"]))["state"]
            return state not in ("pending", "received")
        await h.wait_for(completed, 20, "the command relayed")
        assert h.fleet.printers[0].state.panel_message == "Hello"
        h.config_path.write_text(text.replace('timeout = "1s"', 'timeout = "2s"'))
        daemon.process.send_signal(signal.SIGHUP)
        await h.wait_for(lambda: "reload: applied snmp.timeout" in daemon.log(), 10, "reloaded")
        await stop(daemon, within=12)

        with gateway_db(h) as db:
            [bearer] = db.execute("SELECT value FROM cloud_link WHERE key = 'token'").fetchone()
        log_text = daemon.log()
        assert all(line.startswith("{") for line in log_text.splitlines()), log_text[:2000]
        assert {r["level"] for r in records(daemon)} >= {"debug", "info"}
        assert any(r["logger"] == "gateway.commands.relay" for r in records(daemon))
        for secret in (read, write, "s3cret-auth-key", "s3cret-priv-key", h.enrolment_token,
                       bearer):
            assert secret not in log_text, secret
        assert read not in text and write not in text and h.enrolment_token not in text
