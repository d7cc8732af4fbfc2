"""A readable terminal report of one `DeviceStatus`: identity, counters, state, supplies as bars."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from gateway.device.model import DeviceStatus, Supply

_BAR_WIDTH = 20
_BAR_STYLE = {
    "black": "grey70", "photo-black": "grey70", "matte-black": "grey70", "cyan": "cyan",
    "light-cyan": "bright_cyan", "magenta": "magenta", "light-magenta": "bright_magenta",
    "yellow": "yellow", "gray": "grey50", "light-gray": "grey85", "red": "red",
    "green": "green", "blue": "blue", "orange": "dark_orange",
}


def _level_cell(supply: Supply) -> Text:
    if supply.level_percent is None:
        label = {"some-remaining": "some remaining", "unrestricted": "unrestricted",
                 "unavailable": "unavailable"}.get(supply.level_state, "unknown")
        return Text(label, style="dim")
    filled = round(supply.level_percent * _BAR_WIDTH / 100)
    style = _BAR_STYLE.get(supply.color or "", "white")
    bar = Text("█" * filled, style=style)
    bar.append("░" * (_BAR_WIDTH - filled), style="grey30")
    bar.append(f" {supply.level_percent:3d} %")
    if supply.over_capacity:
        bar.append(" (clamped)", style="yellow")
    return bar


def render(status: DeviceStatus) -> Group:
    ident = status.identity
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    rows = [
        ("Host", status.host),
        ("Manufacturer", ident.manufacturer),
        ("Model", ident.model),
        ("Serial", ident.serial),
        ("Firmware", ident.firmware),
        ("MAC", ident.mac),
        ("UUID", ident.uuid),
        ("Location", ident.location),
        ("State", status.state.printer_state
         + (f" ({', '.join(status.state.reasons)})" if status.state.reasons else "")),
        ("Message", status.state.message),
        ("Pages", None if status.counters.total is None else f"{status.counters.total:,}"),
        ("Answered", ", ".join(f"{p}: {'yes' if ok else 'no'}"
                               for p, ok in sorted(status.reachable.items()))),
    ]
    for label, value in rows:
        if value:
            facts.add_row(label, str(value))

    supplies = Table(title="Supplies", title_justify="left", expand=False)
    for column in ("Index", "Description", "Kind", "Colour", "Level"):
        supplies.add_column(column)
    for supply in status.supplies:
        supplies.add_row(supply.index, supply.description or "", supply.kind or "",
                         supply.color or "", _level_cell(supply))

    parts: list[object] = [facts, supplies]
    if status.state.alerts:
        alerts = Table(title="Alerts", title_justify="left")
        for column in ("Severity", "Group", "Code", "Description"):
            alerts.add_column(column)
        for alert in status.state.alerts:
            alerts.add_row(alert.severity or "", alert.group or "", alert.code or "",
                           alert.description or "")
        parts.append(alerts)
    if status.problems:
        problems = Text("Problems:\n", style="bold yellow")
        for problem in status.problems:
            problems.append(f"  {problem.source} {problem.where}: {problem.message}\n")
        parts.append(problems)
    return Group(*parts)


def print_report(status: DeviceStatus, console: Console | None = None) -> None:
    (console or Console()).print(render(status))
