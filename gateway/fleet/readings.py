"""Each device's newest reading and its level history (store migration 5), as the status page
shows them (`gateway.local.live_view` reads them):

- `record_reading(db, device_id, status)` (by the uplink pipeline, in the reading's transaction):
  the device's newest reading as a summary, and its supply levels into `level_history`.  A level
  is kept when it differs from the supply's last point of the past `HISTORY_STEP`, or there is
  none; points older than `HISTORY_DAYS` are pruned when the device's next point is written.  So a
  supply keeps about 24 points a day plus one per percent used, whatever the poll interval.
- `record_uploads(store, delivered)` (after each upload): the cloud took entries of these
  devices, of these readings.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gateway.store import Store

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
        "contract": {key: (status.get("contract") or {}).get(key)
                     for key in ("supported", "mode", "printing_prohibited", "panel_message")},
        "problems": [problem.get("message") for problem in status.get("problems") or ()],
    }


def record_reading(db: sqlite3.Connection, device_id: int, status: Mapping[str, Any]) -> None:
    """Keep `status` (a `DeviceStatus.to_json()` document) as the device's newest reading and
    add its levels to the history; in the caller's transaction `db`."""
    read_at = datetime.fromisoformat(status["read_at"]).timestamp()
    summary = summarise(status)
    db.execute(
        "INSERT INTO device_readings (device_id, read_at, printer_state, summary) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET read_at = excluded.read_at, "
        "printer_state = excluded.printer_state, summary = excluded.summary",
        (device_id, read_at, summary["state"]["printer_state"],
         json.dumps(summary, separators=(",", ":"), ensure_ascii=False)))
    levels = {s["index"]: s["level_percent"] for s in summary["supplies"]
              if s["level_percent"] is not None}
    if not levels:
        return
    recent = {row[0]: row[1] for row in db.execute(
        "SELECT supply_index, level_percent, MAX(read_at) FROM level_history "
        "WHERE device_id = ? AND read_at > ? GROUP BY supply_index",
        (device_id, read_at - HISTORY_STEP))}
    points = [(device_id, read_at, index, level) for index, level in levels.items()
              if recent.get(index) != level]
    if points:
        db.executemany("INSERT OR REPLACE INTO level_history (device_id, read_at, supply_index, "
                       "level_percent) VALUES (?, ?, ?, ?)", points)
        db.execute("DELETE FROM level_history WHERE device_id = ? AND read_at < ?",
                   (device_id, read_at - HISTORY_DAYS * 86400))


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
