"""`printgw demo`: the virtual fleet on loopback, read by the gateway, in one process tree.

The fleet runs as a child process (`printgw-sim`), so the gateway talks to it over the wire exactly
as it would to real printers.  Everything stops, and nothing is left behind, on Ctrl-C, SIGTERM or
when `--duration` is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import aiohttp
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from gateway.model import DeviceStatus
from gateway.reader import DeviceReader, DeviceUnreachable, IppEndpoint
from protocols.snmp.client import SnmpCredentials, SnmpTarget


@dataclass(frozen=True)
class DemoOptions:
    count: int = 10
    first_ip: str = "127.0.10.1"
    snmp_port: int = 10161
    ipp_port: int = 10631
    control_port: int = 10080
    duration: float | None = None
    interval: float = 10.0
    concurrency: int = 50


_FLEET_START_SECONDS = 60


async def _wait_for_fleet(url: str, fleet: asyncio.subprocess.Process) -> list[dict]:
    deadline = time.monotonic() + _FLEET_START_SECONDS
    async with aiohttp.ClientSession() as session:
        while True:
            if fleet.returncode is not None:
                raise RuntimeError(f"the virtual fleet exited with status {fleet.returncode}")
            try:
                async with session.get(f"{url}/printers") as response:
                    if response.status == 200:
                        return list(await response.json())
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the virtual fleet did not start within a minute")
            await asyncio.sleep(0.2)


async def _poll_fleet(reader: DeviceReader, addresses: list[str], options: DemoOptions,
                      progress: Progress | None = None) -> dict[str, DeviceStatus | str]:
    limit = asyncio.Semaphore(options.concurrency)
    task = progress.add_task("Reading printers", total=len(addresses)) if progress else None

    async def one(address: str) -> tuple[str, DeviceStatus | str]:
        async with limit:
            snmp = SnmpTarget(address, options.snmp_port, SnmpCredentials(), timeout=2, retries=1)
            ipp = IppEndpoint.for_host(address, options.ipp_port, timeout=5)
            try:
                result: DeviceStatus | str = await reader.read(address, snmp, ipp)
            except DeviceUnreachable as exc:
                result = str(exc)
        if progress is not None and task is not None:
            progress.advance(task)
        return address, result

    return dict(await asyncio.gather(*(one(address) for address in addresses)))


def _fleet_table(results: dict[str, DeviceStatus | str]) -> Table:
    table = Table(title="The fleet, as the gateway reads it", title_justify="left")
    for column in ("Address", "Manufacturer", "Model", "Serial", "State", "Pages",
                   "Lowest supply"):
        table.add_column(column)
    for address, status in results.items():
        if isinstance(status, str):
            table.add_row(address, "", "", "", "[red]unreachable[/red]", "", "")
            continue
        known = [s for s in status.supplies if s.level_percent is not None
                 and s.supply_class != "filled"]
        lowest = min(known, key=lambda s: s.level_percent or 0, default=None)
        state = status.state.printer_state
        if status.state.reasons:
            state += f" ({', '.join(status.state.reasons)})"
        table.add_row(
            address, status.identity.manufacturer or "", status.identity.model or "",
            status.identity.serial or "", state,
            "" if status.counters.total is None else f"{status.counters.total:,}",
            f"{lowest.description} {lowest.level_percent} %" if lowest else "")
    return table


async def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    console = console or Console()
    control = f"http://127.0.0.1:{options.control_port}"
    command = [sys.executable, "-m", "simulator.cli", "--count", str(options.count),
               "--first-ip", options.first_ip, "--snmp-port", str(options.snmp_port),
               "--ipp-port", str(options.ipp_port), "--control-port", str(options.control_port),
               "--seed", "1"]
    console.print(f"Starting {options.count} virtual printers from {options.first_ip} "
                  f"(SNMP port {options.snmp_port}, IPP port {options.ipp_port})…")
    fleet = await asyncio.create_subprocess_exec(*command, stdin=subprocess.DEVNULL)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        printers = await _wait_for_fleet(control, fleet)
        addresses = [printer["ip"] for printer in printers]
        async with DeviceReader() as reader:
            with Progress(console=console, transient=True) as progress:
                started = time.perf_counter()
                results = await _poll_fleet(reader, addresses, options, progress)
                elapsed = time.perf_counter() - started
            console.print(_fleet_table(results))
            answered = sum(1 for r in results.values() if not isinstance(r, str))
            console.print(f"{answered} of {len(addresses)} printers read in {elapsed:.2f} s.")
            console.print(f"Make things happen through the fleet's control API: {control}/printers"
                          f"\n  e.g. curl -X POST {control}/printers/0/print "
                          "-d '{\"pages\": 500, \"color\": true}'")
            console.print("Press Ctrl-C to stop." if options.duration is None
                          else f"Running for {options.duration:g} s.")
            deadline = None if options.duration is None else time.monotonic() + options.duration
            while not stop.is_set():
                wait = options.interval if deadline is None else min(
                    options.interval, deadline - time.monotonic())
                if wait <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                    break
                before = results
                results = await _poll_fleet(reader, addresses, options)
                _print_changes(console, before, results)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if fleet.returncode is None:
            fleet.terminate()
            try:
                await asyncio.wait_for(fleet.wait(), 10)
            except TimeoutError:
                fleet.kill()
                await fleet.wait()
        console.print("Virtual fleet stopped.")


def _print_changes(console: Console, before: dict[str, DeviceStatus | str],
                   after: dict[str, DeviceStatus | str]) -> None:
    """One line per printer whose pages, state or supply levels changed since the last poll."""
    for address, now in after.items():
        then = before.get(address)
        if isinstance(now, str) or isinstance(then, str) or then is None:
            if isinstance(now, str) != isinstance(then, str):
                console.print(f"{address}: {'unreachable' if isinstance(now, str) else 'back'}")
            continue
        changes = []
        if now.counters.total != then.counters.total:
            changes.append(f"pages {then.counters.total} → {now.counters.total}")
        if now.state.printer_state != then.state.printer_state or \
                now.state.reasons != then.state.reasons:
            changes.append(f"state {now.state.printer_state} {', '.join(now.state.reasons)}")
        levels_then = {s.index: s.level_percent for s in then.supplies}
        for supply in now.supplies:
            if levels_then.get(supply.index) != supply.level_percent:
                changes.append(f"{supply.description} {levels_then.get(supply.index)} → "
                               f"{supply.level_percent} %")
        if changes:
            console.print(f"{address} ({now.identity.serial}): {'; '.join(changes)}")
