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
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID
from rich.table import Table

from protocols.cloud import load_schema


@dataclass(frozen=True)
class DemoOptions:
    count: int = 10
    first_ip: str = "127.0.10.1"
    snmp_port: int = 10161
    ipp_port: int = 10631
    control_port: int = 0
    """The fleet's control API on 127.0.0.1 (0: a free port)."""
    cloud_port: int = 0
    """The reference cloud on 127.0.0.1 (0: a free port)."""
    status_port: int = 0
    """The gateway's status page on 127.0.0.1 (0: a free port)."""
    duration: float | None = None
    """Seconds to keep running once the fleet table is shown (None: until Ctrl-C or SIGTERM)."""
    interval: float = 5.0
    """The gateway's poll interval, seconds."""
    keep_data: Path | None = None
    """Keep the cloud's database, the gateway's data and the logs here (default: a temporary
    directory, removed on exit)."""
    timeout: float = 120.0
    """Seconds each start-up step may take."""

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("--count must be at least 1")
        try:
            first = ipaddress.IPv4Address(self.first_ip)
        except ipaddress.AddressValueError:
            raise ValueError(f"--first-ip {self.first_ip!r} is not an IPv4 address") from None
        last = int(first) + self.count - 1
        if not first.is_loopback or not ipaddress.IPv4Address(last).is_loopback:
            raise ValueError(f"--first-ip and --count must keep the printers in 127.0.0.0/8 "
                             f"(loopback), got {first} + {self.count}")
        for name in ("snmp_port", "ipp_port", "control_port", "cloud_port", "status_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ValueError(f"--{name.replace('_', '-')} must be a port number (0-65535)")
        if self.interval <= 0 or (self.duration is not None and self.duration < 0):
            raise ValueError("--interval must be positive and --duration not negative")


class DemoError(Exception):
    """A step of the demo failed; the message is one line for the user."""


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

STOP_GRACE = 10.0
"""Seconds a child has to stop on SIGTERM before it is killed."""
STATUS_PAGE_WAIT = 10.0
"""Seconds the status page may take to answer once the fleet is up."""
WATCH_STEP = 2.0
"""Seconds between two looks at the cloud while the demo runs."""


# -- child processes ------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` giving the child SIGTERM when this process dies (Linux), else None."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl
            os._exit(1)
    return setup


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log: Path

    def last_line(self) -> str:
        with contextlib.suppress(OSError):
            lines = [line.strip() for line in self.log.read_text(errors="replace").splitlines()]
            lines = [line for line in lines if line]
            if lines:
                return lines[-1][:300]
        return "no output"

    def failure(self) -> str | None:
        """A one-line message when the child has exited, else None."""
        if self.process.returncode is None:
            return None
        return f"{self.name} exited with status {self.process.returncode}: {self.last_line()}"

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), STOP_GRACE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()


_PACKAGES = Path(__file__).resolve().parents[1]
"""Where `gateway`, `cloud` and `simulator` are: the children import them from here too."""


async def start_child(name: str, log: Path, *args: str) -> Child:
    """`python -m …` with this interpreter and these packages, in a process group of its own (a
    terminal's Ctrl-C reaches the demo only, which stops its children in order), output to
    `log`."""
    path = os.pathsep.join(p for p in (str(_PACKAGES), os.environ.get("PYTHONPATH")) if p)
    try:
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", *args, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=out, process_group=0, preexec_fn=_die_with_parent(),
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path})
    except OSError as exc:
        raise DemoError(f"cannot start {name}: {exc}") from exc
    return Child(name, process, log)


def write_private(path: Path, text: str) -> None:
    """`text` in a new file `path` only this user can read (it holds a secret)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sweep_networks(first_ip: str, count: int) -> list[ipaddress.IPv4Network]:
    """Networks whose SNMP sweep probes exactly `count` addresses from `first_ip`: the range's
    CIDR blocks, plus each block's own and broadcast address where the block has them (a sweep
    skips those, as it should on a real LAN)."""
    first = ipaddress.IPv4Address(first_ip)
    networks = []
    for network in ipaddress.summarize_address_range(first, first + count - 1):
        networks.append(network)
        if network.prefixlen < 31:
            networks += [ipaddress.IPv4Network(network.network_address),
                         ipaddress.IPv4Network(network.broadcast_address)]
    return networks


# -- the cloud's operator API ---------------------------------------------------------------------

@cache
def _operations() -> dict[str, tuple[str, str]]:
    """Method and path template of every operation of the cloud document, by operation ID."""
    return {operation["operationId"]: (method.upper(), path)
            for path, item in load_schema()["paths"].items()
            for method, operation in item.items()
            if isinstance(operation, dict) and "operationId" in operation}


class Operator:
    """The cloud's operator, calling operations by their ID in the cloud document."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.session, self.base_url = session, base_url
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, operation_id: str, *, path: dict[str, str] | None = None,
                   body: Any = None, params: dict[str, str] | None = None) -> Any:
        method, template = _operations()[operation_id]
        url = self.base_url + template.format(**(path or {}))
        try:
            async with self.session.request(method, url, json=body, params=params,
                                            headers=self.headers) as response:
                raw = await response.read()
                answer = json.loads(raw) if raw else None
                if response.status >= 300:
                    detail = answer.get("detail") or answer.get("title") \
                        if isinstance(answer, dict) else answer
                    raise DemoError(f"the cloud answered {operation_id} with {response.status}: "
                                    f"{detail}")
                return answer
        except (aiohttp.ClientError, json.JSONDecodeError) as exc:
            raise DemoError(f"calling the cloud ({operation_id}): {exc}") from exc

    async def pages(self, operation_id: str, key: str, *, path: dict[str, str] | None = None,
                    params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a paged list operation."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {**(params or {}), **({"cursor": cursor} if cursor else {})}
            page = await self.call(operation_id, path=path, params=query or None)
            items += page[key]
            cursor = page.get("next_cursor")
            if not cursor:
                return items


# -- what the demo shows --------------------------------------------------------------------------

@dataclass
class PrinterView:
    """One virtual printer: the fleet's summary, the cloud's view, the latest data received."""

    fleet: dict[str, Any]
    contract_mib: bool
    cloud: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    seen_entries: set[str] = field(default_factory=set)
    received_until: str | None = None

    @property
    def label(self) -> str:
        return f"{self.fleet['ip']} {self.fleet['serial']}"

    def services(self) -> dict[str, str]:
        """Activation state by service ID."""
        apps = self.cloud["applications"] if self.cloud else []
        return {a["service_id"]: a["activation_state"] for a in apps}


_COLOR_LETTERS = {"black": "K", "cyan": "C", "magenta": "M", "yellow": "Y"}
_COLOR_STYLES = {"black": "bold", "cyan": "cyan", "magenta": "magenta", "yellow": "yellow"}


def supply_levels(data: dict[str, Any]) -> str:
    """The marking supplies' levels (toner, ink) as rich text, e.g. `K 72 %  C 45 %`."""
    kinds = {s["index"]: s for s in data.get("supplies.kind") or []}
    colors = {s["index"]: s["color"] for s in data.get("supplies.color") or []}
    parts = []
    for supply in data.get("supplies.level") or []:
        kind = (kinds.get(supply["index"], {}).get("kind") or "").lower()
        if supply["class"] != "consumed" or kind.startswith("waste") or not (
                "toner" in kind or "ink" in kind):
            continue
        color = colors.get(supply["index"])
        label = _COLOR_LETTERS.get(color or "") or escape(
            kinds.get(supply["index"], {}).get("description") or supply["index"])
        level = supply["level_percent"]
        text = "?" if level is None else f"{level} %"
        if level is not None and level <= 20:
            text = f"[red]{text}[/red]"
        style = _COLOR_STYLES.get(color or "")
        parts.append(f"[{style}]{label}[/{style}] {text}" if style else f"{label} {text}")
    return "  ".join(parts) or "—"


def _state(data: dict[str, Any]) -> str:
    state = data.get("state")
    if not state:
        return "—"
    reasons = [r for r in state["reasons"] if r != "none"]
    text = state["printer_state"] + (f" ({', '.join(reasons)})" if reasons else "")
    return f"[red]{escape(text)}[/red]" if state["abnormal"] else escape(text)


def _clock(iso: str | None) -> str:
    if not iso:
        return "—"
    return datetime.fromisoformat(iso).astimezone().strftime("%H:%M:%S")


def fleet_table(printers: list[PrinterView]) -> Table:
    table = Table(title="The fleet, as the cloud received it from the gateway",
                  title_justify="left")
    for column in ("Printer", "Model", "Serial", "State", "Supplies", "Services active",
                   "Last upload"):
        table.add_column(column)
    for printer in printers:
        states = printer.services()
        services = [s if state == "active" else f"[dim]{s} ({state})[/dim]"
                    for s, state in sorted(states.items())]
        registration = printer.cloud["registration"] if printer.cloud else {}
        table.add_row(
            f"{printer.fleet['ip']}", escape(registration.get("product_name")
                                             or printer.fleet["model"]),
            printer.fleet["serial"], _state(printer.data), supply_levels(printer.data),
            ", ".join(services) or ("—" if printer.cloud else "[red]not registered[/red]"),
            _clock(printer.cloud["last_status_at"] if printer.cloud else None))
    return table


def _event_line(printer: PrinterView, entry: dict[str, Any]) -> str:
    """One line for an uploaded event: what happened, on which printer."""
    detail = entry.get("event_detail") or {}
    what = [entry["event"]]
    index = detail.get("supply_index")
    if index is not None:
        levels = {s["index"]: s["level_percent"] for s in entry["data"].get("supplies.level", [])}
        kinds = {s["index"]: s["description"] for s in entry["data"].get("supplies.kind", [])}
        what.append(f"{kinds.get(index) or index}: {levels.get(index, '?')} %")
    if "threshold_percent" in detail:
        what.append(f"below {detail['threshold_percent']} %")
    if "alert_index" in detail:
        alert = {a["index"]: a for a in entry["data"].get("alerts", [])}.get(detail["alert_index"])
        what.append((alert and (alert["description"] or alert["code"]))
                    or f"alert {detail['alert_index']}")
    if "previous_state" in detail and "state" in entry["data"]:
        what.append(f"{detail['previous_state']} → {entry['data']['state']['printer_state']}")
    return escape(f"{_clock(entry['received_at'])} {printer.label}: {', '.join(what)}")


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
            "--operator-token-file", str(self.data / "operator-token"))
        self.children.append(cloud)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            operator = Operator(session, self.cloud_url, token)
            await asyncio.gather(self._wait_for_fleet(session), self._wait_for_cloud(operator))
            enrolment = await self._prepare_cloud(operator)
            config = self._write_config(enrolment)
            self.children.append(await start_child(
                "the gateway", self.data / "gateway.log", "gateway.cli", "run",
                "--config", str(config)))
            self.console.print(f"Gateway started: config {config}, status page "
                               f"{self.status_url}/")
            await self._follow_start(operator, session)
            self.console.print(fleet_table(self.printers))
            await self._print_addresses(session)
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

    def _write_config(self, enrolment_token: str) -> Path:
        token_file = self.data / "enrolment-token"
        write_private(token_file, enrolment_token + "\n")
        subnets = sweep_networks(self.options.first_ip, self.options.count)
        interval = self.options.interval
        text = "\n".join([
            "# Written by `printgw demo`: the gateway of its virtual fleet and reference cloud.",
            "[gateway]",
            f"data_dir = {json.dumps(str(self.data / 'gateway'))}",
            'name = "printgw-demo"',
            'region = "jp"',
            "",
            "[snmp]",
            f"port = {self.options.snmp_port}",
            'communities = ["public"]',
            'timeout = "1s"',
            "",
            "[ipp]",
            f"port = {self.options.ipp_port}",
            'timeout = "3s"',
            "",
            "[discovery]  # an SNMP sweep of exactly the fleet's addresses",
            "mdns = false",
            "subnets = [" + ", ".join(f'{{ cidr = "{net}" }}' for net in subnets) + "]",
            "",
            "[cloud]",
            f'url = "{self.cloud_url}"',
            f"enrolment_token = {{ file = {json.dumps(str(token_file))} }}",
            'changes_poll_interval = "2s"',
            'timeout = "10s"',
            "",
            "[poll]",
            f'interval = "{interval:g}s"',
            'periodic_upload = "5m"',
            "",
            "[contract]",
            'write_community = "private"',
            'retry_initial = "1s"',
            'retry_max = "10s"',
            "",
            "[status_page]",
            "enabled = true",
            'host = "127.0.0.1"',
            f"port = {self.ports['status']}",
            ""])
        path = self.data / "gateway.toml"
        write_private(path, text)
        return path

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
            await self._refresh(operator)
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
                "uploaded": sum(1 for p in self.printers if p.cloud and p.cloud["last_status_at"]),
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
        await self._receive(operator)

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
        self.console.print("Press Ctrl-C to stop." if self.options.duration is None
                           else f"Running for {self.options.duration:g} s (Ctrl-C stops earlier).")

    # -- what the cloud has -----------------------------------------------------------------------

    async def _refresh(self, operator: Operator) -> None:
        views = {v["registration"]["serial"]: v
                 for v in await operator.pages("listPrinters", "printers")}
        for printer in self.printers:
            printer.cloud = views.get(printer.fleet["serial"], printer.cloud)

    async def _receive(self, operator: Operator) -> list[tuple[PrinterView, dict[str, Any]]]:
        """The entries received since the last look, per printer, the latest data merged."""
        new = []
        for printer in self.printers:
            if printer.cloud is None or printer.cloud["last_status_at"] is None \
                    or printer.cloud["last_status_at"] == printer.received_until:
                continue
            params = {"since": printer.received_until} if printer.received_until else None
            entries = await operator.pages("listReceivedStatuses", "statuses",
                                           path={"printer_id": printer.cloud["printer_id"]},
                                           params=params)
            for entry in entries:
                if entry["entry_id"] in printer.seen_entries:
                    continue
                printer.seen_entries.add(entry["entry_id"])
                printer.data.update(entry["data"])
                new.append((printer, entry))
            if entries:
                printer.received_until = max(e["received_at"] for e in entries)
        return new

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
            await self._refresh(operator)
            for printer in self.printers:
                for service_id, state in printer.services().items():
                    if before[printer.fleet["serial"]].get(service_id) != state:
                        self.console.print(escape(f"{datetime.now():%H:%M:%S} "
                                                  f"{printer.label}: {service_id} {state}"))
            for printer, entry in await self._receive(operator):
                if entry["event"] != "periodic":
                    self.console.print(_event_line(printer, entry))

    # -- the end ----------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the gateway first (it finishes its uploads), then the cloud and the fleet;
        remove the temporary directory."""
        gateway = [c for c in self.children if c.name == "the gateway"]
        for child in gateway:
            await child.stop()
        await asyncio.gather(*(c.stop() for c in self.children if c not in gateway))
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
