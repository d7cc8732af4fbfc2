"""What the end-to-end uplink tests look at (`tests/support/uplink_harness.py` set-ups): the
gateway's database, read-only (the daemon owns it), the status uploads the fault proxy passed, the
printers the gateway registered and their contracts."""

from __future__ import annotations

import contextlib
import gzip
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from gateway.store import DATABASE_NAME
from tests.support.uplink_harness import Harness

# -- what the gateway has on disk ------------------------------------------------------------------

@contextlib.contextmanager
def gateway_db(h: Harness) -> Iterator[sqlite3.Connection]:
    """The gateway's database, opened read-only."""
    conn = sqlite3.connect(f"file:{h.data_dir / DATABASE_NAME}?mode=ro", uri=True, timeout=5)
    try:
        yield conn
    finally:
        conn.close()


def outbox(h: Harness) -> list[tuple[str, str, str, int, str | None]]:
    """(entry_id, printer_id, event, attempts, last_error) of every queued entry."""
    with gateway_db(h) as db:
        return db.execute("SELECT entry_id, printer_id, event, attempts, last_error FROM outbox "
                          "ORDER BY seq").fetchall()


def rejected(h: Harness) -> list[tuple[str, str, str, str]]:
    """(entry_id, printer_id, code, detail) of every entry the cloud rejected."""
    with gateway_db(h) as db:
        return db.execute("SELECT entry_id, printer_id, code, detail FROM outbox_rejected "
                          "ORDER BY rejected_at").fetchall()


def black_level_read(h: Harness, serial: str) -> int | None:
    """The black toner level in the gateway's last stored reading of the printer (the entries
    a reading causes are committed with it)."""
    with gateway_db(h) as db:
        row = db.execute("SELECT s.status FROM last_status s JOIN cloud_printers p "
                         "USING (device_id) WHERE p.serial = ?", (serial,)).fetchone()
    if row is None:
        return None
    for supply in json.loads(row[0])["supplies"]:
        if supply["color"] == "black" and supply["kind"] == "toner":
            return supply["level_percent"]
    return None


# -- the fleet, the cloud and the link -------------------------------------------------------------

async def set_level_and_wait_for_a_poll(h: Harness, index: int, level: int) -> None:
    """Set the level, and wait until the gateway has read it (a reading merely taken after the
    change may have been answered before it)."""
    printer = h.fleet.printers[index]
    printer.state.set_level("black", level)
    await h.wait_for(lambda: black_level_read(h, printer.state.serial) == level, 10,
                     f"a poll of printer {index} after its black level went to {level}")


async def printer_ids(h: Harness, count: int) -> dict[str, str]:
    """Serial → printer ID once the gateway has registered `count` printers."""
    printers = await h.wait_for(lambda: _registered(h, count), 30, f"{count} printers registered")
    return {serial: view["printer_id"] for serial, view in printers.items()}


async def _registered(h: Harness, count: int) -> dict[str, dict[str, Any]] | None:
    printers = await h.printers()
    return printers if len(printers) == count else None


async def monitoring_everywhere(h: Harness, ids: dict[str, str]) -> None:
    """Contract every printer to a service requesting `supplies.level`; wait for each printer's
    first (periodic) upload, which needs the gateway to have learnt the requested types."""
    await h.operator.put_service("monitoring", ["supplies.level"])
    for printer_id in ids.values():
        await h.operator.contract(printer_id, "monitoring")

    async def all_uploaded() -> bool:
        return all([await h.statuses(printer_id) for printer_id in ids.values()])
    await h.wait_for(all_uploaded, 15, "a first upload of every printer")


def assert_no_duplicates(statuses: list[dict[str, Any]]) -> None:
    """No entry ID twice, and no two entries with the same event, reading time and data."""
    entry_ids = [s["entry_id"] for s in statuses]
    assert len(entry_ids) == len(set(entry_ids)), entry_ids
    contents = [(s["event"], s["read_at"], repr(sorted(s["data"].items()))) for s in statuses]
    assert len(contents) == len(set(contents)), contents


def uploaded_entries(h: Harness, after: int = 0) -> list[list[str]]:
    """The entry IDs of each status upload the proxy received (after its first `after`
    requests)."""
    batches = []
    for method, path, body in h.proxy.bodies[after:]:
        if method == "POST" and path == "/v1/statuses":
            raw = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
            batches.append([e["entry_id"] for e in json.loads(raw)["statuses"]])
    return batches
