"""Group commits (issue 20): readings that arrive together are committed in one transaction
(`UploadPipeline.record_many`, gathered by `gateway.app.intake.ReadingIntake`), on a real store
file; nothing of them is visible, to this connection's other users or to another process, before
that one commit, and the events between two readings of one device in a batch are found."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from gateway.app import intake as intake_module
from gateway.app.intake import ReadingIntake
from gateway.device.model import Counters, DeviceStatus, Identity, State, Supply
from gateway.fleet.inventory import Device, Inventory, Sighting
from gateway.settings.loading import parse_config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.outbox import Outbox
from gateway.uplink.pipeline import UploadPipeline
from tests.support.outbox_entries import Clock

DEVICES = 40


def pipeline(store: Store, clock: Clock) -> UploadPipeline:
    config = parse_config({"poll": {"periodic_upload": 3600}})
    return UploadPipeline(lambda: config.events, lambda: config.poll, CloudState(store, clock),
                          Outbox(store, clock=clock), clock=clock)


def fleet(store: Store, count: int) -> list[Device]:
    """`count` devices, each registered with a cloud printer ID and sending `supplies.level`."""
    inventory, state = Inventory(store), CloudState(store)
    devices = []
    for n in range(count):
        device = inventory.record(Sighting(address=f"192.0.2.{n + 1}",
                                           sources=frozenset({"static"}), serial=f"SN-{n}"))
        state.set_printer(device.id, f"00000000-0000-4000-8000-{n:012d}", f"SN-{n}")
        state.set_transmission_types(device.id, ["supplies.level"], ["supplies.level"])
        devices.append(device)
    return devices


def reading(clock: Clock, serial: str, level: int) -> DeviceStatus:
    return DeviceStatus(
        host="192.0.2.1", read_at=datetime.fromtimestamp(clock.now, UTC),
        reachable={"snmp": True}, identity=Identity(serial=serial, model="LaserJet"),
        supplies=[Supply(index="1.1", kind="toner", color="black", level_percent=level,
                         level_state="known", raw_level=level, max_capacity=100,
                         supply_class="consumed")],
        counters=Counters(total=1200), state=State(printer_state="idle"))


@contextmanager
def commits(store: Store) -> Iterator[list[str]]:
    """Every COMMIT the store's connection runs, while in the block."""
    seen: list[str] = []
    store.conn.set_trace_callback(
        lambda sql: seen.append(sql) if sql.strip().upper().startswith("COMMIT") else None)
    try:
        yield seen
    finally:
        store.conn.set_trace_callback(None)


def other_process_view(store: Store) -> sqlite3.Connection:
    """A second connection, as another process (`printgw status`) reads the file."""
    return sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)


def outbox_rows(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]


def test_readings_of_many_devices_are_committed_in_one_transaction(
        store: Store, clock: Clock) -> None:
    devices = fleet(store, DEVICES)
    uploads = pipeline(store, clock)
    with commits(store) as seen:
        results = uploads.record_many([(d, reading(clock, d.serial or "", 40))
                                       for d in devices])
    assert len(seen) == 1, "one commit, one fsync, for every reading"
    assert [len(r or []) for r in results] == [1] * DEVICES  # each device's first: periodic
    assert uploads.outbox.depth() == DEVICES
    assert all(uploads.state.last_status(d.id) is not None for d in devices)


def test_two_readings_of_one_device_in_a_batch_find_the_event_between_them(
        store: Store, clock: Clock) -> None:
    [device] = fleet(store, 1)
    uploads = pipeline(store, clock)
    first = reading(clock, "SN-0", 40)
    clock.now += 60
    second = reading(clock, "SN-0", 18)  # crosses 20
    with commits(store) as seen:
        results = uploads.record_many([(device, first), (device, second)])
    assert len(seen) == 1
    assert [[e.event for e in r or []] for r in results] == [["periodic"], ["threshold-crossed"]]
    assert uploads.state.last_status(device.id)["supplies"][0]["level_percent"] == 18


def test_a_reading_the_store_refuses_leaves_the_others_of_its_batch(
        store: Store, clock: Clock) -> None:
    devices = fleet(store, 3)
    uploads = pipeline(store, clock)
    store.conn.execute(f"CREATE TEMP TRIGGER refuse BEFORE INSERT ON device_readings "
                       f"WHEN NEW.device_id = {devices[1].id} "
                       f"BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    told: list[int] = []
    uploads.on_recorded = lambda device, _status: told.append(device.id)
    results = uploads.record_many([(d, reading(clock, d.serial or "", 40)) for d in devices])
    assert [r is None for r in results] == [False, True, False]
    assert uploads.state.last_status(devices[1].id) is None, "nothing of it kept"
    assert {p.device_id for p in uploads.outbox.due()} == {devices[0].id, devices[2].id}
    assert told == [devices[0].id, devices[2].id], "only what was committed is told"


async def test_the_intake_gathers_readings_and_commits_them_once_before_waking_the_sender(
        store: Store, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(intake_module, "BATCH_SECONDS", 0.2)
    devices = fleet(store, DEVICES)
    uploads = pipeline(store, clock)
    wake = asyncio.Event()
    intake = ReadingIntake(uploads, uploads.state, None, wake)
    reader = other_process_view(store)
    committed_when_told: list[int] = []
    uploads.on_recorded = lambda _d, _s: committed_when_told.append(outbox_rows(reader))
    try:
        with commits(store) as seen:
            for device in devices:
                await intake.accept(device, reading(clock, device.serial or "", 40))
                await asyncio.sleep(0)  # other tasks run between readings, as in the daemon
            # gathered: nothing committed, nothing the sender (this connection) could take
            assert seen == [] and not wake.is_set()
            assert uploads.outbox.depth() == 0 and outbox_rows(reader) == 0
            await asyncio.sleep(0.4)
        assert len(seen) == 2, "the readings' commit, then their callbacks' (local alerts)"
        assert outbox_rows(reader) == DEVICES and intake.queued == DEVICES
        assert wake.is_set(), "the sender woken once they are committed"
        assert committed_when_told == [DEVICES] * DEVICES, "told after the commit"
    finally:
        reader.close()


async def test_a_full_batch_is_committed_at_once_and_flush_commits_the_rest(
        store: Store, clock: Clock) -> None:
    devices = fleet(store, intake_module.BATCH_READINGS + 3)
    uploads = pipeline(store, clock)
    intake = ReadingIntake(uploads, uploads.state, None, asyncio.Event())
    for device in devices:
        intake.submit(device, reading(clock, device.serial or "", 40))
    assert uploads.outbox.depth() == intake_module.BATCH_READINGS, "the full batch, at once"
    assert intake.flush() == 3
    assert uploads.outbox.depth() == len(devices)
    assert intake.flush() == 0


def test_record_many_commits_in_batches_and_counts_what_it_queued(
        store: Store, clock: Clock) -> None:
    devices = fleet(store, intake_module.BATCH_READINGS * 2 + 1)
    uploads = pipeline(store, clock)
    intake = ReadingIntake(uploads, uploads.state, None, asyncio.Event())
    with commits(store) as seen:
        queued = intake.record_many((d, reading(clock, d.serial or "", 40)) for d in devices)
    assert queued == len(devices) == uploads.outbox.depth()
    assert len(seen) == 3, "three batches"


def test_a_savepoint_undone_inside_a_batch_keeps_the_rest(store: Store) -> None:
    with store.batch() as db:
        with store.transaction():
            db.execute("INSERT INTO counters (name, value) VALUES ('kept', 1)")
        with pytest.raises(sqlite3.IntegrityError), store.transaction():
            db.execute("INSERT INTO counters (name, value) VALUES ('undone', 1)")
            db.execute("INSERT INTO counters (name, value) VALUES ('undone', 2)")
        assert store.conn.in_transaction
    rows = store.conn.execute("SELECT name FROM counters").fetchall()
    assert [r[0] for r in rows] == ["kept"]
    assert not store.conn.in_transaction


async def test_the_newest_readings_come_a_chunk_at_a_time(store: Store, clock: Clock) -> None:
    devices = fleet(store, intake_module.SYNC_CHUNK + 5)
    uploads = pipeline(store, clock)
    intake = ReadingIntake(uploads, uploads.state, None, asyncio.Event())
    for device in devices[1:]:
        intake.latest[device.id] = reading(clock, device.serial or "", 40)
    chunks = list(intake.readings({d.id: d for d in devices}))
    assert [len(chunk) for chunk in chunks] == [intake_module.SYNC_CHUNK, 4]
    assert [d.id for chunk in chunks for d, _s in chunk] == [d.id for d in devices[1:]]
    assert all(s.identity.serial == d.serial for chunk in chunks for d, s in chunk)
