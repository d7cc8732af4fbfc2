"""What the next reading of a device needs of the ones before it, kept in memory so that a reading
does not ask the store for it (issue 20): each supply's newest level-history point
(`gateway.fleet.readings.new_levels` keeps a level that differs from its last point of the past
`HISTORY_STEP`) and the forecasts of the device's newest reading (kept while no level changes:
`gateway.fleet.readings.supply_forecasts`).

The store holds all of it; this is a cache of it and is checked at every use: a device's entry is
used only while the store's newest reading of the device (`device_readings.read_at`) is the one
the entry was made at, and only for readings whose `HISTORY_STEP` window starts after the time the
entry knows every point from.  Anything else (a fresh process, a reading rolled back, a device
merged away and its row number reused, a reading recorded by another path, a clock set back) reads
the store again, as every reading did before.

Compact: per device a few numbers and two marshalled byte strings, the forecasts' shared between
devices with the same ones (those without a forecast mostly are): about 0.5 KB a colour MFP of 9
levels, 0.9 KB when each of its forecasts is its own; at most `MAX_DEVICES` devices.
"""

from __future__ import annotations

import functools
import json
import marshal
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from gateway.device.supply_forecast import SupplyForecast

HISTORY_STEP = 3600.0
"""A level is kept in the history when it differs from the supply's last point of this long."""
HISTORY_DAYS = 30
"""Points older than this (before the device's newest) are pruned."""
MAX_DEVICES = 100_000
"""Entries kept at most; beyond, the oldest is dropped (its device then reads the store)."""

Points = dict[str, tuple[float, int]]
"""Supply index → (time, level) of its newest history point."""


@dataclass(frozen=True, slots=True)
class Recent:
    """A device's history as the store holds it before the reading being recorded."""

    read_at: float | None
    """The time of the device's newest reading in the store; None: it has none."""
    since: float
    """Every history point of the device after this time is in `points`."""
    points: Points
    """Each supply's newest point after `since`."""
    forecasts: tuple[SupplyForecast, ...] | None
    """The forecasts of the device's newest reading (None: it has none)."""
    packed_points: bytes | None
    """`points` as kept (None: read from the store)."""
    packed_forecasts: bytes | None

    def new_levels(self, levels: Mapping[str, int], now: float) -> dict[str, int]:
        """Those of `levels` the history keeps at `now` (the time this was recalled for): they
        differ from the supply's last point of the past `HISTORY_STEP`, or there is none."""
        start = now - HISTORY_STEP
        kept = {}
        for index, level in levels.items():
            point = self.points.get(index)
            if point is None or point[0] <= start or point[1] != level:
                kept[index] = level
        return kept


class RecentHistory:
    """Device row → its `Recent`, packed.  Used inside the reading's transaction."""

    def __init__(self, limit: int = MAX_DEVICES) -> None:
        self.limit = limit
        self._known: dict[int, tuple[float | None, float, bytes, bytes | None]] = {}

    def __len__(self) -> int:
        return len(self._known)

    def recall(self, db: sqlite3.Connection, device_id: int, now: float) -> Recent:
        """The device's history before a reading at `now`: from memory when it agrees with the
        store and knows every point of the `HISTORY_STEP` before `now`, from the store
        otherwise."""
        row = db.execute("SELECT read_at FROM device_readings WHERE device_id = ?",
                         (device_id,)).fetchone()
        stored = None if row is None else row[0]
        known = self._known.get(device_id)
        if known is not None and known[0] == stored and now - HISTORY_STEP >= known[1]:
            read_at, since, points, forecasts = known
            return Recent(read_at, since, marshal.loads(points),
                          None if forecasts is None else _unpack_forecasts(forecasts), points,
                          forecasts)
        return self._load(db, device_id, stored, now)

    def _load(self, db: sqlite3.Connection, device_id: int, read_at: float | None,
              now: float) -> Recent:
        since = now - HISTORY_STEP
        points = {row[0]: (row[2], row[1]) for row in db.execute(
            "SELECT supply_index, level_percent, MAX(read_at) FROM level_history "
            "WHERE device_id = ? AND read_at > ? GROUP BY supply_index", (device_id, since))}
        forecasts = None if read_at is None else stored_forecasts(db, device_id)
        packed = None if forecasts is None else _pack_forecasts(forecasts)
        return Recent(read_at, since, points, forecasts, None, packed)

    def recorded(self, device_id: int, recent: Recent, read_at: float, kept: Mapping[str, int],
                 forecasts: Sequence[SupplyForecast]) -> None:
        """A reading at `read_at` was written with the points `kept` (`recent`: the device's
        history before it) and `forecasts`: what the store now holds."""
        packed_points = recent.packed_points
        if kept or packed_points is None:
            points = {index: point for index, point in recent.points.items()
                      if not kept or point[0] >= read_at - HISTORY_DAYS * 86400}  # as pruned
            for index, level in kept.items():
                point = points.get(index)
                if point is None or point[0] <= read_at:
                    points[index] = (read_at, level)
            packed_points = marshal.dumps(points)
        if recent.forecasts is not None and tuple(forecasts) == recent.forecasts:
            packed = recent.packed_forecasts
        else:
            packed = _pack_forecasts(forecasts)
        known = self._known
        if device_id not in known and len(known) >= self.limit:
            del known[next(iter(known))]
        known[device_id] = (read_at, recent.since, packed_points, packed)

    def forget(self, device_ids: Sequence[int]) -> None:
        """What is known of these devices may not be what the store holds (their reading was
        rolled back): they read the store next time."""
        for device_id in device_ids:
            self._known.pop(device_id, None)


def stored_forecasts(db: sqlite3.Connection, device_id: int) -> tuple[SupplyForecast, ...] | None:
    """The forecasts of the device's newest reading in the store (only they are decoded, not the
    whole summary); None without one."""
    row = db.execute("SELECT json_extract(summary, '$.forecasts') FROM device_readings "
                     "WHERE device_id = ?", (device_id,)).fetchone()
    if row is None or row[0] is None:
        return None
    return tuple(SupplyForecast.from_json(f) for f in json.loads(row[0]))


def _pack_forecasts(forecasts: Sequence[SupplyForecast]) -> bytes:
    return _shared(marshal.dumps(tuple(
        (f.index, f.days_to_empty, f.pages_remaining,
         None if f.empty_on is None else f.empty_on.toordinal(), f.confidence, f.method,
         f.basis_points, f.basis_days, f.reason) for f in forecasts)))


@functools.lru_cache(maxsize=1024)
def _shared(packed: bytes) -> bytes:
    """One object for equal packed forecasts: devices with the same ones share it."""
    return packed


@functools.lru_cache(maxsize=256)
def _unpack_forecasts(packed: bytes) -> tuple[SupplyForecast, ...]:
    """The forecasts `_pack_forecasts` packed (frozen values: the same ones can be handed out
    again; few kept, as objects they are several times their packed size)."""
    return tuple(
        SupplyForecast(index, days, pages, None if empty_on is None else date.fromordinal(empty_on),
                       confidence, method, basis_points, basis_days, reason)
        for index, days, pages, empty_on, confidence, method, basis_points, basis_days, reason
        in marshal.loads(packed))
