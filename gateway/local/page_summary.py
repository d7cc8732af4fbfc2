"""The summary at the top of the status page: printers by state, what needs a look, alerts, low
and soon-empty supplies (the forecasts), errors — each a link to the filtered list — computed
from the whole fleet of a `FleetView.snapshot()`, whatever page is shown."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from gateway.local.fleet_query import PROBLEM, SOON_DAYS, FleetQuery, rank, soon_empty
from gateway.local.live_view import STATES


@dataclass(frozen=True)
class Summary:
    devices: int
    by_state: dict[str, int]
    """Every state with at least one device, in `STATES` order."""
    problems: int
    """Devices that need a look (`fleet_query.rank` 0 or 1)."""
    with_alerts: int
    alerts: int
    low_supplies: int
    low_devices: int
    soon_empty: int
    """Supplies whose forecast says empty within `SOON_DAYS`."""
    errors: int

    def to_json(self) -> dict[str, Any]:
        return {"devices": self.devices, "by_state": self.by_state, "problems": self.problems,
                "with_alerts": self.with_alerts, "alerts": self.alerts,
                "low_supplies": self.low_supplies, "low_devices": self.low_devices,
                "soon_empty": self.soon_empty, "errors": self.errors}


def summarise(snapshot: Mapping[str, Any]) -> Summary:
    devices = snapshot["devices"]
    states = Counter(d["state"] for d in devices)
    return Summary(
        devices=len(devices),
        by_state={s: states[s] for s in (*STATES, *sorted(set(states) - set(STATES)))
                  if states[s]},
        problems=sum(rank(d) <= 1 for d in devices),
        with_alerts=sum(bool(d["alerts"]) for d in devices),
        alerts=sum(len(d["alerts"]) for d in devices),
        low_supplies=sum(s["low"] for d in devices for s in d["supplies"]),
        low_devices=sum(any(s["low"] for s in d["supplies"]) for d in devices),
        soon_empty=sum(soon_empty(s) for d in devices for s in d["supplies"]),
        errors=len(snapshot["errors"]))


def render_summary(summary: Summary) -> str:
    """The summary as a row of tiles, each linking to the devices it counts."""
    base = FleetQuery()
    tiles = [("devices", "Printers", summary.devices, "", base.params()),
             ("problems", "Need a look", summary.problems, "bad" if summary.problems else "",
              base.params(state=PROBLEM)),
             ("alerts", "With alerts", summary.with_alerts, "warn" if summary.alerts else "",
              base.params(alerts=True)),
             ("low", "Low supplies", summary.low_supplies,
              "warn" if summary.low_supplies else "", base.params(low=True, sort="supply")),
             ("soon-empty", f"Empty ≤ {SOON_DAYS} days", summary.soon_empty,
              "warn" if summary.soon_empty else "", base.params(soon=True, sort="supply")),
             ("errors", "Errors", summary.errors, "bad" if summary.errors else "", "#errors")]
    items = "".join(
        f'<li class="tile {tone}" id="summary-{key}"><a href="/{escape(link)}">'
        f'<span class="count">{count}</span><span class="what">{escape(label)}</span></a></li>'
        for key, label, count, tone, link in tiles)
    states = "".join(
        f'<li><a href="/{escape(base.params(state=state))}" class="state state-{escape(state)}" '
        f'data-state="{escape(state)}">{escape(state)} <b>{count}</b></a></li>'
        for state, count in summary.by_state.items())
    return (f'<section class="summary" id="summary"><ul class="tiles">{items}</ul>'
            f'<ul class="by-state" id="by-state">{states}</ul></section>')
