"""The work each reading costs the pipeline, done once (issue 20): the store asked for the
device's recent levels at most once per reading (the forecast and the level history share the
answer; after a device's first reading they come from memory: tests/uplink/test_recent_history.py),
and the baseline for the next reading copied through the reading's document, equal to a deep
copy and sharing nothing with the reading."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from gateway.device.model import (
    Alert,
    Contract,
    Counters,
    DeviceStatus,
    Identity,
    Problem,
    State,
    Supply,
)
from gateway.device.supply_forecast import SupplyForecast
from gateway.fleet.inventory import Device, Inventory, Sighting
from gateway.fleet.readings import supply_forecasts
from gateway.settings.loading import parse_config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.events import baseline
from gateway.uplink.outbox import Outbox
from gateway.uplink.pipeline import UploadPipeline
from tests.support.outbox_entries import Clock

RECENT_LEVELS = ("FROM level_history WHERE device_id = ", "GROUP BY supply_index")
"""Parts of the recent-levels query (the trace shows it with its parameters bound)."""


def full_reading(at: datetime, level: int) -> DeviceStatus:
    """A reading with every part of a `DeviceStatus` filled."""
    return DeviceStatus(
        host="192.0.2.7", read_at=at, reachable={"snmp": True, "ipp": True},
        identity=Identity(serial="SN-7", manufacturer="HP", model="Color LaserJet",
                          location="2nd floor"),
        supplies=[Supply(index="1.1", kind="toner", color="black", level_percent=level,
                         level_state="known", raw_level=level, max_capacity=100,
                         supply_class="consumed", part="toner"),
                  Supply(index="1.2", kind="wasteToner", level_state="some-remaining",
                         raw_level=-3, supply_class="filled")],
        counters=Counters(total=12_000 + 100 * (100 - level), color=4_000),
        state=State(printer_state="idle", reasons=["toner-low"], message="Ready",
                    alerts=[Alert(index="1", severity="warning", code="tonerLow")]),
        contract=Contract(supported=True, mode="normal"),
        sources={"identity.serial": "snmp:prtGeneralSerialNumber"},
        functions={"print": "snmp:hrDeviceType.1=hrDevicePrinter"},
        problems=[Problem("ipp", "read", "slow")],
        forecasts=[SupplyForecast(index="1.1", days_to_empty=12.5, pages_remaining=900)])


def test_a_copy_is_equal_and_shares_nothing() -> None:
    status = full_reading(datetime(2026, 12, 7, 5, 0, tzinfo=UTC), 40)
    copied = status.copy()
    assert copied == status == copy.deepcopy(status)
    copied.supplies[0].level_percent = 1
    copied.state.alerts[0].code = "other"
    copied.state.reasons.append("paused")
    copied.identity.serial = "changed"
    copied.sources["x"] = "y"
    copied.forecasts.clear()
    assert status == full_reading(datetime(2026, 12, 7, 5, 0, tzinfo=UTC), 40)


def test_the_baseline_is_a_copy_with_what_the_reading_does_not_know() -> None:
    at = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
    previous, current = full_reading(at, 40), full_reading(at + timedelta(minutes=5), 40)
    asleep = current.supplies[0]
    asleep.level_percent, asleep.level_state, asleep.raw_level = None, "unknown", None
    current.state.printer_state = "unknown"
    memory = baseline(previous, current)
    assert memory is not current and memory.supplies[0].level_percent == 40
    assert memory.state.printer_state == "idle" and memory.read_at == current.read_at
    assert current.supplies[0].level_percent is None  # the reading itself is left as it was


@contextmanager
def level_queries(store: Store) -> Iterator[list[str]]:
    seen: list[str] = []
    store.conn.set_trace_callback(
        lambda sql: seen.append(sql) if all(part in sql for part in RECENT_LEVELS) else None)
    try:
        yield seen
    finally:
        store.conn.set_trace_callback(None)


def test_recent_levels_are_asked_at_most_once_per_reading(store: Store) -> None:
    clock = Clock()
    config = parse_config({"poll": {"periodic_upload": 3600}})
    state = CloudState(store, clock)
    pipeline = UploadPipeline(lambda: config.events, lambda: config.poll, state,
                              Outbox(store, clock=clock), clock=clock)
    inventory = Inventory(store)
    devices: list[Device] = [inventory.record(Sighting(
        address=f"192.0.2.{n}", sources=frozenset({"static"}), serial=f"SN-{n}"))
        for n in (1, 2)]
    state.set_printer(devices[1].id, "3f0c8d2e-4b7a-4c8e-9a51-6d2b7e9f1a20", "SN-2")
    state.set_transmission_types(devices[1].id, ["supplies.level", "supplies.forecast"],
                                 ["supplies.level", "supplies.forecast"])
    for step, level in enumerate((90, 90, 80, 70)):
        clock.now += 3 * 3600
        at = datetime.fromtimestamp(clock.now, UTC)
        readings = [(device, full_reading(at, level)) for device in devices]
        expected = []
        for device, status in readings:  # what the forecast is without the shared answer
            status.forecasts = []
            expected.append(supply_forecasts(store.conn, device.id, copy.deepcopy(status)))
        with level_queries(store) as seen:
            results = pipeline.record_many(readings)
        # once per reading at most: at a device's first reading (later ones: from memory)
        assert len(seen) == (len(readings) if step == 0 else 0), step
        assert [status.forecasts for _, status in readings] == expected
        assert results[0] == [] and results[1]  # unregistered; registered: periodic or events
