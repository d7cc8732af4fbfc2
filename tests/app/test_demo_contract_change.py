"""`printgw demo --contract-change` (issue 15): the demo's virtual fleet, reference cloud and
gateway, then a change of contract machine from printer A to printer B run through the member API
and the fleet's control API, printed step by step, watched on the status page.

The demo runs as a child process, as a user runs it; while it runs, the test samples the
gateway's status page; with `--keep-running --duration` it stays up after the change for the test
to read the page, then stops by itself.

Tests use addresses 127.0.98.201-127.0.98.202.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

import aiohttp
import pytest

from protocols.hosts import free_port
from tests.support.demo_runner import RunningDemo, fleet_args, running_demo
from tests.support.printgw_cli import printgw

EVENT = re.compile(r"^\d\d:\d\d:\d\d #(\d+) +(\S+) +(.*)  \[A: (.*) \| B: (.*)\]$")
"""An event line: time, number, step, what happened, both printers' contract state."""


async def sample_page(url: str, running: RunningDemo, pages: list[str]) -> None:
    """The status page's HTML, every half second while the demo runs."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        while running.process.returncode is None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url) as response:
                    if response.status == 200:
                        pages.append(await response.text())
            await asyncio.sleep(0.5)


def row(html: str, serial: str) -> str:
    """The fleet table's row of the printer `serial`."""
    match = re.search(rf'<tr class="device"[^>]* data-serial="{serial}"[^>]*>(.*?)</tr>', html)
    assert match is not None, serial
    return match[1]


@pytest.mark.slow
async def test_the_contract_change_runs_to_its_end_on_the_devices_cloud_and_status_page() -> None:
    status_port = free_port()
    status_url = f"http://127.0.0.1:{status_port}/"
    pages: list[str] = []
    async with running_demo(*fleet_args("127.0.98.201", 2), "--status-port", str(status_port),
                            "--interval", "1", "--contract-change", "--keep-running",
                            "--duration", "8") as running:
        await running.line(r"^Contract change: printer A ", 180)
        sampler = asyncio.create_task(sample_page(status_url, running, pages))
        await running.line(r"^Contract change completed in \d+ s", 300)
        a = await running.line(r"^  A \S+ (\S+): device (.*); cloud (.*); status page (.*)$", 1)
        b = await running.line(r"^  B \S+ (\S+): device (.*); cloud (.*); status page (.*)$", 1)
        await running.line(r"^After the contract change: running for 8 s", 5)
        async with aiohttp.ClientSession() as http, http.get(status_url) as response:
            final = await response.text()
        assert await running.wait(90) == 0, running.err
        await sampler

    # Both printers' final modes: on the devices, in the cloud, on the status page.
    assert re.match(r"non-contract\b", a[2]) and a[3] == "unconfirmed non-contract", a[0]
    assert re.match(r"non-contract\b", a[4]), a[0]
    assert b[2] == "contract-billing" and b[3] == "confirmed contract-billing", b[0]
    assert b[4] == "contract-billing", b[0]
    assert '<div class="contract">non-contract</div>' in row(final, a[1])
    assert '<div class="contract">contract-billing</div>' in row(final, b[1])

    # The event lines: numbered in order, the process's steps from the request to its end, the
    # proposals answered automatically, the member's acts at the printers.
    events = [m for m in map(EVENT.match, running.out) if m]
    assert [int(m[1]) for m in events] == list(range(1, len(events) + 1))
    steps = [m[2] for m in events]
    for step in ("S102", "S120", "S104", "S107", "S109", "S110", "S201", "S206", "S209",
                 "S210"):
        assert step in steps, (step, running.output)
    assert steps.index("S102") < steps.index("S201") < steps.index("S206") \
        < len(steps) - 1 - steps[::-1].index("S210")
    assert "Proposals are answered automatically" in running.output
    assert any(m[2] == "S106" and "change-plan" in m[3] and "answered yes automatically" in m[3]
               for m in events), running.output
    member = [m[3] for m in events if m[2] == "member"]
    assert any("drained to 0 %" in what for what in member), member
    assert any("contract cartridge put into B" in what for what in member), member
    assert (events[-1][4], events[-1][5]) == ("non-contract", "contract-billing")
    # As it went, the status page showed the modes changing and a panel message.
    assert any('class="panel sub"' in page for page in pages)
    assert any("printing prohibited" in row(page, b[1]) for page in pages if b[1] in page)
    assert "Contract change completed" in running.output
    assert "Stopped the gateway, the reference cloud and the virtual fleet" in running.output
    assert running.err == []


def test_keep_running_goes_with_contract_change() -> None:
    result = printgw("demo", "--keep-running")
    assert result.returncode == 2
    assert result.stderr == "printgw: --keep-running goes with --contract-change\n"
    assert "--contract-change" in printgw("demo", "--help").stdout
