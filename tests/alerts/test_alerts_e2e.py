"""Local alerts end to end (issue 18): the gateway polling virtual printers, without any cloud,
sends each alert to a real SMTP server (STARTTLS, a login), a webhook receiver checking the
signature and a syslog receiver, all on loopback; de-duplication, an SMTP server down (across a
restart), quiet hours and the rate limit's summary.

Addresses 127.0.140.0-141.255: the peers on 127.0.140.1, the printers from 127.0.141.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.app.daemon import Gateway
from gateway.settings.loading import parse_config
from simulator.fleet import Fleet
from tests.support.alert_peers import (
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_SECRET,
    SmtpServer,
    WebhookReceiver,
    syslog_receiver,
    webhook_receiver,
)
from tests.support.sim_helpers import running_fleet

pytestmark = pytest.mark.slow

PEERS = "127.0.140.1"
PRINTERS = "127.0.141.1"
KINDS = ["threshold-crossed", "supply-empty"]
"""What the tests watch (the virtual printers also raise their own "toner low" alerts)."""


def secret_file(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


def gateway_config(tmp: Path, fleet: Fleet, alerts: dict[str, Any]) -> dict[str, Any]:
    printers = fleet.printers
    return {
        "gateway": {"data_dir": str(tmp / "gateway"), "time_zone": "UTC"},
        "snmp": {"port": printers[0].snmp_port, "communities": ["public"], "timeout": "1s",
                 "retries": 1},
        "ipp": {"port": printers[0].ipp_port, "timeout": "3s"},
        "discovery": {"mdns": False, "static": [{"host": p.ip} for p in printers]},
        "poll": {"interval": "1s"},
        "status_page": {"enabled": False},
        "alerts": alerts,
    }


def webhook(tmp: Path, receiver: WebhookReceiver, **extra: Any) -> dict[str, Any]:
    return {"url": receiver.url, "events": KINDS,
            "secret_file": secret_file(tmp, "webhook-secret", WEBHOOK_SECRET), **extra}


@contextlib.asynccontextmanager
async def running_gateway(config: dict[str, Any]) -> AsyncIterator[Gateway]:
    gateway = Gateway(parse_config(config))
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        yield gateway
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        await gateway.close()


async def wait_for(check: Callable[[], Any], within: float, what: str) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within} s: {what}")


def db(tmp: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp / "gateway" / "printgw.db")


def baselines(tmp: Path) -> int:
    with contextlib.closing(db(tmp)) as conn:
        return conn.execute("SELECT COUNT(*) FROM alert_devices WHERE baseline IS NOT NULL"
                            ).fetchone()[0]


def queued(tmp: Path) -> list[tuple[str, float]]:
    with contextlib.closing(db(tmp)) as conn:
        return conn.execute("SELECT output, next_attempt_at FROM alert_queue").fetchall()


async def level(fleet: Fleet, index: int, percent: int, tmp: Path) -> None:
    """Set a printer's black level and wait for two more readings of it by the alerts."""
    fleet.printers[index].state.set_level("black", percent)
    await read_again(tmp, index + 1)


async def read_again(tmp: Path, device_id: int, times: int = 2) -> None:
    for _ in range(times):
        with contextlib.closing(db(tmp)) as conn:
            before = conn.execute("SELECT baseline FROM alert_devices WHERE device_id = ?",
                                  (device_id,)).fetchone()

        def changed(before: Any = before) -> bool:
            with contextlib.closing(db(tmp)) as conn:
                now = conn.execute("SELECT baseline FROM alert_devices WHERE device_id = ?",
                                   (device_id,)).fetchone()
            return now != before  # read_at differs at every reading
        await wait_for(changed, 20, f"a reading of device {device_id}")


async def test_a_threshold_crossing_is_one_mail_one_webhook_one_syslog_line_once(
        tmp_path: Path) -> None:
    smtp = SmtpServer(PEERS, tmp_path)
    smtp.start()
    try:
        async with running_fleet(PRINTERS, 1, profiles=["mono-laser"]) as fleet, \
                webhook_receiver(PEERS) as hook, syslog_receiver(PEERS) as (port, lines):
            fleet.printers[0].state.set_level("black", 60)
            alerts = {
                "retry_max": "1s",
                "webhook": [webhook(tmp_path, hook)],
                "email": [{"host": PEERS, "port": smtp.port, "ca_file": str(smtp.ca_file),
                           "username": SMTP_USER, "events": KINDS,
                           "password_file": secret_file(tmp_path, "smtp", SMTP_PASSWORD),
                           "sender": "printgw@example.com", "to": ["it@example.com"]}],
                "syslog": [{"host": PEERS, "port": port, "facility": "local3",
                            "events": KINDS}],
            }
            config = gateway_config(tmp_path, fleet, alerts)
            async with running_gateway(config):
                await wait_for(lambda: baselines(tmp_path), 30, "the printer's first reading")
                await level(fleet, 0, 8, tmp_path)
                await wait_for(lambda: smtp.subjects() and hook.payloads and lines, 20,
                               "the alert at every output")
                # the same again within the window: replaced (not watched), then low again
                await level(fleet, 0, 90, tmp_path)
                await level(fleet, 0, 8, tmp_path)
                await asyncio.sleep(1.0)
                assert hook.kinds() == ["threshold-crossed"]
                assert len(smtp.subjects()) == 1 and len(lines) == 1
                alert = hook.payloads[0]["alert"]
                assert (alert["severity"], alert["threshold_percent"], alert["level_percent"]) \
                    == ("warning", 10, 8)
                assert "8 %" in smtp.subjects()[0] and smtp.mailbox.tls == [True]
                assert lines[0].startswith(f"<{19 * 8 + 4}>1 ")  # local3.warning, RFC 5424
                assert "threshold-crossed" in lines[0] and hook.refused == 0

                # the SMTP server down: the webhook and syslog at once, the mail queued (at 0 %:
                # the 5 % threshold crossed and the supply empty, two alerts)
                smtp.stop()
                await level(fleet, 0, 0, tmp_path)
                await wait_for(lambda: "supply-empty" in hook.kinds(), 20, "supply-empty")
                await wait_for(lambda: len(lines) == 3, 5, "the syslog lines")
                assert [row[0] for row in queued(tmp_path)] == ["email-1", "email-1"]
            # ... and across a restart, delivered once when it is back
            smtp.start()
            async with running_gateway(config):
                await wait_for(lambda: len(smtp.subjects()) == 3, 30, "the queued mails")
                await wait_for(lambda: not queued(tmp_path), 5, "an empty queue")
                await asyncio.sleep(1.0)
            assert len(smtp.subjects()) == 3, smtp.subjects()
            assert "5 %" in smtp.subjects()[1] and "empty" in smtp.subjects()[2]
            assert hook.kinds() == ["threshold-crossed", "threshold-crossed", "supply-empty"]
            assert len(set(hook.keys)) == 3
    finally:
        smtp.stop()


async def test_quiet_hours_hold_back_what_is_not_critical(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    quiet = {"start": (now - timedelta(hours=1)).strftime("%H:%M"),
             "end": (now + timedelta(hours=1)).strftime("%H:%M"), "allow": "critical"}
    async with running_fleet(PRINTERS, 1, profiles=["mono-laser"]) as fleet, \
            webhook_receiver(PEERS) as hook:
        fleet.printers[0].state.set_level("black", 60)
        config = gateway_config(tmp_path, fleet, {"webhook": [
            webhook(tmp_path, hook, quiet_hours=quiet)]})
        async with running_gateway(config):
            await wait_for(lambda: baselines(tmp_path), 30, "the printer's first reading")
            await level(fleet, 0, 8, tmp_path)  # warning: held back
            await level(fleet, 0, 0, tmp_path)  # critical: out at once
            await wait_for(lambda: hook.payloads, 20, "the critical alert")
            await asyncio.sleep(0.5)
            assert hook.kinds() == ["supply-empty"]
            held = queued(tmp_path)  # crossing 10 %, then 5 %: until the window's end
            assert len(held) == 2 and all(output == "webhook-1" and at > time.time() + 30 * 60
                                          for output, at in held), held


async def test_beyond_the_rate_limit_alerts_go_out_as_one_summary(tmp_path: Path) -> None:
    """A burst of 2, then one message per 10 s: four printers crossing together make fewer than
    four messages, at least one a summary: two alerts and, at the next token, one summary of
    the other two when they come one by one; one alert and a summary of the rest when readings
    are committed together (a group commit); each alert in exactly one message."""
    async with running_fleet(PRINTERS, 4, profiles=["mono-laser"]) as fleet, \
            webhook_receiver(PEERS) as hook:
        for printer in fleet.printers:
            printer.state.set_level("black", 60)
        config = gateway_config(tmp_path, fleet, {"webhook": [
            webhook(tmp_path, hook, burst=2, rate_per_hour=360)]})
        async with running_gateway(config):
            await wait_for(lambda: baselines(tmp_path) == 4, 30, "every printer read")
            for printer in fleet.printers:
                printer.state.set_level("black", 8)

            def alerted() -> list[int]:
                return sorted(a["device_id"] for p in hook.payloads
                              for a in ([p["alert"]] if p["type"] == "alert" else p["alerts"]))
            await wait_for(lambda: len(alerted()) >= 4, 30, "every crossing sent")
            await asyncio.sleep(1.0)
            assert alerted() == [1, 2, 3, 4] and not queued(tmp_path)
            assert len(hook.payloads) < 4 and "summary" in hook.kinds(), hook.kinds()
            assert hook.kinds()[0] == "threshold-crossed", "a token left: one alert, at once"
            for summary in (p for p in hook.payloads if p["type"] != "alert"):
                assert summary["count"] == len(summary["alerts"]) >= 2
                assert summary["severity"] == "warning"
                assert {a["kind"] for a in summary["alerts"]} == {"threshold-crossed"}


async def test_unreachable_and_back_and_outputs_added_by_a_reload(tmp_path: Path) -> None:
    async with running_fleet(PRINTERS, 1, profiles=["mono-laser"]) as fleet, \
            webhook_receiver(PEERS) as hook, syslog_receiver(PEERS) as (port, lines):
        printer = fleet.printers[0]
        printer.state.set_level("black", 60)
        config = gateway_config(tmp_path, fleet, {"webhook": [
            webhook(tmp_path, hook, events=["device-unreachable", "device-back"])]})
        config["poll"]["unreachable_backoff_max"] = "2s"
        async with running_gateway(config) as gateway:
            await wait_for(lambda: baselines(tmp_path), 30, "the printer's first reading")
            await fleet.set_unreachable(printer, True)
            await wait_for(lambda: hook.payloads, 30, "device-unreachable")
            await fleet.set_unreachable(printer, False)
            await wait_for(lambda: len(hook.payloads) == 2, 30, "device-back")
            assert hook.kinds() == ["device-unreachable", "device-back"]
            assert [p["alert"]["severity"] for p in hook.payloads] == ["critical", "info"]

            # a reload (what SIGHUP does) adds a syslog output: the next alert reaches it
            config["alerts"]["syslog"] = [{"host": PEERS, "port": port, "events": KINDS}]
            gateway.apply_config(parse_config(config))
            await level(fleet, 0, 8, tmp_path)
            await wait_for(lambda: lines, 20, "the syslog line")
            assert "threshold-crossed" in lines[0] and len(hook.payloads) == 2


async def test_run_once_delivers_what_its_cycle_caused(tmp_path: Path) -> None:
    async with running_fleet(PRINTERS, 1, profiles=["mono-laser"]) as fleet, \
            webhook_receiver(PEERS) as hook:
        fleet.printers[0].state.set_level("black", 60)
        config = parse_config(gateway_config(tmp_path, fleet, {"webhook": [
            webhook(tmp_path, hook)]}))
        for percent in (60, 8):  # the first reading is the baseline; the second crosses
            fleet.printers[0].state.set_level("black", percent)
            async with Gateway(config) as gateway:
                await gateway.run_once()
        assert hook.kinds() == ["threshold-crossed"] and not queued(tmp_path)
