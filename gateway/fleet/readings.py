"""Each device's newest reading and its level history (store migration 5), as the status page
shows them (`gateway.local.live_view` reads them):

- `record_reading(db, device_id, status)` (by the uplink pipeline, in the reading's transaction):
  the device's newest reading as a summary (`summary_json`), and its supply levels into
  `level_history`.  A level is kept when it differs from the supply's last point of the past
  `HISTORY_STEP`, or there is none; points older than `HISTORY_DAYS` are pruned when the device's
  next point is written.  So a supply keeps about 24 points a day plus one per percent used,
  whatever the poll interval.
- `record_uploads(store, delivered)` (after each upload): the cloud took entries of these
  devices, of these readings.
- `supply_forecasts(db, device_id, status)` (by the pipeline, before the reading is recorded and
  projected): each supply's forecast from its history and this reading (`gateway.fleet.forecast`).
  Each history point also keeps the device's total page counter (store migration 10), so the
  30 days kept are both the level history and the counter history the forecast needs.
- `new_levels(db, device_id, status)`: the levels of a reading its history keeps; the pipeline
  asks it once and hands it to both of the above.

The pipeline hands each of them the device's `Recent` history (`gateway.fleet.recent_history`:
each supply's newest point and the last forecasts, from memory when it agrees with the store), so
that a reading whose levels did not change asks the store nothing but one row by its key.
"""

from __future__ import annotations

import functools
import json
import operator
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import fields

from gateway.device.model import DeviceStatus
from gateway.device.supply_forecast import SupplyForecast
from gateway.fleet.forecast import CounterPoint, LevelPoint, forecast
from gateway.fleet.recent_history import HISTORY_DAYS, HISTORY_STEP, Recent, stored_forecasts
from gateway.store import Store

_SUMMARY_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""`json.dumps` with these options would make an encoder for every reading."""


def summary_json(status: DeviceStatus) -> str:
    """What the page keeps of a reading, as the JSON text stored: host, read_at, reachable, the
    identity's serial, manufacturer, model, hostname, location and firmware, the state (printer
    state, reasons, message, abnormal, each alert's index, severity, group, code and
    description), each supply's index, description, kind, color, level_percent, level_state,
    low_percent, class and cartridge_type, the counters known, the contract (supported, mode,
    printing_prohibited, panel_message), the problems' messages and the forecasts.

    The supplies and forecasts, most of the text and mostly the same from reading to reading and
    from printer to printer, are encoded once each (`_supply_json`, `_forecast_json`) and put
    together: the text is the one encoding the whole would give, byte for byte."""
    identity, state, contract = status.identity, status.state, status.contract
    head = _SUMMARY_JSON.encode({
        "host": status.host,
        "read_at": status.read_at.isoformat(),
        "reachable": status.reachable,
        "identity": {"serial": identity.serial, "manufacturer": identity.manufacturer,
                     "model": identity.model, "hostname": identity.hostname,
                     "location": identity.location, "firmware": identity.firmware},
        "state": {"printer_state": state.printer_state, "reasons": state.reasons,
                  "message": state.message, "abnormal": bool(state.abnormal),
                  "alerts": [{"index": alert.index, "severity": alert.severity,
                              "group": alert.group, "code": alert.code,
                              "description": alert.description} for alert in state.alerts]}})
    middle = _SUMMARY_JSON.encode({
        "counters": {name: value for name, value in vars(status.counters).items()
                     if value is not None},
        "contract": {"supported": contract.supported, "mode": contract.mode,
                     "printing_prohibited": contract.printing_prohibited,
                     "panel_message": contract.panel_message},
        "problems": [problem.message for problem in status.problems]})
    supplies = ",".join([_supply_json(*_supply_values(s)) for s in status.supplies])
    forecasts = ",".join([_forecast_json(*_forecast_values(f)) for f in status.forecasts])
    return (f'{head[:-1]},"supplies":[{supplies}],{middle[1:-1]},'
            f'"forecasts":[{forecasts}]}}')


_SUPPLY_KEYS = ("index", "description", "kind", "color", "level_percent", "level_state",
                "low_percent", "class", "cartridge_type")
_supply_values = operator.attrgetter(*(
    "supply_class" if key == "class" else key for key in _SUPPLY_KEYS))
_forecast_values = operator.attrgetter(*(field.name for field in fields(SupplyForecast)))


@functools.lru_cache(maxsize=4096, typed=True)  # typed: 1, 1.0 and True encode differently
def _supply_json(*values: object) -> str:
    """A supply of the summary (`_SUPPLY_KEYS`), encoded."""
    return _SUMMARY_JSON.encode(dict(zip(_SUPPLY_KEYS, values, strict=True)))


@functools.lru_cache(maxsize=4096, typed=True)
def _forecast_json(*values: object) -> str:
    """A forecast of the summary (`_forecast_values`), encoded."""
    return _SUMMARY_JSON.encode(SupplyForecast(*values).to_json())  # type: ignore[arg-type]


def record_reading(db: sqlite3.Connection, device_id: int, status: DeviceStatus,
                   kept: Mapping[str, int] | None = None) -> None:
    """Keep `status` as the device's newest reading and add its levels to the history; in the
    caller's transaction `db`.  `kept`: the reading's `new_levels`, when the caller has them
    already (nothing written to the history since)."""
    read_at = status.read_at.timestamp()
    db.execute(
        "INSERT INTO device_readings (device_id, read_at, printer_state, summary) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET read_at = excluded.read_at, "
        "printer_state = excluded.printer_state, summary = excluded.summary",
        (device_id, read_at, status.state.printer_state, summary_json(status)))
    pages = status.counters.total
    if kept is None:
        kept = _new_levels(db, device_id, read_at, _known_levels(status))
    points = [(device_id, read_at, index, level, pages) for index, level in kept.items()]
    if points:
        db.executemany("INSERT OR REPLACE INTO level_history (device_id, read_at, supply_index, "
                       "level_percent, page_total) VALUES (?, ?, ?, ?, ?)", points)
        db.execute("DELETE FROM level_history WHERE device_id = ? AND read_at < ?",
                   (device_id, read_at - HISTORY_DAYS * 86400))


def new_levels(db: sqlite3.Connection, device_id: int, status: DeviceStatus,
               recent: Recent | None = None) -> dict[str, int]:
    """The levels of this reading its history keeps (`record_reading`), before they are written:
    what `supply_forecasts` and `record_reading` both need, asked once (of `recent`, the
    device's history recalled for this reading, when the caller has it; else of the store)."""
    now = status.read_at.timestamp()
    if recent is not None:
        return recent.new_levels(_known_levels(status), now)
    return _new_levels(db, device_id, now, _known_levels(status))


def _known_levels(status: DeviceStatus) -> dict[str, int]:
    return {s.index: s.level_percent for s in status.supplies if s.level_percent is not None}


def _new_levels(db: sqlite3.Connection, device_id: int, read_at: float,
                levels: Mapping[str, int]) -> dict[str, int]:
    """Those of `levels` the history keeps: they differ from the supply's last point of the
    past `HISTORY_STEP`, or there is none."""
    if not levels:
        return {}
    recent = {row[0]: row[1] for row in db.execute(
        "SELECT supply_index, level_percent, MAX(read_at) FROM level_history "
        "WHERE device_id = ? AND read_at > ? GROUP BY supply_index",
        (device_id, read_at - HISTORY_STEP))}
    return {index: level for index, level in levels.items() if recent.get(index) != level}


def record_uploads(store: Store, delivered: Mapping[int, str],
                   now: float | None = None) -> None:
    """The cloud took entries of these devices (device row → `read_at` of the newest)."""
    if not delivered:
        return
    now = time.time() if now is None else now
    with store.transaction() as db:
        db.executemany("UPDATE device_readings SET uploaded_at = ?, uploaded_read_at = ? "
                       "WHERE device_id = ?",
                       [(now, read_at, device_id) for device_id, read_at in delivered.items()])


def supply_forecasts(db: sqlite3.Connection, device_id: int, status: DeviceStatus,
                     kept: Mapping[str, int] | None = None,
                     recent: Recent | None = None) -> list[SupplyForecast]:
    """Each supply's forecast at this reading: its history (in `db`, before this reading's points
    are written) followed by this reading's level and page counter.  Of a run of points with
    the same level only the first and the last are kept: the hourly points of an unchanged
    level add nothing to the forecast but its cost (the counter keeps every point).

    A reading that adds no history point (no level changed within `HISTORY_STEP`) keeps the
    device's last forecasts: they are computed again at least once a `HISTORY_STEP`, and at
    every change of a level.  `kept`: the reading's `new_levels`, when the caller has them;
    `recent`: the device's history (its last forecasts), when the caller has it."""
    now = status.read_at.timestamp()
    known = _known_levels(status)
    if kept is None and known:
        kept = new_levels(db, device_id, status, recent)
    if known and not kept:
        last = stored_forecasts(db, device_id) if recent is None else recent.forecasts
        if last and {f.index for f in last} == {s.index for s in status.supplies}:
            return list(last)
    rows = db.cursor()
    rows.row_factory = None  # plain tuples: thousands of rows per reading
    levels: dict[str, list[LevelPoint]] = {}
    counter: dict[float, int] = {}
    for index, at, level, pages in rows.execute(
            "SELECT supply_index, read_at, level_percent, page_total FROM level_history "
            "WHERE device_id = ? AND read_at < ? ORDER BY read_at", (device_id, now)):
        if pages is not None:
            counter[at] = pages
        points = levels.setdefault(index, [])
        if len(points) > 1 and points[-1].level == level == points[-2].level:
            points[-1] = LevelPoint(at, level, pages)  # the same level: keep its first and last
        else:
            points.append(LevelPoint(at, level, pages))
    counter_points = [CounterPoint(at, pages) for at, pages in counter.items()]
    pages_now = status.counters.total
    if pages_now is not None:
        counter_points.append(CounterPoint(now, pages_now))
    result = []
    for supply in status.supplies:
        points = levels.get(supply.index, [])
        if supply.level_percent is not None:
            points.append(LevelPoint(now, supply.level_percent, pages_now))
        result.append(forecast(supply.index, points, counter_points, now, supply.level_state))
    return result
