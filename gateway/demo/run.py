"""`printgw demo`: a virtual fleet, the reference cloud and the gateway on loopback, at once.

Three child processes, all started (and stopped) by this one:

- the virtual fleet (`printgw-sim`): printers of mixed profiles on 127.0.x.y addresses, some with
  the contract MIB;
- the reference cloud (`printgw-cloud serve`) on a SQLite file, with an operator token of its own;
- the gateway (`printgw run`) with a config written for them: it discovers the fleet by an SNMP
  sweep, registers every printer in the cloud and activates the contracted services.

The demo acts as the cloud's operator through the operator API (as the published document
`protocols/cloud/openapi.yaml` names its operations): it defines the services, issues the
enrolment token, and contracts services for the printers as the gateway registers them.  What it
shows (progress, the fleet table, one line per event afterwards) is what the cloud has received.

Everything lives in one data directory (temporary unless `--keep-data`).  On Ctrl-C, SIGTERM, the
end of `--duration` or a failure, every child is stopped (SIGTERM, then SIGKILL after a grace
period) and the temporary directory removed; on Linux the children also get SIGTERM should this
process die without cleaning up (`PR_SET_PDEATHSIG`).

With `--contract-change` it then runs a change of contract machine on two printers
(`gateway.demo.contract_change`) and stops at its end (`--keep-running`: goes on as above).

This module is the orchestration; the children are run by `demo_processes`, the cloud is called
and its view of the printers kept by `demo_cloud`, the table and event lines are drawn by
`demo_table`, and the options and the gateway's config are `demo_config`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.progress import Progress, TaskID

from gateway.demo.cloud import Operator, PrinterView, receive_statuses, refresh_printers
from gateway.demo.config import DemoOptions, write_config, write_private
from gateway.demo.contract_change import CLOUD_OPTIONS, ContractChange
from gateway.demo.errors import DemoError
from gateway.demo.processes import Child, start_child, stop_in_order
from gateway.demo.table import activation_line, event_line, fleet_table
from protocols.hosts import free_port

SERVICES: dict[str, tuple[str, list[str]]] = {
    # service ID: (outline, the data types it needs)
    "remote-monitoring": ("Printer state, alerts and page counts watched remotely",
                          ["identity", "state", "alerts", "counters.total"]),
    "supplies-auto-order": ("Toner and ink ordered automatically when a cartridge runs low",
                            ["supplies.level", "supplies.kind", "supplies.color",
                             "supplies.model"]),
    "contract-printing": ("Flat-rate printing on contract cartridges",
                          ["contract", "supplies.cartridge", "counters.contract"]),
}
CONTRACT_SERVICE = "contract-printing"
"""Contracted only for the printers that have the contract MIB."""

STATUS_PAGE_WAIT = 10.0
"""Seconds the status page may take to answer once the fleet is up."""
WATCH_STEP = 2.0
"""Seconds between two looks at the cloud while the demo runs."""
GATEWAY = "the gateway"
"""The gateway child's name: it is stopped first (it finishes its uploads)."""


# -- the demo -------------------------------------------------------------------------------------

class Demo:
    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.options, self.console = options, console
        self.children: list[Child] = []
        if options.keep_data is not None:
            self.data = options.keep_data.resolve()
            self.data.mkdir(parents=True, exist_ok=True)
        else:
            self.data = Path(tempfile.mkdtemp(prefix="printgw-demo-"))
        self.ports = self._ports()
        self.control_url = f"http://127.0.0.1:{self.ports['control']}"
        self.cloud_url = f"http://127.0.0.1:{self.ports['cloud']}"
        self.status_url = f"http://127.0.0.1:{self.ports['status']}"
        self.printers: list[PrinterView] = []

    def _ports(self) -> dict[str, int]:
        """The fleet control API's, the cloud's and the status page's ports: as given, else as
        the kept data's last run had them (the gateway remembers the cloud's URL), else free
        ones."""
        kept: dict[str, int] = {}
        path = self.data / "ports.json"
        if self.options.keep_data is not None and path.exists():
            with contextlib.suppress(OSError, ValueError):
                kept = dict(json.loads(path.read_text()))
        ports = {name: getattr(self.options, f"{name}_port") or int(kept.get(name, 0))
                 or free_port() for name in ("control", "cloud", "status")}
        if self.options.keep_data is not None:
            path.write_text(json.dumps(ports))
        return ports

    # -- start-up ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Start everything, show progress and the table, then watch until cancelled or the
        duration is over; raises `DemoError` when something fails."""
        kept = "kept" if self.options.keep_data else "removed on exit"
        self.console.print(f"Data and logs: {self.data} ({kept})")
        token = self._operator_token()
        fleet = await start_child(
            "the virtual fleet", self.data / "fleet.log", "simulator.cli",
            "--count", str(self.options.count), "--first-ip", self.options.first_ip,
            "--snmp-port", str(self.options.snmp_port), "--ipp-port", str(self.options.ipp_port),
            "--control-port", str(self.ports["control"]), "--seed", "1")
        self.children.append(fleet)
        cloud = await start_child(
            "the reference cloud", self.data / "cloud.log", "cloud", "serve",
            "--database", f"sqlite+aiosqlite:///{self.data / 'cloud.db'}",
            "--host", "127.0.0.1", "--port", str(self.ports["cloud"]),
            "--operator-token-file", str(self.data / "operator-token"),
            "--upgrade-database",  # a kept demo's database from an older release: its own data
            *(CLOUD_OPTIONS if self.options.contract_change else []))
        self.children.append(cloud)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            operator = Operator(session, self.cloud_url, token)
            await asyncio.gather(self._wait_for_fleet(session), self._wait_for_cloud(operator))
            enrolment = await self._prepare_cloud(operator)
            config = write_config(self.data, self.options, self.cloud_url,
                                  self.ports["status"], enrolment)
            self.children.append(await start_child(
                GATEWAY, self.data / "gateway.log", "gateway.app.cli", "run",
                "--config", str(config)))
            self.console.print(f"Gateway started: config {config}, status page "
                               f"{self.status_url}/")
            await self._follow_start(operator, session)
            self.console.print(fleet_table(self.printers))
            await self._print_addresses(session)
            if self.options.contract_change:
                await ContractChange(self.console, session, operator, self.control_url,
                                     self.status_url, self.printers, self._until,
                                     self.options.timeout).run()
                if not self.options.keep_running:
                    return
            await self._watch(operator)

    def _operator_token(self) -> str:
        """The cloud's operator token, in a file only this user can read (kept data: reused)."""
        path = self.data / "operator-token"
        if path.exists():
            return path.read_text().strip()
        token = f"pgwo_demo_{secrets.token_urlsafe(24)}"
        write_private(path, token + "\n")
        return token

    def _check_children(self) -> None:
        for child in self.children:
            failure = child.failure()
            if failure is not None:
                raise DemoError(failure)

    async def _until(self, what: str, check: Callable[[], Awaitable[Any]]) -> Any:
        """`check()` until it returns something truthy, the children alive meanwhile."""
        deadline = time.monotonic() + self.options.timeout
        while True:
            self._check_children()
            result = await check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise DemoError(f"{what} did not happen within {self.options.timeout:g} s")
            await asyncio.sleep(0.2)

    async def _wait_for_fleet(self, session: aiohttp.ClientSession) -> None:
        async def summaries() -> list[dict[str, Any]] | None:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{self.control_url}/printers") as response:
                    if response.status == 200:
                        return list(await response.json())
            return None

        printers = await self._until("the virtual fleet's start", summaries)
        for summary in printers:
            async with session.get(f"{self.control_url}/printers/{summary['ip']}") as response:
                details = await response.json()
            self.printers.append(PrinterView(summary, bool(details["contract"]["supported"])))
        first, last = printers[0], printers[-1]
        self.console.print(f"Virtual fleet: {len(printers)} printers {first['ip']}..{last['ip']} "
                           f"(SNMP port {self.options.snmp_port}, IPP port "
                           f"{self.options.ipp_port}), control API {self.control_url}/printers")

    async def _wait_for_cloud(self, operator: Operator) -> None:
        async def answers() -> bool:
            with contextlib.suppress(DemoError):
                await operator.call("listServices")
                return True
            return False

        await self._until("the reference cloud's start", answers)
        self.console.print(f"Reference cloud: {self.cloud_url} (SQLite {self.data / 'cloud.db'})")

    async def _prepare_cloud(self, operator: Operator) -> str:
        """The services defined and an enrolment token issued, as the cloud's operator."""
        for service_id, (outline, data_types) in SERVICES.items():
            await operator.call("putService", path={"service_id": service_id}, body={
                "service_outline": outline, "provider": "printgw demo",
                "data_types": data_types, "compatible_cartridge_models": [],
                "activation_by_first_upload": False})
        answer = await operator.call("createEnrolmentToken",
                                     body={"region": "jp", "label": "printgw demo"})
        self.console.print(f"Services defined: {', '.join(SERVICES)}; enrolment token issued")
        return str(answer["enrolment_token"])

    async def _follow_start(self, operator: Operator, session: aiohttp.ClientSession) -> None:
        """Progress until every printer is registered, its contracted services active and a
        status of it received (or the time-out), contracting services as printers register."""
        count = len(self.printers)
        wanted = {p.fleet["serial"]: self._contracts(p) for p in self.printers}
        total = sum(len(services) for services in wanted.values())
        steps = {"found": "Found by the gateway", "registered": "Registered in the cloud",
                 "activated": "Services activated", "uploaded": "Statuses received"}
        totals = {"found": count, "registered": count, "activated": total, "uploaded": count}
        done: dict[str, float] = {}
        started = time.monotonic()
        progress = Progress(console=self.console, transient=True,
                            disable=not self.console.is_terminal)
        tasks: dict[str, TaskID] = {key: progress.add_task(text, total=totals[key])
                                    for key, text in steps.items()}

        async def step() -> bool:
            await refresh_printers(operator, self.printers)
            for printer in self.printers:
                if printer.cloud is not None:
                    await self._contract(operator, printer, wanted[printer.fleet["serial"]])
            registered = sum(1 for p in self.printers if p.cloud is not None)
            counts = {
                "found": max(registered, await self._gateway_devices(session)),
                "registered": registered,
                "activated": sum(1 for p in self.printers
                                 for s, state in p.services().items()
                                 if state == "active" and s in wanted[p.fleet["serial"]]),
                "uploaded": await self._uploaded(operator),
            }
            for key, value in counts.items():
                progress.update(tasks[key], completed=value)
                if key not in done and value >= totals[key]:
                    done[key] = time.monotonic() - started
                    self.console.print(f"  {steps[key]}: {value} of {totals[key]} "
                                       f"({done[key]:.1f} s)")
            return len(done) == len(steps)

        with progress:
            try:
                await self._until("the gateway's discovery, registration and activation", step)
            except DemoError as exc:
                missing = ", ".join(steps[k].lower() for k in steps if k not in done)
                raise DemoError(f"{exc} (still waiting for: {missing}; the gateway's last log "
                                f"line: {self.children[-1].last_line()})") from None

    async def _uploaded(self, operator: Operator) -> int:
        """Printers whose state the cloud has received (remote monitoring's data: the table
        shows it)."""
        await receive_statuses(operator, self.printers)
        return sum(1 for p in self.printers if "state" in p.data)

    def _contracts(self, printer: PrinterView) -> set[str]:
        """The services the demo contracts for a printer."""
        return {s for s in SERVICES if s != CONTRACT_SERVICE or printer.contract_mib}

    async def _contract(self, operator: Operator, printer: PrinterView,
                        services: set[str]) -> None:
        """Applications for the services not yet contracted (a kept cloud has some already)."""
        assert printer.cloud is not None
        live = {s for s, state in printer.services().items() if state != "cancelled"}
        for service_id in sorted(services - live):
            application = await operator.call(
                "createApplication", path={"printer_id": printer.cloud["printer_id"]},
                body={"service_id": service_id})
            printer.cloud["applications"].append(application)

    async def _gateway_devices(self, session: aiohttp.ClientSession) -> int:
        """How many devices the gateway's status page lists (0 while it does not answer)."""
        with contextlib.suppress(aiohttp.ClientError, json.JSONDecodeError, TimeoutError):
            async with session.get(f"{self.status_url}/api/status",
                                   timeout=aiohttp.ClientTimeout(total=2)) as response:
                if response.status == 200:
                    devices = (await response.json()).get("devices")
                    return len(devices) if isinstance(devices, list) else 0
        return 0

    async def _status_page_answers(self, session: aiohttp.ClientSession) -> bool:
        """Whether the gateway's status page answers (it may take a few seconds to start)."""
        deadline = time.monotonic() + STATUS_PAGE_WAIT
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{self.status_url}/",
                                       timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200:
                        return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.2)

    async def _print_addresses(self, session: aiohttp.ClientSession) -> None:
        answering = "" if await self._status_page_answers(session) else " (not answering)"
        self.console.print(f"Status page:  {self.status_url}/{answering}")
        self.console.print(f"Cloud:        {self.cloud_url}  (operator token in "
                           f"{self.data / 'operator-token'})")
        self.console.print(f"Fleet:        {self.control_url}/printers — make things happen, e.g."
                           f"\n  curl -X POST {self.control_url}/printers/0/level "
                           "-d '{\"supply\": \"black\", \"percent\": 15}'")
        if self.options.contract_change and not self.options.keep_running:
            self.console.print("The demo stops at the contract change's end (Ctrl-C stops "
                               "earlier).")
            return
        how = "Press Ctrl-C to stop." if self.options.duration is None \
            else f"Running for {self.options.duration:g} s (Ctrl-C stops earlier)."
        self.console.print(f"After the contract change: {how[0].lower()}{how[1:]}"
                           if self.options.contract_change else how)

    async def _watch(self, operator: Operator) -> None:
        """One line per event the cloud receives or activation change, until the duration is
        over (or the task is cancelled)."""
        deadline = None if self.options.duration is None \
            else time.monotonic() + self.options.duration
        while deadline is None or time.monotonic() < deadline:
            wait = WATCH_STEP if deadline is None else min(WATCH_STEP,
                                                           deadline - time.monotonic())
            await asyncio.sleep(max(wait, 0))
            self._check_children()
            before = {p.fleet["serial"]: p.services() for p in self.printers}
            await refresh_printers(operator, self.printers)
            for printer in self.printers:
                for service_id, state in printer.services().items():
                    if before[printer.fleet["serial"]].get(service_id) != state:
                        self.console.print(activation_line(printer, service_id, state))
            for printer, entry in await receive_statuses(operator, self.printers):
                if entry["event"] != "periodic":
                    self.console.print(event_line(printer, entry))

    # -- the end ----------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the gateway first (it finishes its uploads), then the cloud and the fleet;
        remove the temporary directory."""
        await stop_in_order(self.children, first=GATEWAY)
        if self.options.keep_data is None:
            shutil.rmtree(self.data, ignore_errors=True)
        names = [c.name for c in reversed(self.children)]
        stopped = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else \
            "".join(names) or "nothing"
        where = "kept" if self.options.keep_data else "removed"
        self.console.print(f"Stopped {stopped}; {self.data} {where}.")


async def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    """The demo until Ctrl-C, SIGTERM or the end of `options.duration`: 0, or 1 after a failure
    (one line on stderr).  Every child is stopped and the temporary directory removed."""
    console = console or Console()
    try:
        demo = Demo(options, console)
    except OSError as exc:
        print(f"printgw demo: cannot prepare the data directory: {exc}", file=sys.stderr)
        return 1
    main = asyncio.create_task(demo.run())
    signals: list[str] = []

    def stop(sig: signal.Signals) -> None:
        signals.append(sig.name)
        main.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    try:
        await main
        return 0
    except asyncio.CancelledError:
        if not signals:
            raise
        console.print(f"Stopping ({signals[0]})…")
        return 0
    except (DemoError, aiohttp.ClientError, OSError) as exc:
        print(f"printgw demo: {exc}", file=sys.stderr)
        return 1
    finally:
        await demo.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
