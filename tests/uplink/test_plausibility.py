"""Page counters that rise faster than any printer prints are withheld and reported: unit tests of
the rule, and through the pipeline on a real store (what is uploaded, what the page shows)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from gateway.device.model import Counters, DeviceStatus
from gateway.fleet.inventory import Inventory, Sighting
from gateway.settings.loading import parse_config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.outbox import Outbox
from gateway.uplink.pipeline import UploadPipeline
from gateway.uplink.plausibility import (
    MAX_PAGES_PER_MINUTE,
    SLACK,
    withhold_implausible_counters,
)
from tests.support.outbox_entries import Clock

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def reading(minutes: float, **counters: int | None) -> DeviceStatus:
    return DeviceStatus(host="192.0.2.20", read_at=START + timedelta(minutes=minutes),
                        reachable={"snmp": True}, counters=Counters(**counters))


def test_a_plausible_rise_is_kept() -> None:
    current = reading(10, total=1000 + SLACK + 10 * MAX_PAGES_PER_MINUTE, mono=1200)
    withhold_implausible_counters(reading(0, total=1000, mono=1000), current)
    assert current.counters.total == 1000 + SLACK + 10 * MAX_PAGES_PER_MINUTE
    assert current.counters.mono == 1200 and not current.problems


def test_a_jump_beyond_what_a_printer_prints_is_withheld_and_reported() -> None:
    current = reading(5, total=4_000_000_000, color=510, mono=1_000_000)
    withhold_implausible_counters(reading(0, total=1000, color=500, mono=500), current)
    assert current.counters == Counters(total=None, color=510, mono=None)
    assert [(p.source, p.where) for p in current.problems] == [("counters", "total"),
                                                                ("counters", "mono")]
    assert "rose from 1000 to 4000000000 in 5 min" in current.problems[0].message


def test_a_first_reading_and_an_unknown_are_not_judged_a_fall_is() -> None:
    """Issue 17: a counter going backwards is withheld too (docs/meters.md)."""
    first = reading(0, total=10**8)
    withhold_implausible_counters(None, first)
    fall = reading(1, total=5)
    withhold_implausible_counters(reading(0, total=10**6), fall)
    unknown = reading(1, total=10**8)
    withhold_implausible_counters(reading(0), unknown)
    assert (first.counters.total, fall.counters.total, unknown.counters.total) == (
        10**8, None, 10**8)
    assert not first.problems + unknown.problems
    assert [(p.where, "went backwards from 1000000 to 5" in p.message)
            for p in fall.problems] == [("total", True)]


def test_through_the_pipeline_a_glitch_is_never_uploaded_and_a_lasting_change_is_taken(
        tmp_path) -> None:
    store = Store(tmp_path / "gateway.db")
    clock = Clock()
    device = Inventory(store).record(Sighting(address="192.0.2.20", sources=frozenset({"static"}),
                                              serial="SN-20"))
    state = CloudState(store, clock)
    state.set_printer(device.id, "11111111-2222-4333-8444-555555555555", "SN-20")
    state.set_transmission_types(device.id, ["counters.total"], ["counters.total"])
    config = parse_config({"poll": {"periodic_upload": 1}})
    outbox = Outbox(store, clock=clock)
    pipeline = UploadPipeline(lambda: config.events, lambda: config.poll, state, outbox,
                              clock=clock)

    def upload(minutes: float, total: int) -> object:
        """The total page count the periodic upload of this reading carries."""
        clock.now = (START + timedelta(minutes=minutes)).timestamp()
        [entry] = pipeline.record(device, reading(minutes, total=total))
        counters = entry.data["counters.total"]
        assert isinstance(counters, dict)
        return counters.get("total")

    assert upload(0, 1000) == 1000
    assert upload(5, 2**40) is None, "a jump of a trillion pages in 5 minutes is withheld"
    summary = json.loads(store.conn.execute(
        "SELECT summary FROM device_readings WHERE device_id = ?", (device.id,)).fetchone()[0])
    assert any("rose from 1000" in problem for problem in summary["problems"]), summary
    assert upload(10, 1100) == 1100, "the glitch passed: the next reading is used"
    assert upload(15, 50_000_000) is None
    assert upload(20, 50_000_020) == 50_000_020, "a lasting new base is taken after one reading"
    store.close()
