"""Each device's newest reading and its level history (store migration 5), as the status page
shows them (`gateway.local.live_view` reads them):

- `record_reading(db, device_id, status)` (by the uplink pipeline, in the reading's transaction):
  the device's newest reading as a summary, and its supply levels into `level_history`.  A level
  is kept when it differs from the supply's last point of the past `HISTORY_STEP`, or there is
  none; points older than `HISTORY_DAYS` are pruned when the device's next point is written.  So a
  supply keeps about 24 points a day plus one per percent used, whatever the poll interval.
- `record_uploads(store, delivered)` (after each upload): the cloud took entries of these
  devices, of these readings.
- `supply_forecasts(db, device_id, status)` (by the pipeline, before the reading is recorded and
  projected): each supply's forecast from its history and this reading (`gateway.fleet.forecast`).
  Each history point also keeps the device's total page counter (store migration 10), so the
  30 days kept are both the level history and the counter history the forecast needs.
- `new_levels(db, device_id, status)`: the levels of a reading its history keeps; the pipeline
  asks it once and hands it to both of the above.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gateway.device.model import DeviceStatus
from gateway.device.supply_forecast import SupplyForecast
from gateway.fleet.forecast import CounterPoint, LevelPoint, forecast
from gateway.store import Store

_SUMMARY_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""`json.dumps` with these options would make an encoder for every reading."""
HISTORY_STEP = 3600.0
HISTORY_DAYS = 30


def summarise(status: Mapping[str, Any]) -> dict[str, Any]:
    """What the page keeps of a `DeviceStatus.to_json()` document."""
    state = status.get("state") or {}
    return {
        "host": status.get("host"),
        "read_at": status["read_at"],
        "reachable": dict(status.get("reachable") or {}),
        "identity": {key: (status.get("identity") or {}).get(key) for key in
                     ("serial", "manufacturer", "model", "hostname", "location", "firmware")},
        "state": {"printer_state": state.get("printer_state", "unknown"),
                  "reasons": list(state.get("reasons") or ()), "message": state.get("message"),
                  "abnormal": bool(state.get("abnormal")),
                  "alerts": [{key: alert.get(key) for key in
                              ("index", "severity", "group", "code", "description")}
                             for alert in state.get("alerts") or ()]},
        "supplies": [{key: supply.get(key) for key in
                      ("index", "description", "kind", "color", "level_percent", "level_state",
                       "low_percent", "class", "cartridge_type")}
                     for supply in status.get("supplies") or ()],
        "counters": {name: value for name, value in (status.get("counters") or {}).items()
                     if value is not None},
        "contract": {key: (status.get("contract") or {}).get(key)
                     for key in ("supported", "mode", "printing_prohibited", "panel_message")},
        "problems": [problem.get("message") for problem in status.get("problems") or ()],
        "forecasts": list(status.get("forecasts") or ()),
    }


def record_reading(db: sqlite3.Connection, device_id: int, status: Mapping[str, Any],
                   kept: Mapping[str, int] | None = None) -> None:
    """Keep `status` (a `DeviceStatus.to_json()` document) as the device's newest reading and
    add its levels to the history; in the caller's transaction `db`.  `kept`: the reading's
    `new_levels`, when the caller has them already (nothing written to the history since)."""
    read_at = datetime.fromisoformat(status["read_at"]).timestamp()
    summary = summarise(status)
    db.execute(
        "INSERT INTO device_readings (device_id, read_at, printer_state, summary) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET read_at = excluded.read_at, "
        "printer_state = excluded.printer_state, summary = excluded.summary",
        (device_id, read_at, summary["state"]["printer_state"],
         _SUMMARY_JSON.encode(summary)))
    levels = {s["index"]: s["level_percent"] for s in summary["supplies"]
              if s["level_percent"] is not None}
    pages = (status.get("counters") or {}).get("total")
    if kept is None:
        kept = _new_levels(db, device_id, read_at, levels)
    points = [(device_id, read_at, index, level, pages) for index, level in kept.items()]
    if points:
        db.executemany("INSERT OR REPLACE INTO level_history (device_id, read_at, supply_index, "
                       "level_percent, page_total) VALUES (?, ?, ?, ?, ?)", points)
        db.execute("DELETE FROM level_history WHERE device_id = ? AND read_at < ?",
                   (device_id, read_at - HISTORY_DAYS * 86400))


def new_levels(db: sqlite3.Connection, device_id: int, status: DeviceStatus) -> dict[str, int]:
    """The levels of this reading its history keeps (`record_reading`), before they are written:
    what `supply_forecasts` and `record_reading` both need, asked of the store once."""
    return _new_levels(db, device_id, status.read_at.timestamp(), _known_levels(status))


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
                     kept: Mapping[str, int] | None = None) -> list[SupplyForecast]:
    """Each supply's forecast at this reading: its history (in `db`, before this reading's points
    are written) followed by this reading's level and page counter.  Of a run of points with
    the same level only the first and the last are kept: the hourly points of an unchanged
    level add nothing to the forecast but its cost (the counter keeps every point).

    A reading that adds no history point (no level changed within `HISTORY_STEP`) keeps the
    device's last forecasts: they are computed again at least once a `HISTORY_STEP`, and at
    every change of a level.  `kept`: the reading's `new_levels`, when the caller has them."""
    now = status.read_at.timestamp()
    known = _known_levels(status)
    if kept is None and known:
        kept = _new_levels(db, device_id, now, known)
    if known and not kept:
        kept = _last_forecasts(db, device_id, {s.index for s in status.supplies})
        if kept is not None:
            return kept
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


def _last_forecasts(db: sqlite3.Connection, device_id: int,
                    supplies: set[str]) -> list[SupplyForecast] | None:
    """The forecasts of the device's newest reading, if they are of these supplies (only they
    are decoded, not the whole summary)."""
    row = db.execute("SELECT json_extract(summary, '$.forecasts') FROM device_readings "
                     "WHERE device_id = ?", (device_id,)).fetchone()
    forecasts = json.loads(row[0]) if row is not None and row[0] is not None else None
    if not forecasts or {f["index"] for f in forecasts} != supplies:
        return None
    return [SupplyForecast.from_json(f) for f in forecasts]
