"""The traps of issue 18 that show with running programs (each with its fix):

- the status page's port taken by another program (the virtual fleet's control API, or another
  printgw): an error in the log and on `printgw status`, never silence;
- `printgw status` answered by another daemon that used the configured port: refused, since
  `/api/status` names the data directory it serves (`gateway.data_dir_id`);
- an SNMP community given without the command line: from the environment or a file;
- the cloud reconnect jittered: two gateways that cannot reach the cloud retry at different
  times.

Real `printgw run` / `status` / `poll` processes, the simulator, a real HTTP server on loopback.
Addresses 127.0.143.0-143.255.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from gateway.local.page_owner import ERROR_FILE
from gateway.local.status_page import URL_FILE
from protocols.hosts import free_port
from simulator.control_api import start_control_api
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import SNMP_ENV, run, running_fleet
from tests.support.uplink_harness import Daemon, toml_document


def gateway_config(tmp: Path, name: str, page: tuple[str, int] | None = None,
                   **sections: dict) -> Path:
    """A gateway without printers named `name`, its data in `tmp/name`, its page at `page`."""
    host, port = page or ("127.0.0.1", 0)
    document = {"gateway": {"data_dir": str(tmp / name), "name": name},
                "discovery": {"mdns": False},
                "status_page": {"host": host, "port": port}, **sections}
    path = tmp / f"{name}.toml"
    path.write_text(toml_document(document))
    path.chmod(0o600)
    return path


@contextlib.asynccontextmanager
async def daemon(config: Path) -> AsyncIterator[Daemon]:
    log_path = config.with_suffix(".log")
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *COMMAND, "run", "--config", str(config), stdout=log, stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    running = Daemon(process, log_path)
    try:
        yield running
    finally:
        await running.stop(signal.SIGKILL if process.returncode is None else signal.SIGTERM)


async def until(check, within: float, what: str) -> None:
    end = time.monotonic() + within
    while not check():
        assert time.monotonic() < end, f"not within {within} s: {what}"
        await asyncio.sleep(0.05)


# -- the status page's port ------------------------------------------------------------------------

@pytest.mark.slow
async def test_a_page_port_taken_by_the_fleets_control_api_is_an_error_everywhere(
        tmp_path: Path) -> None:
    port = free_port("127.0.143.2")
    async with running_fleet("127.0.143.10") as fleet:
        control = await start_control_api(fleet, "127.0.143.2", port)
        try:
            config = gateway_config(tmp_path, "gw-a", ("127.0.143.2", port))
            async with daemon(config) as gw:
                message = f"cannot listen on 127.0.143.2:{port}: Address already in use"
                await until(lambda: message in gw.log(), 30, "the error logged")
                assert (tmp_path / "gw-a" / ERROR_FILE).exists()
                rc, out, err = await run(*COMMAND, "status", "--config", str(config), limit=60)
                assert rc == 1, err
                assert "the daemon runs but its status page could not start: " + message in err
                assert "change [status_page] port" in err
                assert "gw-a" in out  # what its store holds
        finally:
            await control.cleanup()
    rc, _out, err = await run(*COMMAND, "status", "--config", str(config), limit=60)
    assert rc == 1 and "the daemon is not running" in err  # the note went with the daemon


@pytest.mark.slow
async def test_printgw_status_refuses_another_daemons_page(tmp_path: Path) -> None:
    port = free_port("127.0.143.3")
    theirs = gateway_config(tmp_path, "gw-theirs", ("127.0.143.3", port))
    ours = gateway_config(tmp_path, "gw-ours", ("127.0.143.3", port))
    async with daemon(theirs):
        await until((tmp_path / "gw-theirs" / URL_FILE).exists, 30, "their page up")
        rc, out, err = await run(*COMMAND, "status", "--config", str(theirs), limit=60)
        assert rc == 0 and "gw-theirs" in out, err

        # Ours not running: their page answers at our port, and is refused.
        rc, out, err = await run(*COMMAND, "status", "--config", str(ours), limit=60)
        assert rc == 1
        assert f"the status page at http://127.0.0.1:{port}/" not in err
        assert f"the status page at http://127.0.143.3:{port}/ is not this gateway's" in err
        assert "give this gateway a port of its own" in err
        assert "gw-theirs" not in out

        # Ours running: its page cannot start, and `status` says both.
        async with daemon(ours) as gw:
            await until(lambda: "Address already in use" in gw.log(), 30, "our error logged")
            rc, out, err = await run(*COMMAND, "status", "--config", str(ours), "--json",
                                     limit=60)
            assert rc == 1 and "is not this gateway's" in err
            assert "this daemon's page could not start: cannot listen on" in err
            assert '"name": "gw-ours"' in out and "gw-theirs" not in out


# -- SNMP communities ------------------------------------------------------------------------------

@pytest.mark.slow
async def test_poll_takes_the_community_from_the_environment_or_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "n5-s3cret-ro"
    async with running_fleet("127.0.143.20", read_community=secret) as fleet:
        printer = fleet.printers[0]
        poll = (*COMMAND, "poll", printer.ip, "--port", str(printer.snmp_port), "--no-ipp",
                "--timeout", "1", "--retries", "0", "--json")
        rc, _out, err = await run(*poll, limit=60)
        assert rc == 1, err  # "public" gets no answer

        monkeypatch.setitem(SNMP_ENV, "PRINTGW_SNMP_COMMUNITY", secret)
        rc, out, err = await run(*poll, limit=60)
        assert rc == 0 and printer.state.serial in out, err
        assert "warning" not in err
        monkeypatch.delitem(SNMP_ENV, "PRINTGW_SNMP_COMMUNITY")

        file = tmp_path / "community"
        file.write_text(secret + "\n")
        file.chmod(0o600)
        rc, out, err = await run(*poll, "--community-file", str(file), limit=60)
        assert rc == 0 and printer.state.serial in out, err

        rc, out, err = await run(*poll, "--community", secret, limit=60)
        assert rc == 0 and printer.state.serial in out, err
        assert "warning: --community shows the community to every user" in err


# -- the cloud reconnect ---------------------------------------------------------------------------

@pytest.mark.slow
async def test_gateways_that_cannot_reach_the_cloud_do_not_retry_in_lockstep(
        tmp_path: Path) -> None:
    """Two gateways whose cloud answers 503 retry after 1, 2, 4… s each drawn between half and
    all of it (`gateway/wake.py jittered`, `CloudUplink._connect`): never at the same times."""
    attempts: dict[str, list[float]] = {"a": [], "b": []}

    def entry(name: str):
        async def handler(_request: web.Request) -> web.Response:
            attempts[name].append(time.monotonic())
            return web.Response(status=503, text="down for maintenance")
        return handler

    runners = []
    configs = []
    for name, ip in (("a", "127.0.143.30"), ("b", "127.0.143.31")):
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", entry(name))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port(ip)
        await web.TCPSite(runner, ip, port).start()
        runners.append(runner)
        configs.append(gateway_config(
            tmp_path, f"gw-{name}", gateway={"data_dir": str(tmp_path / f"gw-{name}"),
                                             "name": f"gw-{name}", "region": "jp"},
            cloud={"url": f"http://{ip}:{port}", "enrolment_token": "enrol-0123456789",
                   "push": False}, status_page={"enabled": False}))
    try:
        async with daemon(configs[0]), daemon(configs[1]):
            await until(lambda: min(len(a) for a in attempts.values()) >= 4, 40,
                        f"four attempts each: {attempts}")
    finally:
        for runner in runners:
            await runner.cleanup()
    gaps = {name: [b - a for a, b in itertools.pairwise(times)][:3]
            for name, times in attempts.items()}
    for name, delays in gaps.items():
        for nominal, delay in zip((1, 2, 4), delays, strict=True):
            assert nominal * 0.5 - 0.05 <= delay <= nominal + 1.5, (name, gaps)  # busy machine
    assert any(abs(a - b) > 0.05 for a, b in zip(gaps["a"], gaps["b"], strict=True)), gaps
