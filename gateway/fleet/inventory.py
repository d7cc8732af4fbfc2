"""The inventory: one record per physical printer, whatever address or protocol it was seen by.

A device is identified by its serial number, then its IPP printer-uuid, then its MAC address.
Sightings (from mDNS, the SNMP sweep or the static list) are merged into the record those keys
point to, so a printer seen by mDNS and by the sweep is one record, and a printer that gets a new
address from DHCP keeps its record.  Nothing is ever deleted silently: devices that stop answering
are marked missing, merges and address changes are written to `inventory_events`.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields

from gateway.store import Store

log = logging.getLogger(__name__)

KEYS = ("serial", "uuid", "mac")
"""Identity keys, strongest first."""


@dataclass(frozen=True)
class Sighting:
    """One device seen at one address during a discovery."""

    address: str
    sources: frozenset[str]
    """How it was found: `mdns`, `snmp-sweep`, `static`."""
    serial: str | None = None
    uuid: str | None = None
    mac: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    hostname: str | None = None
    protocols: frozenset[str] = frozenset()
    """Protocols it answered: `snmp`, `ipp`, `ipps`."""
    ipp_uri: str | None = None
    snmp_port: int | None = None
    snmp_version: int | None = None
    snmp_user: str | None = None
    services: tuple[str, ...] = ()
    """DNS-SD service instance names it advertises."""

    def key(self, name: str) -> str | None:
        return normalise_key(name, getattr(self, name))


@dataclass
class Device:
    """A device record as stored."""

    id: int
    serial: str | None
    uuid: str | None
    mac: str | None
    manufacturer: str | None
    model: str | None
    hostname: str | None
    ipp_uri: str | None
    snmp_port: int | None
    snmp_version: int | None
    snmp_user: str | None
    sources: list[str]
    protocols: list[str]
    services: list[str]
    first_seen: float
    last_seen: float
    missing_since: float | None
    addresses: list[str] = field(default_factory=list)
    """Current addresses, IPv4 first."""

    @property
    def address(self) -> str | None:
        return self.addresses[0] if self.addresses else None

    @property
    def flags(self) -> list[str]:
        """What is wrong with the record: `serial-unreadable`, `no-identity`, `missing`."""
        flags = []
        if self.serial is None:
            flags.append("serial-unreadable")
            if self.uuid is None and self.mac is None:
                flags.append("no-identity")
        if self.missing_since is not None:
            flags.append("missing")
        return flags

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id, "serial": self.serial, "uuid": self.uuid, "mac": self.mac,
            "manufacturer": self.manufacturer, "model": self.model, "hostname": self.hostname,
            "addresses": list(self.addresses), "sources": list(self.sources),
            "protocols": list(self.protocols), "ipp_uri": self.ipp_uri,
            "snmp_port": self.snmp_port, "snmp_version": self.snmp_version,
            "snmp_user": self.snmp_user, "services": list(self.services),
            "first_seen": self.first_seen, "last_seen": self.last_seen,
            "missing_since": self.missing_since, "flags": self.flags,
        }


def normalise_key(name: str, value: str | None) -> str | None:
    """Keys compare the way devices vary in writing them: UUIDs and MACs case-insensitively."""
    if value is None:
        return None
    value = value.strip()
    if name == "uuid":
        value = value.lower().removeprefix("urn:uuid:")
    elif name == "mac":
        value = value.lower().replace("-", ":")
    return value or None


_DEVICE_COLUMNS = ("manufacturer", "model", "hostname", "ipp_uri", "snmp_port", "snmp_version",
                   "snmp_user")
_LIST_COLUMNS = ("sources", "protocols", "services")


class Inventory:
    """Reads and writes device records in the gateway's store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- recording sightings -------------------------------------------------------------------

    def record(self, sighting: Sighting, now: float | None = None) -> Device:
        """Merge one sighting into the inventory and return the device's record."""
        return self.record_all([sighting], now)[0]

    def record_all(self, sightings: Sequence[Sighting], now: float | None = None,
                   ) -> list[Device]:
        """Merge `sightings` in order, in one transaction (one commit for a whole discovery run
        or batch, not one per device); the devices' records, in the same order."""
        now = time.time() if now is None else now
        ids = []
        merged: dict[int, int] = {}  # a record a later sighting folded into another: old -> new
        with self.store.transaction() as db:
            for sighting in sightings:
                device_id = self._resolve(db, sighting, now, merged)
                if device_id is None:
                    device_id = self._insert(db, sighting, now)
                else:
                    self._update(db, device_id, sighting, now)
                self._place_address(db, device_id, sighting.address, now)
                ids.append(device_id)
        for i, device_id in enumerate(ids):
            while device_id in merged:
                device_id = merged[device_id]
            ids[i] = device_id
        by_id = {d.id: d for d in self._load(ids)}
        return [by_id[i] for i in ids]

    def _resolve(self, db: sqlite3.Connection, s: Sighting, now: float,
                 merged: dict[int, int]) -> int | None:
        """The record this sighting belongs to; other records it proves to be the same device
        are merged into it, and keys that moved to another device are taken from the old one."""
        rows = {name: _find(db, name, s.key(name)) for name in KEYS}
        if not any(s.key(name) for name in KEYS):
            return _find_anonymous(db, s.address)
        target: sqlite3.Row | None = None
        for name in KEYS:
            row = rows[name]
            if row is None:
                continue
            if target is None:
                if _conflicts(row, s):
                    _take_key(db, row, name, f"{name} {s.key(name)} now belongs to another device",
                              now)
                    continue
                target = row
            elif row["id"] != target["id"]:
                if _conflicts(row, s) or _conflicts(row, target):
                    _take_key(db, row, name, f"{name} {s.key(name)} now belongs to another device",
                              now)
                else:
                    _merge(db, source=row, into=target, now=now)
                    merged[row["id"]] = target["id"]
        return None if target is None else target["id"]

    def _insert(self, db: sqlite3.Connection, s: Sighting, now: float) -> int:
        values = {name: s.key(name) for name in KEYS}
        values.update({name: getattr(s, name) for name in _DEVICE_COLUMNS})
        values.update(sources=_dump(s.sources), protocols=_dump(s.protocols),
                      services=_dump(s.services), first_seen=now, last_seen=now)
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = db.execute(f"INSERT INTO devices ({columns}) VALUES ({marks})",
                            tuple(values.values()))
        device_id = int(cursor.lastrowid or 0)
        _event(db, device_id, now, "added", _describe(s))
        log.info("new device %s at %s", _describe(s), s.address)
        return device_id

    def _update(self, db: sqlite3.Connection, device_id: int, s: Sighting, now: float) -> None:
        row = db.execute("SELECT * FROM devices WHERE id = ?", (device_id,)).fetchone()
        values: dict[str, object] = {"last_seen": now, "missing_since": None}
        for name in KEYS:
            if s.key(name) is not None and row[name] is None:
                values[name] = s.key(name)
        for name in _DEVICE_COLUMNS:
            if getattr(s, name) is not None:
                values[name] = getattr(s, name)
        for name in _LIST_COLUMNS:
            values[name] = _dump(set(json.loads(row[name])) | set(getattr(s, name)))
        if row["missing_since"] is not None:
            _event(db, device_id, now, "returned", f"seen again at {s.address}")
        assignments = ", ".join(f"{name} = ?" for name in values)
        db.execute(f"UPDATE devices SET {assignments} WHERE id = ?", (*values.values(), device_id))

    def _place_address(self, db: sqlite3.Connection, device_id: int, address: str,
                       now: float) -> None:
        """The address is the device's now; any other device that had it has lost it."""
        for other in db.execute("SELECT device_id FROM device_addresses WHERE address = ? AND "
                                "current = 1 AND device_id != ?", (address, device_id)):
            _leave_address(db, other["device_id"], address, now, "address-lost",
                           f"{address} is now used by device {device_id}")
        known = db.execute("SELECT current FROM device_addresses WHERE device_id = ? AND "
                           "address = ?", (device_id, address)).fetchone()
        if known is None:
            db.execute("INSERT INTO device_addresses (device_id, address, first_seen, last_seen) "
                       "VALUES (?, ?, ?, ?)", (device_id, address, now, now))
            if db.execute("SELECT 1 FROM device_addresses WHERE device_id = ? AND address != ?",
                          (device_id, address)).fetchone():
                _event(db, device_id, now, "address-added", address)
        else:
            db.execute("UPDATE device_addresses SET last_seen = ?, current = 1 WHERE "
                       "device_id = ? AND address = ?", (now, device_id, address))

    def end_run(self, started: float, device_ids: Iterable[int], now: float | None = None) -> None:
        """Close a discovery run: the devices it saw are no longer at addresses it did not see."""
        now = time.time() if now is None else now
        seen = set(device_ids)
        with self.store.transaction() as db:
            stale = db.execute("SELECT device_id, address FROM device_addresses WHERE "
                               "current = 1 AND last_seen < ?", (started,)).fetchall()
            for row in stale:
                if row["device_id"] in seen:
                    _leave_address(db, row["device_id"], row["address"], now, "address-gone",
                                   row["address"])

    def mark_missing(self, missing_after: float, now: float | None = None) -> list[Device]:
        """Flag devices not seen for `missing_after` seconds; they are kept, never deleted."""
        now = time.time() if now is None else now
        with self.store.transaction() as db:
            rows = db.execute("SELECT id, last_seen FROM devices WHERE missing_since IS NULL AND "
                              "last_seen < ?", (now - missing_after,)).fetchall()
            for row in rows:
                db.execute("UPDATE devices SET missing_since = ? WHERE id = ?", (now, row["id"]))
                _event(db, row["id"], now, "missing",
                       f"not seen for {now - row['last_seen']:.0f} s")
        return self._load([row["id"] for row in rows])

    # -- reading --------------------------------------------------------------------------------

    def get(self, device_id: int) -> Device:
        devices = self._load([device_id])
        if not devices:
            raise KeyError(device_id)
        return devices[0]

    def devices(self) -> list[Device]:
        """Every device, by ID: two queries, whatever the size of the fleet."""
        return self._devices(_rows(self.store.conn, f"{_DEVICES} ORDER BY id"),
                             _rows(self.store.conn, _ADDRESSES + _RECENT_FIRST))

    def _load(self, device_ids: Iterable[int]) -> list[Device]:
        """The devices of `device_ids` that exist, by ID, read in chunks (SQLite's limit on
        host parameters)."""
        wanted = sorted(set(device_ids))
        devices: list[Device] = []
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            marks = ", ".join("?" for _ in chunk)
            conn = self.store.conn
            devices += self._devices(
                _rows(conn, f"{_DEVICES} WHERE id IN ({marks}) ORDER BY id", chunk),
                _rows(conn, f"{_ADDRESSES} AND device_id IN ({marks}){_RECENT_FIRST}", chunk))
        return devices

    def find(self, **keys: str) -> Device | None:
        """The device with `serial=`, `uuid=` or `mac=` (the first key given that matches)."""
        for name, value in keys.items():
            if name not in KEYS:
                raise ValueError(f"not an identity key: {name}")
            row = _find(self.store.conn, name, normalise_key(name, value))
            if row is not None:
                return self.get(row["id"])
        return None

    def events(self, device_id: int | None = None) -> list[tuple[int, float, str, str]]:
        """(device id, time, kind, detail), oldest first."""
        query = "SELECT device_id, at, kind, detail FROM inventory_events"
        args: tuple[object, ...] = ()
        if device_id is not None:
            query += " WHERE device_id = ?"
            args = (device_id,)
        rows = self.store.conn.execute(query + " ORDER BY id", args).fetchall()
        return [(r["device_id"], r["at"], r["kind"], r["detail"]) for r in rows]

    @staticmethod
    def _devices(rows: Iterable[tuple], addresses: Iterable[tuple]) -> list[Device]:
        """Device records from their rows (`_DEVICES`) and the rows of their current addresses
        (`_ADDRESSES`, most recent first): plain tuples, the lists decoded once for all the
        devices that have the same (a cycle lists every device)."""
        by_device: dict[int, list[str]] = {}
        for device_id, address in addresses:
            by_device.setdefault(device_id, []).append(address)
        devices = []
        for row in rows:
            values = dict(zip(_RECORD_FIELDS, row, strict=True))
            for name in _LIST_COLUMNS:
                values[name] = list(_json_list(values[name]))
            found = by_device.get(row[0], [])
            found.sort(key=lambda a: ":" in a)  # IPv4 first, most recent first within each
            devices.append(Device(**values, addresses=found))
        return devices


def _rows(conn: sqlite3.Connection, query: str, args: Sequence[object] = ()) -> sqlite3.Cursor:
    """The rows of `query` as plain tuples (`sqlite3.Row` costs a lookup by name per value)."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(query, args)


@functools.lru_cache(maxsize=1024)
def _json_list(text: str) -> tuple[str, ...]:
    """A list column's value (a tuple: the same one is handed to every device that has it)."""
    return tuple(json.loads(text))


_RECORD_FIELDS = tuple(f.name for f in fields(Device) if f.name != "addresses")
_DEVICES = f"SELECT {', '.join(_RECORD_FIELDS)} FROM devices"
_ADDRESSES = "SELECT device_id, address FROM device_addresses WHERE current = 1"
_RECENT_FIRST = " ORDER BY last_seen DESC"
_CHUNK = 500
"""Device IDs per query (SQLite allows 999 host parameters in older builds)."""


def _find(db: sqlite3.Connection, name: str, value: str | None) -> sqlite3.Row | None:
    if value is None:
        return None
    return db.execute(f"SELECT * FROM devices WHERE {name} = ?", (value,)).fetchone()


def _find_anonymous(db: sqlite3.Connection, address: str) -> int | None:
    """A device with no identity at all is known only by its address."""
    # By the address first: the unique indexes of the keys would otherwise serve `IS NULL`, a
    # scan of every device without that key (all of them, in a fleet without MACs).
    row = db.execute(
        "SELECT d.id FROM device_addresses a CROSS JOIN devices d ON d.id = a.device_id "
        "WHERE a.address = ? AND a.current = 1 AND +d.serial IS NULL AND +d.uuid IS NULL "
        "AND +d.mac IS NULL", (address,)).fetchone()
    return None if row is None else int(row["id"])


def _conflicts(row: sqlite3.Row, other: Sighting | sqlite3.Row) -> bool:
    """Both carry a serial, and they differ: two different devices."""
    serial = other.key("serial") if isinstance(other, Sighting) else other["serial"]
    return row["serial"] is not None and serial is not None and row["serial"] != serial


def _take_key(db: sqlite3.Connection, row: sqlite3.Row, name: str, why: str,
              now: float) -> None:
    db.execute(f"UPDATE devices SET {name} = NULL WHERE id = ?", (row["id"],))
    _event(db, row["id"], now, "key-moved", why)
    log.warning("device %s: %s", row["id"], why)


def _merge(db: sqlite3.Connection, source: sqlite3.Row, into: sqlite3.Row, now: float) -> None:
    """Two records turned out to be one device: fold `source` into `into`, keep its history."""
    keys = {name: source[name] for name in KEYS if source[name] is not None}
    db.execute(f"UPDATE devices SET {', '.join(f'{n} = NULL' for n in KEYS)} WHERE id = ?",
               (source["id"],))
    target = db.execute("SELECT * FROM devices WHERE id = ?", (into["id"],)).fetchone()
    values: dict[str, object] = {n: v for n, v in keys.items() if target[n] is None}
    for name in _DEVICE_COLUMNS:
        if target[name] is None and source[name] is not None:
            values[name] = source[name]
    for name in _LIST_COLUMNS:
        values[name] = _dump(set(json.loads(target[name])) | set(json.loads(source[name])))
    values["first_seen"] = min(target["first_seen"], source["first_seen"])
    assignments = ", ".join(f"{name} = ?" for name in values)
    db.execute(f"UPDATE devices SET {assignments} WHERE id = ?", (*values.values(), into["id"]))
    for address in db.execute("SELECT * FROM device_addresses WHERE device_id = ?",
                              (source["id"],)).fetchall():
        db.execute("INSERT INTO device_addresses (device_id, address, first_seen, last_seen, "
                   "current) VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, address) DO UPDATE "
                   "SET first_seen = min(first_seen, excluded.first_seen), "
                   "last_seen = max(last_seen, excluded.last_seen), "
                   "current = max(current, excluded.current)",
                   (into["id"], address["address"], address["first_seen"], address["last_seen"],
                    address["current"]))
    db.execute("UPDATE inventory_events SET device_id = ? WHERE device_id = ?",
               (into["id"], source["id"]))
    db.execute("DELETE FROM devices WHERE id = ?", (source["id"],))
    _event(db, into["id"], now, "merged", f"record {source['id']} was the same device")
    log.info("device %s merged into %s", source["id"], into["id"])


def _leave_address(db: sqlite3.Connection, device_id: int, address: str, now: float, kind: str,
                   detail: str) -> None:
    """The device is no longer at `address` (the record of it stays), and the event says why."""
    db.execute("UPDATE device_addresses SET current = 0 WHERE device_id = ? AND address = ?",
               (device_id, address))
    _event(db, device_id, now, kind, detail)


def _event(db: sqlite3.Connection, device_id: int, now: float, kind: str, detail: str) -> None:
    db.execute("INSERT INTO inventory_events (device_id, at, kind, detail) VALUES (?, ?, ?, ?)",
               (device_id, now, kind, detail))


def _dump(values: Iterable[str]) -> str:
    return json.dumps(sorted(set(values)))


def _describe(s: Sighting) -> str:
    name = " ".join(x for x in (s.manufacturer, s.model) if x) or "device"
    key = next((f"{k} {s.key(k)}" for k in KEYS if s.key(k)), f"address {s.address}")
    return f"{name} ({key})"
