"""The status page's HTML: the fleet page (summary, search and filters, one compact row per
device of a page) and one device's page with its level chart, rendered from the `/api/status`
document (`FleetView.snapshot()`).  Plain server-rendered HTML and CSS, no JavaScript; every value
a device or the cloud sent is escaped."""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from datetime import datetime
from html import escape
from typing import Any

from gateway.local.fleet_controls import render_form, render_pager, sort_head
from gateway.local.fleet_query import FleetPage, FleetQuery, select
from gateway.local.forecast_text import forecast_title, forecast_words
from gateway.local.live_view import LOW_PERCENT, link_text, relative
from gateway.local.page_summary import render_summary, summarise

REFRESH = 30
"""Seconds between two reloads of a page by the browser."""
BAR_COLOURS: Mapping[str, str] = {"cyan": "#00a3e0", "magenta": "#d6007e", "yellow": "#f2c500",
                                  "black": "#202124", "other": "#8d949e"}
"""The bar colour of each supply colour family (`live_view.FAMILIES`)."""


_CSS = """
:root{--ok:#137333;--bad:#b3261e;--warn:#9a6700;--muted:#5f6368;--line:#e3e6ea}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#202124;background:#f5f6f8}
a{color:#0b57d0}
header.top{background:#fff;border-bottom:1px solid var(--line);padding:.75rem 1rem}
header.top h1{margin:0 0 .3rem;font-size:1.15rem}
header.top h1 small{color:var(--muted);font-weight:400;margin-left:.4rem}
.facts{display:flex;flex-wrap:wrap;gap:.2rem 1.5rem;margin:0;padding:0;list-style:none}
.facts b{color:var(--muted);font-weight:600;margin-right:.35rem}
.ok{color:var(--ok)}.bad{color:var(--bad)}.off{color:var(--muted)}
ul.errors{margin:.5rem 0 0;padding-left:1.2rem;color:var(--bad);font-size:.9em}
main{padding:1rem;max-width:100rem}
table{width:100%;border-collapse:collapse;background:#fff}
th,td{padding:.5rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-size:.8em;text-transform:uppercase;color:var(--muted)}
.sub{color:var(--muted);font-size:.85em}
.state{display:inline-block;padding:0 .45rem;border-radius:.7rem;background:#eceff1}
.state-idle,.state-processing,.state-warmup{background:#e3f4e8;color:var(--ok)}
.state-stopped,.state-offline,.state-unreachable{background:#fce4e2;color:var(--bad)}
ul.supplies,ul.plain{list-style:none;margin:0;padding:0}
.supply{display:grid;grid-template-columns:minmax(7rem,1fr) minmax(5rem,8rem) 4.5rem;
gap:.45rem;align-items:center;font-size:.85em;min-width:16rem}
.bar{position:relative;display:block;height:.8rem;background:#eef0f3;border:1px solid #c4c9d0;
border-radius:2px;overflow:hidden}
.fill{display:block;height:100%}
.tick{position:absolute;top:0;bottom:0;width:1px;background:var(--bad)}
.low .pct{color:var(--bad);font-weight:600}
.forecast{grid-column:2/-1;margin-top:-.35rem;color:var(--muted);font-size:.9em}
.mark{font-size:.75em;color:#fff;background:var(--bad);border-radius:.3rem;padding:0 .25rem}
.alert{color:var(--warn)}
.svc-active{color:var(--ok)}
.facts-table{max-width:48rem}.facts-table th{width:11rem}
.device-supplies{max-width:40rem}
.chart{max-width:48rem;background:#fff;border:1px solid var(--line)}
.chart svg{display:block;width:100%;height:auto}
.legend{display:flex;flex-wrap:wrap;gap:.2rem 1rem;list-style:none;padding:0;font-size:.85em}
.swatch{display:inline-block;width:1.2rem;height:.3rem;vertical-align:middle;margin-right:.3rem}
.summary{margin:0 0 .75rem}
.tiles,.by-state{display:flex;flex-wrap:wrap;gap:.5rem;list-style:none;margin:0 0 .5rem;padding:0}
.tile a{display:block;min-width:8rem;padding:.4rem .7rem;background:#fff;border:1px solid
var(--line);border-radius:.4rem;text-decoration:none;color:inherit}
.tile .count{display:block;font-size:1.4rem;font-weight:600}
.tile .what{color:var(--muted);font-size:.85em}
.tile.bad .count{color:var(--bad)}.tile.warn .count{color:var(--warn)}
.by-state a{text-decoration:none}
.filters{display:flex;flex-wrap:wrap;gap:.4rem .8rem;align-items:center;margin:0 0 .5rem}
.filters input[type=search]{min-width:16rem;padding:.25rem .4rem}
.pager{margin:.4rem 0;display:flex;gap:.8rem;flex-wrap:wrap;font-size:.9em}
th a{color:inherit;text-decoration:none}
table.fleet td{padding:.25rem .5rem;white-space:nowrap;vertical-align:middle}
ul.compact{display:flex;gap:.3rem;list-style:none;margin:0;padding:0}
.compact .supply{display:flex;min-width:0;gap:.15rem;font-size:.75em}
.compact .bar{width:2.6rem;height:.6rem}
.compact .pct{min-width:1.5rem}
.alerts{font-weight:600}
.fleet .contract,.fleet .panel{display:inline;margin-left:.5rem}
@media (max-width:760px){
 table.fleet thead{display:none}
 table.fleet,table.fleet tbody,table.fleet tr,table.fleet td{display:block;width:100%}
 table.fleet tr{border-bottom:3px solid var(--line);padding:.4rem 0}
 table.fleet td{border:0;padding:.2rem .75rem}
 table.fleet td::before{content:attr(data-label);display:block;font-size:.7em;
 text-transform:uppercase;color:var(--muted)}
 .supply{min-width:0}
 table.fleet td{display:inline-block;width:auto}
 table.fleet td::before{content:none}
 table.fleet td:nth-child(2){display:block}
}
"""

_COLUMNS = (("State", "state"), ("Printer", "name"), ("Address", ""), ("Lowest supplies", "supply"),
            ("Alerts", ""), ("Last reading", "reading"))
"""The fleet table's columns: (head, the sort its head links to, "" for none)."""
ROW_SUPPLIES = 4
"""Supplies a fleet row shows (the lowest); the device page shows all."""
MAX_ERRORS = 10
"""Errors listed in the header; the others are counted (the summary counts them all)."""


def _document(title: str, snapshot: Mapping[str, Any], zone: zoneinfo.ZoneInfo,
              body: str, refresh_to: str = "") -> str:
    """The page; the browser reloads it (`refresh_to`: the URL to reload, e.g. with its query)."""
    target = f";url={escape(refresh_to)}" if refresh_to else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{REFRESH}{target}">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"{_header(snapshot, zone)}<main>{body}</main></body></html>\n")


def _header(snapshot: Mapping[str, Any], zone: zoneinfo.ZoneInfo) -> str:
    now = datetime.fromisoformat(snapshot["generated_at"])
    cloud, outbox, summary = snapshot["cloud"], snapshot["outbox"], snapshot["summary"]
    link_class = ("off" if not cloud["configured"] else "ok" if cloud["connected"] else "bad")
    facts = [f'<li id="cloud-link" class="{link_class}"><b>Cloud</b>'
             f"{escape(link_text(cloud))}</li>"]
    if cloud["configured"]:
        facts.append(f"<li><b>Last sync</b>{_time(cloud['last_sync'], now, zone)}</li>")
    if cloud["last_error"]:
        facts.append(f'<li id="cloud-error"><b>Last cloud error</b>{escape(cloud["last_error"])}'
                     "</li>")
    oldest = outbox["oldest_queued_at"]
    facts.append(f'<li id="outbox"><b>Outbox</b><span id="outbox-depth">{outbox["depth"]}</span>'
                 f" waiting{', oldest ' + _time(oldest, now, zone) if oldest else ''}; "
                 f"{outbox['delivered']} delivered, {outbox['rejected']} rejected</li>")
    states = ", ".join(f"{n} {escape(s)}" for s, n in summary["by_state"].items())
    facts.append(f'<li id="devices"><b>Devices</b>{summary["devices"]}'
                 f"{' (' + states + ')' if states else ''}</li>")
    facts.append(f"<li><b>Updated</b>{_time(snapshot['generated_at'], now, zone)}</li>")
    errors = "".join(
        f"<li>{escape(e['source'])}"
        f"{' device ' + str(e['device_id']) if e['device_id'] is not None else ''}: "
        f"{escape(e['message'])}</li>" for e in snapshot["errors"][:MAX_ERRORS])
    more = len(snapshot["errors"]) - MAX_ERRORS
    if more > 0:
        errors += f'<li class="more">and {more} more (<a href="/api/status">all</a>)</li>'
    return ('<header class="top"><h1><a href="/">printgw</a>'
            f"<small>{escape(snapshot['gateway']['name'])}</small></h1>"
            f'<ul class="facts">{"".join(facts)}</ul>'
            f'{"<ul class=errors id=errors>" + errors + "</ul>" if errors else ""}</header>')


def render_fleet(snapshot: Mapping[str, Any], zone: zoneinfo.ZoneInfo,
                 page: FleetPage | None = None) -> str:
    """The fleet page of a `FleetView.snapshot()`: the summary, the search and filter form, and
    one compact row per device of `page` (default: the first page, problems first)."""
    page = page or select(snapshot["devices"], FleetQuery())
    now = datetime.fromisoformat(snapshot["generated_at"])
    q = page.query
    head = "".join(sort_head(q, sort, label) if sort else f"<th>{escape(label)}</th>"
                   for label, sort in _COLUMNS)
    rows = "".join(_fleet_row(d, now, zone) for d in page.devices)
    if not rows:
        empty = "No devices found yet." if not page.fleet else "No device matches."
        rows = f'<tr><td colspan="{len(_COLUMNS)}">{empty}</td></tr>'
    pager = render_pager(page)
    body = (f"{render_summary(summarise(snapshot))}{render_form(page)}{pager}"
            f'<table class="fleet" id="fleet"><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table>{pager}")
    return _document(f"printgw — {snapshot['gateway']['name']}", snapshot, zone, body,
                     refresh_to="/" + q.params())


def _fleet_row(d: Mapping[str, Any], now: datetime, zone: zoneinfo.ZoneInfo) -> str:
    """One line: state, name and model, address, the lowest supplies, alerts, last reading."""
    flags = _refused_mark(d) + (_contract(d["contract"]) if d["contract"].get("supported")
                                else "")
    where = " · ".join(escape(part) for part in (d["address"], d["location"]) if part)
    cells = (
        _state_badge(d),
        f'<a href="/devices/{d["id"]}">{escape(d["name"])}</a>{_row_model(d)}{flags}',
        f'<span class="sub">{where}</span>',
        _row_supplies(d["supplies"]),
        _alert_count(d["alerts"]),
        _time(d["read_at"], now, zone),
    )
    tds = "".join(f'<td data-label="{escape(label)}">{cell}</td>'
                  for (label, _sort), cell in zip(_COLUMNS, cells, strict=True))
    return (f'<tr class="device" id="device-{d["id"]}" data-device-id="{d["id"]}" '
            f'data-serial="{escape(d["serial"] or "")}" data-state="{escape(d["state"])}">'
            f"{tds}</tr>")


def _row_model(d: Mapping[str, Any]) -> str:
    """Model and serial after the name (each unless it is the name: a device without a host
    name is named by its model)."""
    parts = [part for part in (_model(d), d["serial"]) if part and part != d["name"]]
    return f' <span class="sub">{escape(" · ".join(parts))}</span>' if parts else ""


def _state_badge(d: Mapping[str, Any]) -> str:
    """The state; its reasons, message and poll error as the tooltip."""
    details = " · ".join(x for x in [*(d["reasons"] or ()), d["message"], d["poll_error"]] if x)
    title = f' title="{escape(details)}"' if details else ""
    return f'<span class="state state-{escape(d["state"])}"{title}>{escape(d["state"])}</span>'


def _row_supplies(supplies: list[Mapping[str, Any]]) -> str:
    """The `ROW_SUPPLIES` lowest supplies as small bars (all of them on the device page): those
    used up first, lowest first; receptacles (a waste box fills) and levels unknown after."""
    if not supplies:
        return '<span class="sub">—</span>'
    ordered = sorted(supplies, key=lambda s: (
        s["level_percent"] is None or s.get("class") == "filled", s["level_percent"] or 0))
    more = len(supplies) - ROW_SUPPLIES
    rest = f'<li class="sub more">+{more}</li>' if more > 0 else ""
    return (f'<ul class="supplies compact">'
            f'{"".join(_small_supply(s) for s in ordered[:ROW_SUPPLIES])}{rest}</ul>')


def _small_supply(s: Mapping[str, Any]) -> str:
    """A fleet row's supply: a small bar and its number; name, level and forecast as the
    tooltip (the device page has the full bar with its low threshold and the forecast)."""
    level = s["level_percent"]
    shown = (s["level_state"] or "unknown").replace("-", " ") if level is None else f"{level} %"
    title = " · ".join(x for x in (s["description"] or s["kind"] or s["index"], shown,
                                   forecast_words(s)) if x)
    fill = "" if level is None else (
        f'<span class="fill" data-family="{s["family"]}" '
        f'style="width:{level}%;background-color:{BAR_COLOURS[s["family"]]}"></span>')
    return (f'<li class="supply{" low" if s["low"] else ""}" data-index="{escape(s["index"])}" '
            f'title="{escape(title)}"><span class="bar">{fill}</span>'
            f'<span class="pct">{"?" if level is None else level}</span></li>')


def _alert_count(alerts: list[Mapping[str, Any]]) -> str:
    if not alerts:
        return '<span class="sub">0</span>'
    words = "; ".join(a["description"] or a["code"] or "alert" for a in alerts)
    return f'<span class="alert alerts" title="{escape(words)}">{len(alerts)}</span>'


def _model(d: Mapping[str, Any]) -> str:
    """Manufacturer and model, the manufacturer once (models often start with it)."""
    maker, model = d["manufacturer"] or "", d["model"] or ""
    return model if maker and model.lower().startswith(maker.lower()) else \
        f"{maker} {model}".strip()


def _refused(d: Mapping[str, Any]) -> str:
    """The cloud refused to register the device: why (it is not asked again in a loop)."""
    refused = d.get("registration_refused")
    if not refused:
        return ""
    return (f'<div class="sub bad registration-refused" title="{escape(refused["at"] or "")}">'
            f"{escape(refused['reason'])}</div>")


def _refused_mark(d: Mapping[str, Any]) -> str:
    """A fleet row's short mark of a refused registration (the reason as its tooltip)."""
    refused = d.get("registration_refused")
    if not refused:
        return ""
    return (f' <span class="sub bad registration-refused" title="{escape(refused["reason"])}">'
            "not registered</span>")


def _state(d: Mapping[str, Any]) -> str:
    text = f'<span class="state state-{escape(d["state"])}">{escape(d["state"])}</span>'
    details = [*(d["reasons"] or ()), d["message"], d["poll_error"]]
    return text + "".join(f'<div class="sub">{escape(x)}</div>' for x in details if x)


def _supplies(supplies: list[Mapping[str, Any]]) -> str:
    if not supplies:
        return '<span class="sub">—</span>'
    return f'<ul class="supplies">{"".join(_supply(s) for s in supplies)}</ul>'


def _supply(s: Mapping[str, Any]) -> str:
    name = escape(s["description"] or s["kind"] or s["index"])
    level = s["level_percent"]
    threshold = LOW_PERCENT if s["low_percent"] is None else s["low_percent"]
    if level is None:
        bar = '<span class="bar"></span>'
        label = escape((s["level_state"] or "unknown").replace("-", " "))
    else:
        bar = (f'<span class="bar" role="meter" aria-valuemin="0" aria-valuemax="100" '
               f'aria-valuenow="{level}" aria-label="{name}">'
               f'<span class="fill" data-family="{s["family"]}" '
               f'style="width:{level}%;background-color:{BAR_COLOURS[s["family"]]}"></span>'
               f'<span class="tick" style="left:{threshold}%"></span></span>')
        label = f"{level} %"
    mark = (f' <span class="mark" title="at or below {threshold} %">low</span>'
            if s["low"] else "")
    words = forecast_words(s)
    forecast = (f'<span class="forecast" title="{escape(forecast_title(s))}">{escape(words)}</span>'
                if words else "")
    return (f'<li class="supply{" low" if s["low"] else ""}" data-index="{escape(s["index"])}">'
            f'<span class="name">{name}</span>{bar}<span class="pct">{label}{mark}</span>'
            f'{forecast}</li>')


def _alerts(alerts: list[Mapping[str, Any]]) -> str:
    if not alerts:
        return '<span class="sub">none</span>'
    items = "".join(
        f'<li class="alert">{escape(a["description"] or a["code"] or "alert")}'
        f'{" (" + escape(a["severity"]) + ")" if a["severity"] else ""}</li>' for a in alerts)
    return f'<ul class="plain">{items}</ul>'


def _contract(contract: Mapping[str, Any]) -> str:
    if not contract.get("supported"):
        return '<div class="sub">no contract mode</div>'
    text = escape(contract.get("mode") or "contract mode unknown")
    if contract.get("printing_prohibited"):
        text += ' <span class="bad">printing prohibited</span>'
    panel = contract.get("panel_message")
    message = f'<div class="panel sub">Panel: “{escape(panel)}”</div>' if panel else ""
    return f'<div class="contract">{text}</div>{message}'


def _services(services: list[Mapping[str, Any]]) -> str:
    """Each service's state and FIG. 10's reason code, the reason in words below it."""
    items = [f'<li class="svc svc-{escape(s["activation_state"] or "none")}">'
             f'{escape(s["service_id"])}: {escape(s["activation_state"] or "no application")}'
             f'{_service_reason(s)}'
             f'<div class="sub svc-detail">{escape(s.get("reason_text") or "")}</div></li>'
             for s in services]
    return f'<ul class="plain">{"".join(items)}</ul>' if items else ""


def _service_reason(service: Mapping[str, Any]) -> str:
    """FIG. 10's reason code beside the state (`active` needs no saying twice)."""
    reason = service.get("reason")
    if not reason or reason == service["activation_state"]:
        return ""
    return f' <span class="sub svc-reason">({escape(reason)})</span>'


def _upload(d: Mapping[str, Any], now: datetime, zone: zoneinfo.ZoneInfo) -> str:
    upload = d["last_upload"]
    text = _time(upload["at"], now, zone) if upload else '<span class="sub">never</span>'
    if d["pending_uploads"]:
        text += f'<div class="sub">{d["pending_uploads"]} waiting in the outbox</div>'
    if d["printer_id"] is None:
        text += '<div class="sub">not registered with the cloud</div>'
    return text


def _time(value: str | None, now: datetime, zone: zoneinfo.ZoneInfo) -> str:
    if value is None:
        return '<span class="sub">never</span>'
    local = datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    return f'<time datetime="{escape(value)}" title="{local}">{relative(value, now)}</time>'


def _reading(d: Mapping[str, Any], now: datetime, zone: zoneinfo.ZoneInfo) -> str:
    text = _time(d["read_at"], now, zone)
    upcoming = d["next_read_at"]
    if upcoming is not None:
        due = datetime.fromisoformat(upcoming) <= now
        text += (f'<div class="sub">next {"due now" if due else _time(upcoming, now, zone)}'
                 "</div>")
    return text


# -- the device page -------------------------------------------------------------------------------

_CHART = (640, 240, 40, 12, 12, 30)
"""Width, height and the left, right, top, bottom margins of the history chart (SVG units)."""
_CARTRIDGES = (None, "toner", "ink", "inkCartridge", "tonerCartridge")
"""Supply kinds drawn as solid lines; drums, fusers, waste boxes… are dashed."""


def render_device(snapshot: Mapping[str, Any], device: Mapping[str, Any],
                  history: Mapping[str, list[tuple[float, int]]],
                  zone: zoneinfo.ZoneInfo) -> str:
    """A device's page: what the fleet table shows of it, in full, and its level history."""
    now = datetime.fromisoformat(snapshot["generated_at"])
    facts = [("Model", _model(device)),
             ("Serial", device["serial"]), ("Address", device["address"]),
             ("Location", device["location"]), ("Cloud printer ID", device["printer_id"])]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts if v)
    rows += "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in (
        ("State", _state(device)), ("Alerts", _alerts(device["alerts"])),
        ("Contract & services",
         _contract(device["contract"]) + _services(device["services"])),
        ("Last reading", _reading(device, now, zone)),
        ("Last upload", _upload(device, now, zone))))
    if device.get("registration_refused"):
        rows += f"<tr><th>Cloud registration</th><td>{_refused(device)}</td></tr>"
    problems = "".join(f"<li>{escape(p)}</li>" for p in device["problems"])
    body = (f'<p><a href="/">← the fleet</a></p><h2>{escape(device["name"])}</h2>'
            f'<table class="facts-table">{rows}</table>'
            f'<h3>Supplies</h3><div class="device-supplies">{_supplies(device["supplies"])}</div>'
            f"<h3>Level history</h3>{_chart(device['supplies'], history, zone)}"
            + (f'<h3>Reading problems</h3><ul class="plain sub">{problems}</ul>'
               if problems else ""))
    return _document(f"printgw — {device['name']}", snapshot, zone, body)


def _chart(supplies: list[Mapping[str, Any]], history: Mapping[str, list[tuple[float, int]]],
           zone: zoneinfo.ZoneInfo) -> str:
    """Levels over time, one polyline per supply (one point per history row)."""
    if not history:
        return '<p class="sub">No levels recorded yet.</p>'
    width, height, left, right, top, bottom = _CHART
    known = {s["index"]: s for s in supplies}
    times = [t for points in history.values() for t, _level in points]
    first, last = min(times), max(times)
    span = last - first

    def x(t: float) -> float:
        return left + ((t - first) / span if span else 0.5) * (width - left - right)

    def y(level: int) -> float:
        return top + (100 - level) / 100 * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             'role="img" aria-label="Supply levels over time">']
    for level in (0, 25, 50, 75, 100):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(level):.1f}" '
                     f'y2="{y(level):.1f}" stroke="#e3e6ea"/>'
                     f'<text x="{left - 6}" y="{y(level) + 4:.1f}" font-size="11" '
                     f'text-anchor="end" fill="#5f6368">{level}%</text>')
    for t, anchor in ((first, "start"), (last, "end")) if span else ((first, "middle"),):
        label = datetime.fromtimestamp(t, zone).strftime("%m-%d %H:%M")
        parts.append(f'<text x="{x(t):.1f}" y="{height - 10}" font-size="11" '
                     f'text-anchor="{anchor}" fill="#5f6368">{label}</text>')
    legend = []
    for index, points in history.items():
        supply = known.get(index, {})
        colour = BAR_COLOURS[supply.get("family", "other")]
        name = escape(supply.get("description") or index)
        dashes = "" if supply.get("kind") in _CARTRIDGES else ' stroke-dasharray="6 3"'
        coords = " ".join(f"{x(t):.1f},{y(level):.1f}" for t, level in points)
        parts.append(f'<polyline class="level" data-supply="{escape(index)}" fill="none" '
                     f'stroke="{colour}" stroke-width="2"{dashes} points="{coords}">'
                     f"<title>{name}</title></polyline>")
        if len(points) == 1:
            parts.append(f'<circle cx="{x(points[0][0]):.1f}" cy="{y(points[0][1]):.1f}" r="3" '
                         f'fill="{colour}"/>')
        legend.append(f'<li><span class="swatch" style="background-color:{colour}"></span>'
                      f"{name}</li>")
    parts.append("</svg>")
    return f'<div class="chart">{"".join(parts)}</div><ul class="legend">{"".join(legend)}</ul>'
