"""What `printgw demo` prints about the fleet: the table of the printers as the cloud received them
(state, supply levels, active services, last upload) and one line per event or activation change
(rich markup, every value from the devices escaped)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.markup import escape
from rich.table import Table

from gateway.demo.cloud import PrinterView

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


def event_line(printer: PrinterView, entry: dict[str, Any]) -> str:
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


def activation_line(printer: PrinterView, service_id: str, state: str) -> str:
    """One line for a service whose activation state has changed, stamped with the time now."""
    return escape(f"{datetime.now():%H:%M:%S} {printer.label}: {service_id} {state}")
