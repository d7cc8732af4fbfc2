"""The inventory in a real SQLite file: one record per device, merges, moves, missing, restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.fleet.inventory import Inventory, Sighting
from gateway.store import DATABASE_NAME, MIGRATIONS, Store, StoreError

SWEEP = frozenset({"snmp-sweep"})
MDNS = frozenset({"mdns"})


@pytest.fixture
def store(tmp_path: Path):
    with Store.in_directory(tmp_path / "data") as s:
        yield s


def test_same_serial_at_a_new_address_is_the_same_device(store: Store) -> None:
    inv = Inventory(store)
    first = inv.record(Sighting("10.0.0.5", SWEEP, serial="SN1", model="M1"), now=100.0)
    inv.end_run(99.0, [first.id], now=101.0)
    moved = inv.record(Sighting("10.0.0.77", SWEEP, serial="SN1", model="M1"), now=200.0)
    inv.end_run(199.0, [moved.id], now=201.0)

    assert moved.id == first.id
    [device] = inv.devices()
    assert device.addresses == ["10.0.0.77"]
    assert (device.first_seen, device.last_seen) == (100.0, 200.0)
    kinds = [kind for _, _, kind, _ in inv.events(device.id)]
    assert kinds == ["added", "address-added", "address-gone"]


def test_mdns_and_sweep_sightings_of_one_printer_merge(store: Store) -> None:
    inv = Inventory(store)
    # mDNS first: only the printer-uuid is known (TXT UUID), in upper case with a urn prefix
    a = inv.record(Sighting("10.0.0.9", MDNS, uuid="urn:uuid:ABCD-1", model="M"), now=1.0)
    # the sweep sees the MAC and serial only
    b = inv.record(Sighting("10.0.0.9", SWEEP, serial="SN9", mac="AA-BB-CC-00-00-01"), now=2.0)
    assert a.id != b.id  # nothing ties them together yet
    # a full reading has all three keys: the two records are one device
    c = inv.record(Sighting("10.0.0.9", SWEEP | MDNS, serial="SN9", uuid="abcd-1",
                            mac="aa:bb:cc:00:00:01"), now=3.0)
    [device] = inv.devices()
    assert device.id == c.id == b.id
    assert (device.serial, device.uuid, device.mac) == ("SN9", "abcd-1", "aa:bb:cc:00:00:01")
    assert device.sources == ["mdns", "snmp-sweep"]
    assert device.model == "M"
    assert device.first_seen == 1.0
    assert "merged" in [kind for _, _, kind, _ in inv.events(device.id)]
    # the merged record's history is kept under the surviving record
    assert sum(kind == "added" for _, _, kind, _ in inv.events(device.id)) == 2


def test_unreadable_serial_is_recorded_by_uuid_then_mac_and_flagged(store: Store) -> None:
    inv = Inventory(store)
    by_uuid = inv.record(Sighting("10.0.1.1", MDNS, uuid="u-1"))
    by_mac = inv.record(Sighting("10.0.1.2", SWEEP, mac="aa:bb:cc:00:00:02"))
    nothing = inv.record(Sighting("10.0.1.3", SWEEP, model="Mystery"))
    assert by_uuid.flags == ["serial-unreadable"]
    assert by_mac.flags == ["serial-unreadable"]
    assert nothing.flags == ["serial-unreadable", "no-identity"]
    # seen again at their addresses, each stays one record
    assert inv.record(Sighting("10.0.1.9", MDNS, uuid="U-1")).id == by_uuid.id
    assert inv.record(Sighting("10.0.1.3", SWEEP, model="Mystery")).id == nothing.id
    assert len(inv.devices()) == 3
    # the serial becomes readable: same record, flag gone
    assert inv.record(Sighting("10.0.1.2", SWEEP, serial="S2", mac="aa:bb:cc:00:00:02")
                      ).id == by_mac.id
    assert inv.get(by_mac.id).flags == []


def test_a_key_claimed_by_two_serials_moves_to_the_newer_sighting(store: Store) -> None:
    inv = Inventory(store)
    old = inv.record(Sighting("10.0.2.1", SWEEP, serial="OLD", mac="aa:bb:cc:00:00:03"))
    # the network card went into another printer
    new = inv.record(Sighting("10.0.2.1", SWEEP, serial="NEW", mac="aa:bb:cc:00:00:03"))
    assert new.id != old.id
    assert inv.get(old.id).mac is None
    assert inv.get(new.id).mac == "aa:bb:cc:00:00:03"
    assert inv.get(old.id).addresses == []  # the address went with it
    kinds = [kind for _, _, kind, _ in inv.events(old.id)]
    assert "key-moved" in kinds and "address-lost" in kinds


def test_missing_devices_are_marked_never_deleted_and_return(store: Store) -> None:
    inv = Inventory(store)
    gone = inv.record(Sighting("10.0.3.1", SWEEP, serial="G"), now=0.0)
    here = inv.record(Sighting("10.0.3.2", SWEEP, serial="H"), now=1000.0)
    missing = inv.mark_missing(600.0, now=1001.0)
    assert [d.id for d in missing] == [gone.id]
    assert inv.get(gone.id).flags == ["missing"]
    assert inv.get(here.id).flags == []
    assert inv.mark_missing(600.0, now=1002.0) == []  # marked once
    back = inv.record(Sighting("10.0.3.1", SWEEP, serial="G"), now=2000.0)
    assert back.missing_since is None
    assert [k for _, _, k, _ in inv.events(gone.id)] == ["added", "missing", "returned"]


def test_inventory_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Store.in_directory(data) as store:
        Inventory(store).record(Sighting("10.0.4.1", SWEEP, serial="P1", uuid="u1",
                                         protocols=frozenset({"snmp", "ipp"}),
                                         ipp_uri="ipp://10.0.4.1:631/ipp/print",
                                         snmp_port=161, snmp_version=2))
    with Store.in_directory(data) as store:
        [device] = Inventory(store).devices()
    assert device.serial == "P1"
    assert device.protocols == ["ipp", "snmp"]
    assert device.ipp_uri == "ipp://10.0.4.1:631/ipp/print"
    assert (data.stat().st_mode & 0o777) == 0o700
    assert ((data / DATABASE_NAME).stat().st_mode & 0o777) == 0o600


def test_a_database_from_a_newer_printgw_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this printgw"):
        Store(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(StoreError, match="not a usable printgw database"):
        Store(path)


def test_a_failed_write_leaves_nothing_half_done(store: Store) -> None:
    inv = Inventory(store)
    inv.record(Sighting("10.0.5.1", SWEEP, serial="A"))
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as db:
        db.execute("INSERT INTO devices (serial, first_seen, last_seen) VALUES ('B', 0, 0)")
        db.execute("INSERT INTO devices (serial, first_seen, last_seen) VALUES ('A', 0, 0)")
    assert [d.serial for d in inv.devices()] == ["A"]
