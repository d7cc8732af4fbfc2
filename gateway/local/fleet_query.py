"""Search, filters, sorting and paging of the fleet for the status page (`/?…`) and
`/api/devices?…`: the same query parameters for both (docs/status-page.md).

Pure: it works on the devices of a `FleetView.snapshot()` and the config's site rules, so the
page and the JSON give the same rows for the same URL.  Parameters a person could mistype are
forgiven (an unknown sort is the default, a page beyond the last is the last); nothing here
raises on input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from gateway.local.live_view import STATES
from gateway.settings.sites import SiteRule, site_for

PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_TEXT = 200
"""A search text or filter value is cut to this many characters."""
SORTS = ("problems", "name", "model", "state", "supply", "reading")
"""`problems` (the default): outages and errors first, then warnings, then the quiet ones, each
by its lowest supply; `supply`: lowest supply first; `reading`: oldest last reading first."""
PROBLEM = "problem"
"""The `state` filter value for every device that needs a look (`rank` 0 or 1)."""
OUTAGE_STATES = frozenset({"stopped", "offline", "unreachable", "missing"})
QUIET_STATES = frozenset({"asleep", "not-read", "unknown"})
NO_LEVEL = 101
"""The sort key of a device without a supply level: after every level."""
SOON_DAYS = 14
"""A supply is soon empty when its forecast says it is empty within this many days."""


@dataclass(frozen=True)
class FleetQuery:
    """What the URL asks for; the defaults show the first page, problems first."""

    text: str = ""
    """`q`: every word must occur in the serial, name, model, address, location or site."""
    state: str = ""
    """One of `live_view.STATES`, or `problem`."""
    model: str = ""
    site: str = ""
    low: bool = False
    """Only devices with a supply at or below its low threshold."""
    alerts: bool = False
    """Only devices with alerts."""
    soon: bool = False
    """Only devices with a supply the forecast says is empty within `SOON_DAYS`."""
    sort: str = SORTS[0]
    descending: bool = False
    """`order=desc`: the sort reversed."""
    page: int = 1
    per_page: int = PER_PAGE

    def params(self, **changes: Any) -> str:
        """This query (with `changes`) as a URL query string, defaults left out: `?…` or ""."""
        query = replace(self, **changes)
        pairs = [("q", query.text), ("state", query.state), ("model", query.model),
                 ("site", query.site), ("low", "1" if query.low else ""),
                 ("alerts", "1" if query.alerts else ""), ("soon", "1" if query.soon else ""),
                 ("sort", "" if query.sort == SORTS[0] else query.sort),
                 ("order", "desc" if query.descending else ""),
                 ("page", "" if query.page == 1 else str(query.page)),
                 ("per_page", "" if query.per_page == PER_PAGE else str(query.per_page))]
        text = urlencode([(k, v) for k, v in pairs if v])
        return f"?{text}" if text else ""

    def to_json(self) -> dict[str, Any]:
        return {"q": self.text, "state": self.state, "model": self.model, "site": self.site,
                "low": self.low, "alerts": self.alerts, "soon": self.soon, "sort": self.sort,
                "order": "desc" if self.descending else "asc", "page": self.page,
                "per_page": self.per_page}


@dataclass(frozen=True)
class FleetPage:
    """One page of the devices a query selects."""

    query: FleetQuery
    devices: list[dict[str, Any]]
    """The snapshot's device documents on this page, in order."""
    matched: int
    """Devices the search and filters select (on every page)."""
    fleet: int
    """Devices in the fleet."""
    pages: int
    sites: Mapping[int, str] = field(default_factory=dict)
    """Device id → its site's name ("" for none), for every device of the fleet."""
    models: list[str] = field(default_factory=list)
    """Every model of the fleet, for the filter's choices."""
    site_names: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"query": self.query.to_json(), "matched": self.matched, "fleet": self.fleet,
                "page": self.query.page, "pages": self.pages,
                "per_page": self.query.per_page, "models": self.models,
                "sites": self.site_names,
                "devices": [{**d, "site": self.sites.get(d["id"], "")} for d in self.devices]}


def parse_query(params: Mapping[str, str]) -> FleetQuery:
    """The query of a URL's parameters (`q`, `state`, `model`, `site`, `low`, `alerts`, `soon`,
    `sort`, `order`, `page`, `per_page`)."""
    def text(key: str) -> str:
        return " ".join(str(params.get(key, "")).split())[:MAX_TEXT]

    state = text("state")
    sort = text("sort")
    return FleetQuery(
        text=text("q"), state=state if state in (*STATES, PROBLEM) else "",
        model=text("model"), site=text("site"), low=_flag(params.get("low")),
        alerts=_flag(params.get("alerts")), soon=_flag(params.get("soon")),
        sort=sort if sort in SORTS else SORTS[0],
        descending=text("order") == "desc", page=_number(params.get("page"), 1, 10**9, 1),
        per_page=_number(params.get("per_page"), 1, MAX_PER_PAGE, PER_PAGE))


def select(devices: Sequence[Mapping[str, Any]], query: FleetQuery,
           rules: Sequence[SiteRule] = ()) -> FleetPage:
    """The page of `devices` (a snapshot's) that `query` asks for; `query.page` is brought into
    range (an empty result has one empty page)."""
    sites = {d["id"]: site_name(rules, d) for d in devices}
    matching = [d for d in devices if _matches(d, sites[d["id"]], query)]
    matching.sort(key=_SORT_KEYS[query.sort], reverse=query.descending)
    pages = max(1, -(-len(matching) // query.per_page))
    query = replace(query, page=min(query.page, pages))
    start = (query.page - 1) * query.per_page
    return FleetPage(
        query=query, devices=[dict(d) for d in matching[start:start + query.per_page]],
        matched=len(matching), fleet=len(devices), pages=pages, sites=sites,
        models=sorted({d["model"] for d in devices if d["model"]}, key=str.casefold),
        site_names=sorted({s for s in sites.values() if s}, key=str.casefold))


def site_name(rules: Sequence[SiteRule], device: Mapping[str, Any]) -> str:
    """The name of the `[[gateway.sites]]` rule that places the device, "" when none does."""
    if not rules:
        return ""
    site = site_for(rules, "", "", (device["address"], device["name"]))
    return site.time_zone_from or site.shipping_destination_from or ""


def rank(device: Mapping[str, Any]) -> int:
    """How urgently a device needs a look: 0 an outage, an empty supply or a critical alert;
    1 a warning (an alert, a low supply, a poll error, a refused registration); 2 asleep or not
    read; 3 fine."""
    severities = {(a.get("severity") or "").lower() for a in device["alerts"]}
    empty = any(s["level_percent"] == 0 and s.get("class") != "filled"
                for s in device["supplies"])
    if device["state"] in OUTAGE_STATES or empty or "critical" in severities:
        return 0
    if (device["alerts"] or any(s["low"] for s in device["supplies"]) or device["poll_error"]
            or device.get("registration_refused")):
        return 1
    return 2 if device["state"] in QUIET_STATES else 3


def lowest(device: Mapping[str, Any]) -> int:
    """The lowest level of a supply that is used up (not a receptacle), `NO_LEVEL` with none."""
    return min((s["level_percent"] for s in device["supplies"]
                if s["level_percent"] is not None and s.get("class") != "filled"),
               default=NO_LEVEL)


def soon_empty(supply: Mapping[str, Any]) -> bool:
    """The supply's forecast says it is empty within `SOON_DAYS` (a receptacle: full)."""
    days = (supply.get("forecast") or {}).get("days_to_empty")
    return days is not None and days <= SOON_DAYS and supply.get("class") != "filled"


def _matches(device: Mapping[str, Any], site: str, query: FleetQuery) -> bool:
    if query.state == PROBLEM:
        if rank(device) > 1:
            return False
    elif query.state and device["state"] != query.state:
        return False
    if query.model and (device["model"] or "") != query.model:
        return False
    if query.site and site != query.site:
        return False
    if query.low and not any(s["low"] for s in device["supplies"]):
        return False
    if query.alerts and not device["alerts"]:
        return False
    if query.soon and not any(soon_empty(s) for s in device["supplies"]):
        return False
    if not query.text:
        return True
    haystack = " ".join(str(device[key] or "") for key in
                        ("serial", "name", "manufacturer", "model", "address", "location"))
    haystack = f"{haystack} {site}".casefold()
    return all(word in haystack for word in query.text.casefold().split())


def _name(device: Mapping[str, Any]) -> tuple[str, int]:
    return device["name"].casefold(), device["id"]


_SORT_KEYS: Mapping[str, Any] = {
    "problems": lambda d: (rank(d), lowest(d), *_name(d)),
    "name": _name,
    "model": lambda d: ((d["model"] or "").casefold(), *_name(d)),
    "state": lambda d: (STATES.index(d["state"]) if d["state"] in STATES else len(STATES),
                        *_name(d)),
    "supply": lambda d: (lowest(d), *_name(d)),
    "reading": lambda d: (d["read_at"] or "", *_name(d)),
}


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _number(value: str | None, low: int, high: int, default: int) -> int:
    try:
        return max(low, min(high, int(str(value).strip())))
    except ValueError:
        return default
