"""One hostile device does not stop the daemon (issue 19): a real `printgw run` with three virtual
printers and an SNMP agent whose alert table never ends (`tests/support/hostile_snmp.py`) keeps
polling the printers on schedule, and its memory stays within 50 MB of its baseline.

Before issue 19 the hostile device's identification never returned: discovery never finished,
no printer was ever polled, and the daemon grew by several MB a second.
Addresses 127.0.148.0-127.0.148.99.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.hostile_snmp import PRT_ALERT_ENTRY, Behaviour, hostile_agent
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import run
from tests.support.uplink_harness import Daemon, uplink_setup

HOSTILE = "127.0.148.50"
WINDOW = 20.0
"""Seconds the daemon is watched once it has read every printer."""
INTERVAL = 2.0


def rss_mb(daemon: Daemon) -> float:
    for line in Path(f"/proc/{daemon.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def readings_by_address(daemon: Daemon) -> Counter[str]:
    """Readings of each device that answered, from the daemon's JSON debug records."""
    counts: Counter[str] = Counter()
    for line in daemon.log().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("outcome") == "awake" and "address" in record:
                counts[record["address"]] += 1
    return counts


@pytest.mark.slow
async def test_one_endless_device_does_not_stop_the_others(tmp_path: Path) -> None:
    profiles = ["color-mfp", "mono-laser", "color-mfp"]
    async with uplink_setup(tmp_path, "127.0.148.1", profiles) as h:
        port = h.fleet.printers[0].snmp_port
        behaviour = Behaviour(endless=PRT_ALERT_ENTRY, payload=400)
        async with hostile_agent(HOSTILE, port, behaviour) as agent:
            static = [{"host": p.ip} for p in h.fleet.printers] + [{"host": HOSTILE}]
            h.write_config(discovery={"mdns": False, "static": static},
                           poll={"interval": f"{INTERVAL:g}s", "read_deadline": "10s"},
                           status_page={"enabled": False})
            daemon = await h.start_daemon("--log-format", "json")
            printers = [p.ip for p in h.fleet.printers]
            await h.wait_for(lambda: all(readings_by_address(daemon)[ip] for ip in printers),
                             60, "every virtual printer read once")
            baseline = rss_mb(daemon)
            before = readings_by_address(daemon)
            peak = baseline
            started = time.monotonic()
            while time.monotonic() - started < WINDOW:
                await asyncio.sleep(0.5)
                peak = max(peak, rss_mb(daemon))
            after = readings_by_address(daemon)
            print(f"\ndaemon RSS: baseline {baseline:.1f} MB, peak {peak:.1f} MB over "
                  f"{WINDOW:g} s; hostile rows sent: {agent.endless_rows}; readings in the "
                  f"window: { {ip: after[ip] - before[ip] for ip in [*printers, HOSTILE]} }")
    expected = WINDOW / (INTERVAL * 1.1)
    for ip in printers:
        assert after[ip] - before[ip] >= expected * 0.6, (ip, before, after)
    assert after[HOSTILE] - before[HOSTILE] >= 2, "the hostile device is read too, cut short"
    assert peak - baseline < 50, (baseline, peak)


async def test_printgw_poll_of_a_device_answering_garbage() -> None:
    """`printgw poll` of an agent whose Printer-MIB answers are malformed datagrams: no library
    traceback, each failed walk one line, within its time;
    and one whose every table never ends returns within the default read deadline."""
    for behaviour in (Behaviour(malformed=True), Behaviour(endless=PRT_ALERT_ENTRY)):
        async with hostile_agent("127.0.148.70", behaviour=behaviour) as agent:
            started = time.monotonic()
            rc, out, err = await run(*COMMAND, "poll", "127.0.148.70", "--port", str(agent.port),
                                     "--no-ipp", "--timeout", "0.5", "--retries", "0",
                                     "--deadline", "5", "--json", limit=40)
            took = time.monotonic() - started
        assert rc == 0, err
        assert "Traceback" not in err and "panicked" not in err, err
        problems = [p["message"] for p in json.loads(out)["problems"]]
        expected = "malformed answer" if behaviour.malformed else "stopped after"
        assert [p for p in problems if expected in p and "\n" not in p], problems
        assert took < 15, "within the 5 s deadline, plus the command's start-up"
