"""The inventory at thousands of devices (issue 20): a discovery run's sightings recorded in one
transaction, a bounded number of SQL statements per sighting, and no scan of every device for a
device known only by its address (no serial, printer-uuid or MAC)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gateway.fleet.inventory import Inventory, Sighting
from gateway.store import Store

COUNT = 2000


@dataclass
class Tally:
    statements: list[str] = field(default_factory=list)
    steps: int = 0
    """SQLite virtual machine instructions: what a scan would show."""


@contextmanager
def tally(conn: sqlite3.Connection, steps: bool = True) -> Iterator[Tally]:
    """The statements run meanwhile, and (`steps`) the instructions they took."""
    counted = Tally()

    def step() -> int:
        counted.steps += 1
        return 0

    conn.set_trace_callback(counted.statements.append)
    conn.set_progress_handler(step if steps else None, 1)
    try:
        yield counted
    finally:
        conn.set_trace_callback(None)
        conn.set_progress_handler(None, 0)


def anonymous(n: int) -> list[Sighting]:
    """Devices that tell nothing about themselves: known by their address only."""
    return [Sighting(address=f"10.20.{i // 250}.{i % 250 + 1}", sources=frozenset({"static"}),
                     protocols=frozenset({"snmp"}), snmp_port=161, snmp_version=2)
            for i in range(n)]


def test_anonymous_sightings_take_a_bounded_number_of_statements_and_no_scan(
        tmp_path: Path) -> None:
    with Store(tmp_path / "printgw.db") as store:
        inventory = Inventory(store)
        sightings = anonymous(COUNT)
        with tally(store.conn, steps=False) as first:
            devices = inventory.record_all(sightings[:-1])
        assert len({d.id for d in devices}) == COUNT - 1
        commits = [s for s in first.statements if s.strip().upper() == "COMMIT"]
        assert len(commits) == 1, "one transaction for the whole run, not one per device"
        assert len(first.statements) <= 12 * COUNT, len(first.statements)

        # One more device into an inventory of 1,999, and one into an inventory of a few: the
        # same work (a scan of the devices without keys would be ~1,000 times more).
        with tally(store.conn) as late:
            inventory.record(sightings[-1])
        with Store(tmp_path / "small.db") as small_store:
            small = Inventory(small_store)
            small.record_all(sightings[:3])
            with tally(small_store.conn) as early:
                small.record(sightings[-1])
        assert len(late.statements) == len(early.statements)
        assert late.steps <= 1.5 * early.steps, (late.steps, early.steps)

        # The next discovery run finds the same 2,000 devices at their addresses: no new record.
        with tally(store.conn, steps=False) as next_run:
            again = inventory.record_all(sightings)
        assert [d.id for d in again][:-1] == [d.id for d in devices]
        assert len(inventory.devices()) == COUNT
        assert len(next_run.statements) <= 12 * COUNT


def test_the_device_list_is_read_in_a_fixed_number_of_queries(tmp_path: Path) -> None:
    with Store(tmp_path / "printgw.db") as store:
        inventory = Inventory(store)
        recorded = inventory.record_all(
            [Sighting(address=f"10.30.{i // 250}.{i % 250 + 1}", sources=frozenset({"static"}),
                      serial=f"SER{i:05d}") for i in range(COUNT)])
        inventory.record(Sighting(address="10.30.99.1", sources=frozenset({"mdns"}),
                                  serial="SER00007"))  # a second address of one device
        with tally(store.conn) as read:
            devices = inventory.devices()
        assert len(read.statements) == 2
        assert [d.id for d in devices] == [d.id for d in recorded]
        assert devices[7].addresses == ["10.30.99.1", "10.30.0.8"]  # most recent first
        assert devices[8].addresses == ["10.30.0.9"]


def test_a_merge_within_one_run_returns_the_record_it_went_into(tmp_path: Path) -> None:
    """Two records a later sighting of the same run proves to be one device: every sighting of
    the run is answered with the surviving record."""
    with Store(tmp_path / "printgw.db") as store:
        inventory = Inventory(store)
        by_uuid = Sighting(address="10.40.0.1", sources=frozenset({"mdns"}), uuid="u-1")
        by_mac = Sighting(address="10.40.0.2", sources=frozenset({"snmp-sweep"}),
                          mac="00:11:22:33:44:55")
        both = Sighting(address="10.40.0.1", sources=frozenset({"static"}), serial="S1",
                        uuid="u-1", mac="00:11:22:33:44:55")
        first, second, merged = inventory.record_all([by_uuid, by_mac, both])
        assert first.id == merged.id == second.id
        assert [d.id for d in inventory.devices()] == [merged.id]
        assert (merged.serial, merged.uuid, merged.mac) == ("S1", "u-1", "00:11:22:33:44:55")
