"""`printgw discover` output: a progress bar while sweeping, then a table or JSON."""

from __future__ import annotations

import json
import sys
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gateway.fleet.discovery import DiscoveryReport
from gateway.fleet.inventory import Device


class DiscoveryProgress:
    """One progress bar per phase (each subnet's sweep, the identification), on stderr."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                                  transient=False)
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> DiscoveryProgress:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def __call__(self, phase: str, done: int, total: int) -> None:
        task = self._tasks.get(phase)
        if task is None:
            task = self._tasks[phase] = self._progress.add_task(phase, total=total)
        self._progress.update(task, completed=done, total=total)


def print_table(report: DiscoveryReport, devices: list[Device], console: Console) -> None:
    table = Table(title=f"{len(devices)} device(s)", title_justify="left")
    for column in ("address", "manufacturer", "model", "serial", "found by", "protocols",
                   "notes"):
        table.add_column(column, overflow="fold")
    for device in devices:
        table.add_row(", ".join(device.addresses) or "-", device.manufacturer or "-",
                      device.model or "-", device.serial or "[yellow]unreadable[/]",
                      ", ".join(device.sources), ", ".join(device.protocols) or "-",
                      ", ".join(f for f in device.flags if f != "serial-unreadable"))
    console.print(table)
    summary = (f"{report.swept} address(es) swept, {report.answered} SNMP agent(s) answered, "
               f"{report.mdns_services} mDNS service(s), {report.excluded} excluded, "
               f"{report.seconds:.1f} s")
    console.print(summary, style="dim")
    for device in report.missing:
        console.print(f"missing: {device.manufacturer or ''} {device.model or ''} "
                      f"serial {device.serial or '-'} (last seen at "
                      f"{', '.join(device.addresses) or '?'})", style="yellow")
    for error in report.errors:
        console.print(f"error: {error}", style="red")


def write_json(devices: list[Device], out: IO[str] = sys.stdout) -> None:
    json.dump([d.to_json() for d in devices], out, indent=2, ensure_ascii=False)
    out.write("\n")
