"""`printgw status` in a terminal: the fleet snapshot (`FleetView.snapshot()` or the daemon's
`/api/status`) as a header, a table of devices and the errors.  Its own module so that the
daemon never loads rich."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from gateway.local.forecast_text import forecast_words
from gateway.local.live_view import link_text, relative


def print_fleet(snapshot: Mapping[str, Any], console: Console) -> None:
    """`printgw status`: the snapshot as a header, a table of devices and the errors."""
    now = datetime.fromisoformat(snapshot["generated_at"])
    daemon, cloud, outbox = snapshot["daemon"], snapshot["cloud"], snapshot["outbox"]
    where = f" (status page {daemon['status_page']})" if daemon["status_page"] else ""
    console.print(f"[bold]{escape(snapshot['gateway']['name'])}[/bold]: daemon "
                  + escape(f"running{where}" if daemon["running"] else "not running"),
                  highlight=False)
    sync = f", last sync {relative(cloud['last_sync'], now)}" if cloud["configured"] else ""
    oldest = (f", oldest queued {relative(outbox['oldest_queued_at'], now)}"
              if outbox["oldest_queued_at"] else "")
    states = ", ".join(f"{n} {s}" for s, n in snapshot["summary"]["by_state"].items())
    for line in (f"cloud: {link_text(cloud)}{sync}",
                 f"outbox: {outbox['depth']} entries{oldest}; {outbox['delivered']} delivered, "
                 f"{outbox['rejected']} rejected, {outbox['dropped']} dropped",
                 f"devices: {snapshot['summary']['devices']}"
                 + (f" ({states})" if states else "")):
        console.print(line, markup=False, highlight=False)
    table = Table(show_lines=False)
    for column in ("ID", "Name", "Model", "Serial", "Address", "State", "Lowest supply",
                   "Alerts", "Services", "Last reading", "Last upload"):
        table.add_column(column, overflow="fold")
    for d in snapshot["devices"]:
        levels = [s for s in d["supplies"] if s["level_percent"] is not None]
        lowest = min(levels, key=lambda s: s["level_percent"], default=None)
        upload = d["last_upload"]
        cells = (
            str(d["id"]), d["name"], d["model"] or "", d["serial"] or "", d["address"] or "",
            d["state"], "" if lowest is None else
            f"{lowest['description'] or lowest['index']} {lowest['level_percent']} %"
            + (" (low)" if lowest["low"] else "")
            + (f" ({forecast_words(lowest)})" if forecast_words(lowest) else ""),
            str(len(d["alerts"])), services_text(d["services"]), relative(d["read_at"], now),
            (relative(upload["at"], now) if upload else "never")
            + (f" ({d['pending_uploads']} pending)" if d["pending_uploads"] else ""))
        table.add_row(*(Text(cell) for cell in cells))  # device text is not markup
    console.print(table)
    for error in snapshot["errors"]:
        device = f" device {error['device_id']}" if error["device_id"] is not None else ""
        console.print(f"[red]error[/red] {escape(error['source'] + device)}: "
                      f"{escape(error['message'])}", highlight=False)


def services_text(services: list[Mapping[str, Any]]) -> str:
    """One line per service: its activation state and, where it differs, FIG. 10's reason."""
    lines = []
    for service in services:
        state = service["activation_state"] or "no application"
        reason = service.get("reason")
        lines.append(f"{service['service_id']}: {state}"
                     + (f" ({reason})" if reason and reason != state else ""))
    return "\n".join(lines)
