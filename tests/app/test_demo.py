"""`printgw demo`: the virtual fleet, the reference cloud and the gateway in one process tree.

The demo runs as a child process, as a user runs it.  While it runs, the tests look at what it
started (its children in /proc, the cloud's operator API, the status page); after it exits, that
nothing is left: no process of its process groups, no listening port, no data directory.  The
slow test runs the README's first command in a copy of the repository with a fresh `.venv`.

Tests use addresses 127.0.100.0-127.0.104.255.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp
import pytest

from protocols.hosts import free_port
from simulator.fleet import addresses
from tests.support.chromium import render
from tests.support.demo_runner import RunningDemo as Demo
from tests.support.demo_runner import fleet_args, processes
from tests.support.demo_runner import running_demo as demo
from tests.support.paths import REPO

ENV = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


# -- the demo as a child process -----------------------------------------------------------------

def listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def option(args: list[str], name: str) -> int:
    return int(args[args.index(name) + 1])


async def started(running: Demo) -> tuple[Path, int]:
    """The demo's data directory and the fleet's control API port, once the fleet is up."""
    data = Path((await running.line(r"^Data and logs: (\S+)", 30))[1])
    control = await running.line(r"^Virtual fleet: .* control API http://127\.0\.0\.1:(\d+)/", 60)
    return data, int(control[1])


async def children_of(running: Demo) -> set[int]:
    """The demo's three child processes (fleet, cloud, gateway), once it has started them."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while len(running.children) < 3:
        assert loop.time() < end, f"the demo has {running.children} children:\n{running.output}"
        await asyncio.sleep(0.1)
    return running.children


def assert_nothing_left(children: set[int], ports: list[int], data: Path) -> None:
    """No process of the children's process groups (each child leads its own), no port
    listening, the data directory gone."""
    left = {pid for pid, (_ppid, group) in processes().items()
            if pid in children or group in children}
    assert not left, f"processes left behind: {left}"
    assert [p for p in ports if listening(p)] == []
    assert not data.exists()


# -- the tests ----------------------------------------------------------------------------------

async def test_demo_registers_activates_shows_the_fleet_and_leaves_nothing() -> None:
    count, first_ip = 6, "127.0.100.1"
    status_port = free_port()
    fleet_options = fleet_args(first_ip, count)
    async with demo(*fleet_options, "--status-port", str(status_port), "--duration", "12",
                    "--interval", "1") as running:
        data, control = await started(running)
        children = await children_of(running)
        await running.line(r"^Running for 12 s", 120)
        cloud_url = (await running.line(r"^Cloud: +(http://127\.0\.0\.1:\d+)", 1))[1]
        status = await running.line(r"^Status page: +(\S+)(.*)$", 1)
        assert status[1] == f"http://127.0.0.1:{status_port}/" and not status[2]
        token_file = data / "operator-token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        operator = {"Authorization": f"Bearer {token_file.read_text().strip()}"}

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            async with http.get(f"http://127.0.0.1:{control}/printers") as response:
                fleet = await response.json()
            async with http.get(f"{cloud_url}/v1/operator/printers", headers=operator) as r:
                views = {v["registration"]["serial"]: v for v in (await r.json())["printers"]}
            async with http.get(status[1]) as response:  # the status page answers
                assert response.status == 200
                assert response.content_type == "text/html"
            async with http.get(f"{status[1]}api/status") as response:
                assert {d["serial"] for d in (await response.json())["devices"]} == \
                    {p["serial"] for p in fleet}
            # A supply running low while it runs: one line for the event.
            async with http.post(f"http://127.0.0.1:{control}/printers/0/level",
                                 json={"supply": "black", "percent": 15}) as response:
                assert response.status == 200
        await running.line(rf"{fleet[0]['ip']} {fleet[0]['serial']}: threshold-crossed", 10)
        assert await running.wait(60) == 0, running.err

    # Every printer registered and every contracted service active in the cloud.
    assert sorted(views) == sorted(p["serial"] for p in fleet)
    for printer in fleet:
        states = {a["service_id"]: a["activation_state"]
                  for a in views[printer["serial"]]["applications"]}
        expected = {"remote-monitoring", "supplies-auto-order"} | (
            set() if printer["profile"] == "legacy-laser" else {"contract-printing"})
        assert states == dict.fromkeys(expected, "active"), printer
        assert views[printer["serial"]]["last_status_at"] is not None
    # The table: one row per printer, with its serial, model, state, supplies and services.
    rows = [line for line in running.out if line.startswith("│")]
    for printer in fleet:
        row = next(r for r in rows if f"│ {printer['ip']} " in r)
        assert printer["serial"] in row and printer["model"] in row and "idle" in row
        assert "remote-monitoring" in row and "K " in row
    assert f"Registered in the cloud: {count} of {count}" in running.output
    assert "Stopped the gateway, the reference cloud and the virtual fleet" in running.output
    assert running.err == []
    assert_nothing_left(children, [status_port, control, int(cloud_url.rsplit(":", 1)[1])],
                        data)
    assert not listening(option(fleet_options, "--ipp-port"), first_ip)


async def test_sigint_during_start_up_stops_everything() -> None:
    status_port = free_port()
    async with demo(*fleet_args("127.0.101.1", 4), "--status-port", str(status_port)) \
            as running:
        data, control = await started(running)
        await running.line(r"^Gateway started", 60)
        children = await children_of(running)
        running.process.send_signal(signal.SIGINT)
        assert await running.wait(60) == 0, running.err
    assert "Stopping (SIGINT)" in running.output
    assert "Stopped the gateway, the reference cloud and the virtual fleet" in running.output
    assert_nothing_left(children, [status_port, control], data)


async def test_sigterm_while_running_stops_everything() -> None:
    first_ip = "127.0.102.1"
    fleet_options = fleet_args(first_ip, 2)
    async with demo(*fleet_options) as running:
        data, control = await started(running)
        await running.line(r"^Press Ctrl-C to stop", 120)
        children = await children_of(running)
        assert listening(option(fleet_options, "--ipp-port"), first_ip)
        running.process.send_signal(signal.SIGTERM)
        assert await running.wait(60) == 0, running.err
    assert "Stopping (SIGTERM)" in running.output
    assert_nothing_left(children, [control], data)
    assert not listening(option(fleet_options, "--ipp-port"), first_ip)


async def test_a_child_that_cannot_start_is_one_line_and_nothing_is_left() -> None:
    with socket.socket() as taken:  # the fleet's control API port is in use
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with demo(*fleet_args("127.0.102.10", 2), "--control-port", str(port)) \
                as running:
            data = Path((await running.line(r"^Data and logs: (\S+)", 30))[1])
            assert await running.wait(60) == 1
    assert len(running.err) == 1, running.err
    assert running.err[0].startswith("printgw demo: the virtual fleet exited with status 1: ")
    assert "address already in use" in running.err[0].lower()
    assert running.children  # it had started some
    assert_nothing_left(running.children, [], data)


async def test_the_status_page_of_the_running_demo_lists_every_printer(
        tmp_path: Path) -> None:
    status_port = free_port()
    async with demo(*fleet_args("127.0.103.1", 5), "--status-port", str(status_port)) \
            as running:
        _data, control = await started(running)
        await running.line(r"^Status page: +\S+$", 120)
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{control}/printers") as response:
            fleet = await response.json()
        page = await render(f"http://127.0.0.1:{status_port}/", tmp_path / "chromium")
        running.process.send_signal(signal.SIGINT)
        assert await running.wait(60) == 0
    for printer in fleet:
        assert printer["serial"] in page.dom and printer["ip"] in page.dom, printer
    assert page.screenshot.stat().st_size > 1000


# -- the README's first command -------------------------------------------------------------------

def readme_demo_command() -> str:
    """The README's first command, as written there (its comment left out)."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None, "the README has no sh block"
    first = block[1].splitlines()[0]
    return first.split("#", 1)[0].strip()


def tracked_copy(destination: Path) -> None:
    """The repository's files as a checkout has them: tracked, plus new ones not ignored (files
    being added in this working tree), never `.venv` or other ignored files."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
        check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


@pytest.mark.slow
def test_the_readme_first_command_works_in_a_clean_virtual_environment(tmp_path: Path) -> None:
    command = readme_demo_command()
    assert command == "bash scripts/demo"
    checkout = tmp_path / "printgw"
    tracked_copy(checkout)
    assert not (checkout / ".venv").exists()
    first_ip = "127.0.104.1"
    env = {k: v for k, v in ENV.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    result = subprocess.run(
        [*command.split(), "--duration", "20", *fleet_args(first_ip, 4)], cwd=checkout,
        capture_output=True, text=True, timeout=280, check=False, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (checkout / ".venv" / "bin" / "printgw").exists()
    for ip in addresses(first_ip, 4):
        assert re.search(rf"│ {re.escape(ip)} +│ (?:ColorWorks|LaserWriter|InkStream) ",
                         result.stdout), result.stdout  # the model the cloud received
    assert "Stopped the gateway, the reference cloud and the virtual fleet" in result.stdout
