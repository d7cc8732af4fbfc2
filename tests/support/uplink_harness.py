"""End-to-end set-up for the cloud link: virtual fleet + reference cloud + the real `printgw run`.

The fleet and the reference cloud run in the test's event loop on loopback; the gateway is the real
command line in a child process (`printgw run --config FILE [--once]`), talking to the cloud
through a `FaultProxy` so tests can cut, slow or break the link.  Tests use 127.0.60.0-69.255.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from cloud.server import CloudServer
from simulator.fleet import Fleet
from tests.support.cloud_helpers import OPERATOR_TOKEN, Operator, sqlite_url
from tests.support.fault_proxy import FaultProxy
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import run, running_fleet


def toml_value(value: Any) -> str:
    """A TOML literal (JSON's strings, numbers, booleans, arrays are TOML's too)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def toml_document(sections: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, values in sections.items():
        tables = {k: v for k, v in values.items()
                  if isinstance(v, list) and v and isinstance(v[0], dict) and k == "rule"}
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items() if k not in tables]
        for key, rows in tables.items():
            for row in rows:
                lines.append(f"[[{name}.{key}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in row.items()]
        lines.append("")
    return "\n".join(lines)


@dataclass
class Daemon:
    process: asyncio.subprocess.Process
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def stop(self, sig: int = signal.SIGTERM, limit: float = 20.0) -> int:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
        try:
            return await asyncio.wait_for(self.process.wait(), limit)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"printgw did not stop on signal {sig}:\n{self.log()}") from None


@dataclass
class Harness:
    tmp: Path
    fleet: Fleet
    cloud: CloudServer
    proxy: FaultProxy
    http: aiohttp.ClientSession
    operator: Operator
    enrolment_token: str
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    daemons: list[Daemon] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.tmp / "gateway"

    @property
    def config_path(self) -> Path:
        return self.tmp / "gateway.toml"

    def write_config(self, **sections: dict[str, Any]) -> Path:
        """The gateway's config for this fleet and cloud, with `sections` merged over it."""
        printers = self.fleet.printers
        document: dict[str, dict[str, Any]] = {
            "gateway": {"data_dir": str(self.data_dir), "name": "e2e-gateway", "region": "jp",
                        "time_zone": "Asia/Tokyo"},
            "snmp": {"port": printers[0].snmp_port, "communities": ["public"],
                     "timeout": "1s", "retries": 1},
            "ipp": {"port": printers[0].ipp_port, "timeout": "3s"},
            "discovery": {"mdns": False, "static": [{"host": p.ip} for p in printers]},
            "cloud": {"url": self.proxy.url, "enrolment_token": self.enrolment_token,
                      "changes_poll_interval": "1s", "timeout": "5s"},
            "poll": {"interval": "1h"},
            "status_page": {"port": 0},  # any free port: parallel daemons never collide
        }
        for name, values in {**self.settings, **sections}.items():
            document.setdefault(name, {}).update(values)
        self.config_path.write_text(toml_document(document))
        self.config_path.chmod(0o600)  # it holds the enrolment token: others may not read it
        return self.config_path

    async def run_once(self, limit: float = 60.0) -> tuple[int, str, str]:
        """`printgw run --config FILE --once`, the fleet and cloud answering meanwhile."""
        return await run(*COMMAND, "run", "--config", str(self.config_path), "--once",
                         limit=limit)

    async def start_daemon(self, *extra: str) -> Daemon:
        log_path = self.tmp / f"daemon-{len(self.daemons)}.log"
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                *COMMAND, "run", "--config", str(self.config_path), "--log-level", "debug",
                *extra, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        daemon = Daemon(proc, log_path)
        self.daemons.append(daemon)
        return daemon

    # -- what the cloud has ----------------------------------------------------------------------

    async def printers(self) -> dict[str, dict[str, Any]]:
        """Registered printers by serial (the operator's view)."""
        views: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"cursor": cursor} if cursor else None
            page = await self.operator.ok("listPrinters", params=params)
            views += page["printers"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return {v["registration"]["serial"]: v for v in views}

    async def statuses(self, printer_id: str) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, str | int] = {"limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = await self.operator.ok("listReceivedStatuses", path={"printer_id": printer_id},
                                          params=params)
            received += page["statuses"]
            cursor = page.get("next_cursor")
            if not cursor:
                return received

    async def wait_for(self, check: Any, within: float, what: str, step: float = 0.05) -> Any:
        """Poll `check()` (sync or async) until truthy, at most `within` seconds."""
        loop = asyncio.get_running_loop()
        end = loop.time() + within
        while True:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            if loop.time() > end:
                logs = "\n".join(d.log()[-4000:] for d in self.daemons)
                raise AssertionError(f"not within {within} s: {what}\n{logs}")
            await asyncio.sleep(step)


@contextlib.asynccontextmanager
async def uplink_setup(tmp: Path, first_ip: str, profiles: list[str], count: int | None = None,
                       fleet_options: dict[str, Any] | None = None,
                       **cloud_options: Any) -> AsyncIterator[Harness]:
    """A fleet (one printer per profile unless `count`, `fleet_options` for `FleetConfig`), the
    reference cloud on a SQLite file behind a fault proxy (the cloud's regional endpoint is the
    proxy), an enrolment token."""
    async with contextlib.AsyncExitStack() as stack:
        fleet = await stack.enter_async_context(running_fleet(
            first_ip, count or len(profiles), profiles=profiles, **(fleet_options or {})))
        proxy = await stack.enter_async_context(FaultProxy(upstream=""))
        cloud = await stack.enter_async_context(CloudServer(
            database_url=sqlite_url(tmp), operator_tokens=[OPERATOR_TOKEN],
            regions={"jp": proxy.url}, **cloud_options))
        proxy.upstream = cloud.url
        http = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)))
        operator = Operator(http, cloud.url)
        harness = Harness(tmp, fleet, cloud, proxy, http, operator,
                          await operator.enrolment_token())
        try:
            yield harness
        finally:
            for daemon in harness.daemons:
                await daemon.stop(signal.SIGKILL)
