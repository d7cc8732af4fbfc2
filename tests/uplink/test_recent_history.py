"""What the pipeline keeps in memory of each device's history between readings
(`gateway.fleet.recent_history`, issue 20) changes nothing it records: readings recorded with it
leave the store, the forecasts and the queued data exactly as readings recorded from the store
alone do — across a restart (a fresh process on the same data directory), after a reading the
store refused (rolled back), after a transaction undone without the memory being told, and when a
merged-away device's row number is used again."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from gateway.device.model import Counters, DeviceStatus, State, Supply
from gateway.fleet.inventory import Inventory, Sighting
from gateway.fleet.readings import record_reading
from gateway.fleet.recent_history import RecentHistory
from gateway.settings.loading import parse_config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.outbox import Outbox
from gateway.uplink.pipeline import UploadPipeline
from tests.support.outbox_entries import Clock

PRINTER_ID = "3f0c8d2e-4b7a-4c8e-9a51-6d2b7e9f1a20"
REFUSE_STOPPED = ("CREATE TRIGGER refuse_stopped BEFORE UPDATE ON device_readings "
                  "WHEN NEW.printer_state = 'stopped' BEGIN SELECT RAISE(ABORT, 'refused'); END")
"""A real failure of the store, for some readings: their savepoint is undone."""


def reading(step: int, at: float) -> DeviceStatus:
    """The device's reading number `step`: toners falling at different speeds (some changes
    within an hour, some not), one supply without a level, pages printed, stopped now and then."""
    pages = 10_000 + 37 * step
    levels = {"1.1": 95 - step // 3, "1.2": 90 - step // 7, "1.3": 80 - step // 20}
    supplies = [Supply(index=index, kind="toner", level_percent=max(level, 0),
                       level_state="known", supply_class="consumed")
                for index, level in levels.items()]
    supplies.append(Supply(index="1.4", kind="wasteToner", level_state="some-remaining",
                           supply_class="filled"))
    return DeviceStatus(host="192.0.2.9", read_at=datetime.fromtimestamp(at, UTC),
                        supplies=supplies, counters=Counters(total=pages),
                        state=State(printer_state="stopped" if step % 17 == 5 else "idle"))


class Side:
    """A gateway's store and pipeline; `forgetful`: its memory is emptied before each reading
    (every reading then asks the store, as before the memory)."""

    def __init__(self, directory: Path, clock: Clock, forgetful: bool) -> None:
        self.directory, self.clock, self.forgetful = directory, clock, forgetful
        self.store = Store.in_directory(directory)
        inventory = Inventory(self.store)
        self.devices = [inventory.record(Sighting(
            address=f"192.0.2.{n}", sources=frozenset({"static"}), serial=f"SN-{n}"))
            for n in (1, 2)]
        state = CloudState(self.store, clock)
        state.set_printer(self.devices[1].id, PRINTER_ID, "SN-2")
        state.set_transmission_types(self.devices[1].id, ["supplies.level", "supplies.forecast"],
                                     ["supplies.level", "supplies.forecast"])
        self.store.conn.execute(REFUSE_STOPPED)
        self.pipeline = self._pipeline()

    def _pipeline(self) -> UploadPipeline:
        config = parse_config({"poll": {"periodic_upload": 3600}})
        return UploadPipeline(lambda: config.events, lambda: config.poll,
                              CloudState(self.store, self.clock),
                              Outbox(self.store, clock=self.clock), clock=self.clock)

    def restart(self) -> None:
        """A fresh process on the same data directory."""
        self.store.close()
        self.store = Store.in_directory(self.directory)
        self.pipeline = self._pipeline()

    def record(self, step: int) -> tuple[list[object], list[object]]:
        """The step's reading of each device, together: the forecasts put on them, and the data
        of what they queued."""
        if self.forgetful:
            self.pipeline.history = RecentHistory()
        readings = [(device, reading(step, self.clock.now)) for device in self.devices]
        results = self.pipeline.record_many(readings)
        queued = [None if entries is None else [(e.event, e.data) for e in entries]
                  for entries in results]
        return [status.forecasts for _, status in readings], queued

    def stored(self) -> tuple[list[tuple], list[tuple]]:
        conn = self.store.conn
        return (conn.execute("SELECT device_id, read_at, printer_state, summary "
                             "FROM device_readings ORDER BY device_id").fetchall(),
                conn.execute("SELECT * FROM level_history ORDER BY device_id, read_at, "
                             "supply_index").fetchall())


def test_memory_agrees_with_the_store_across_restarts_and_refused_readings(tmp_path: Path) -> None:
    clock = Clock()
    kept = Side(tmp_path / "kept", clock, forgetful=False)
    plain = Side(tmp_path / "plain", clock, forgetful=True)
    refused = 0
    try:
        for step in range(150):  # 20 minutes apart: 50 hours
            clock.now += 1200
            if step in (40, 97):
                kept.restart()
            forecasts, queued = kept.record(step)
            assert (forecasts, queued) == plain.record(step), step
            refused += queued.count(None)
            assert [tuple(r) for r in kept.stored()[0]] == [tuple(r) for r in plain.stored()[0]]
        kept_rows, plain_rows = kept.stored()[1], plain.stored()[1]
        assert [tuple(r) for r in kept_rows] == [tuple(r) for r in plain_rows]
        assert refused == 2 * 9  # the stopped ones: undone in both
        assert any(f.days_to_empty is not None for f in forecasts[0])  # real forecasts, too
        assert len(kept.pipeline.history) == 2
    finally:
        kept.store.close()
        plain.store.close()


def test_a_transaction_undone_behind_its_back_is_read_from_the_store(store: Store) -> None:
    device = Inventory(store).record(Sighting(address="192.0.2.1", sources=frozenset({"static"}),
                                              serial="SN-1"))
    history = RecentHistory()
    start = 1_750_000_000.0

    def record(step: int, undo: bool = False) -> dict[str, int]:
        status = reading(step, start + 600 * step)
        now = status.read_at.timestamp()
        store.conn.execute("BEGIN IMMEDIATE")
        recent = history.recall(store.conn, device.id, now)
        kept = recent.new_levels({s.index: s.level_percent for s in status.supplies
                                  if s.level_percent is not None}, now)
        record_reading(store.conn, device.id, status, kept)
        history.recorded(device.id, recent, now, kept, status.forecasts)
        store.conn.execute("ROLLBACK" if undo else "COMMIT")
        return kept

    record(0)
    record(3, undo=True)  # 1.1 fell: its new level was written, then undone
    assert record(4) == {"1.1": 94}  # the store has 95 for it: the memory is not believed


def test_a_row_number_used_again_after_a_merge_starts_from_the_store(store: Store,
                                                                     clock: Clock) -> None:
    config = parse_config({})
    pipeline = UploadPipeline(lambda: config.events, lambda: config.poll,
                              CloudState(store, clock), Outbox(store, clock=clock), clock=clock)
    inventory = Inventory(store)
    first = inventory.record(Sighting(address="192.0.2.1", sources=frozenset({"static"}),
                                      serial="SN-1"))
    second = inventory.record(Sighting(address="192.0.2.2", sources=frozenset({"static"}),
                                       mac="00:11:22:33:44:55"))
    clock.now += 60
    pipeline.record(second, reading(0, clock.now))
    # one device after all: the second record is merged into the first and its rows deleted
    inventory.record(Sighting(address="192.0.2.1", sources=frozenset({"static"}), serial="SN-1",
                              mac="00:11:22:33:44:55"))
    assert store.conn.execute("SELECT COUNT(*) FROM devices").fetchone()[0] == 1
    third = inventory.record(Sighting(address="192.0.2.3", sources=frozenset({"static"}),
                                      serial="SN-3"))
    assert third.id == second.id != first.id  # SQLite hands the deleted row number out again
    clock.now += 60
    status = reading(0, clock.now)
    pipeline.record(third, status)
    assert _points(store.conn, third.id) == 3  # not taken as already known: all written


def _points(conn: sqlite3.Connection, device_id: int) -> int:
    return conn.execute("SELECT COUNT(*) FROM level_history WHERE device_id = ?",
                        (device_id,)).fetchone()[0]


def test_the_memory_is_bounded(store: Store, clock: Clock) -> None:
    config = parse_config({})
    pipeline = UploadPipeline(lambda: config.events, lambda: config.poll,
                              CloudState(store, clock), Outbox(store, clock=clock), clock=clock)
    pipeline.history = RecentHistory(limit=2)
    inventory = Inventory(store)
    devices = [inventory.record(Sighting(address=f"192.0.2.{n}", sources=frozenset({"static"}),
                                         serial=f"SN-{n}")) for n in (1, 2, 3)]
    for step in (0, 1, 2):
        clock.now += 600
        for device in devices:
            pipeline.record(device, reading(step, clock.now))
            assert len(pipeline.history) <= 2
    # dropped or not, each device's history is the store's: one point per level change
    for device in devices:
        assert _points(store.conn, device.id) == 3
