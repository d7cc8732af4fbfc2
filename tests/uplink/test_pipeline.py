"""The upload pipeline (`gateway/uplink/pipeline.py`) on a real store: what each reading of a
device queues in the outbox, and that it is kept with the reading; and the typed reading's
round trip through the JSON the store keeps it as."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.device.model import (
    Alert,
    Contract,
    Counters,
    DeviceStatus,
    Identity,
    State,
    Supply,
)
from gateway.device.reader import DeviceReader
from gateway.fleet.inventory import Device, Inventory, Sighting
from gateway.settings.loading import parse_config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.outbox import Outbox
from gateway.uplink.pipeline import UploadPipeline
from gateway.uplink.services import decide_activation
from protocols.cloud.models import ActivationResult, EventDetail
from protocols.cloud.registration import Application
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from tests.support.outbox_entries import Clock

PRINTER_ID = "3f0c8d2e-4b7a-4c8e-9a51-6d2b7e9f1a20"
PERIODIC = 3600.0


@pytest.fixture
def device(store: Store) -> Device:
    return Inventory(store).record(Sighting(address="192.0.2.10",
                                            sources=frozenset({"static"}), serial="SN-1"))


def pipeline(store: Store, clock: Clock) -> UploadPipeline:
    config = parse_config({"poll": {"periodic_upload": PERIODIC}})
    state = CloudState(store, clock)
    return UploadPipeline(lambda: config.events, lambda: config.poll, state,
                          Outbox(store, clock=clock), clock=clock)


def register(store: Store, device: Device, *data_types: str) -> None:
    state = CloudState(store)
    state.set_printer(device.id, PRINTER_ID, "SN-1")
    state.set_transmission_types(device.id, data_types, data_types)


def reading(clock: Clock, *levels: int | None, printer_state: str = "idle") -> DeviceStatus:
    """A reading at the clock's time, one black toner per level (None: asleep, unknown)."""
    return DeviceStatus(
        host="192.0.2.10", read_at=datetime.fromtimestamp(clock.now, UTC),
        reachable={"snmp": True}, identity=Identity(serial="SN-1", model="LaserJet"),
        supplies=[Supply(index=f"1.{i}", kind="toner", color="black", level_percent=level,
                         level_state="unknown" if level is None else "known",
                         raw_level=-2 if level is None else level,
                         max_capacity=-2 if level is None else 100, supply_class="consumed")
                  for i, level in enumerate(levels, 1)],
        counters=Counters(total=1200), state=State(printer_state=printer_state))


def page_reading(store: Store, device: Device) -> dict:
    row = store.conn.execute("SELECT summary FROM device_readings WHERE device_id = ?",
                             (device.id,)).fetchone()
    return json.loads(row[0])


# -- the typed reading and its JSON ----------------------------------------------------------------

def test_a_reading_reads_back_from_its_json() -> None:
    status = DeviceStatus(
        host="192.0.2.10", reachable={"snmp": False, "ipp": True},
        identity=Identity(serial="SN-1", manufacturer="HP", mac="aa:bb:cc:00:00:01"),
        supplies=[Supply(index="1.1", kind="wasteToner", level_percent=8, level_state="known",
                         raw_level=80, max_capacity=1000, supply_class="filled",
                         over_capacity=True, cartridge_type="contract", cartridge_id="K-1",
                         cartridge_new=False),
                  Supply(index="ipp.1", level_state="some-remaining", source="ipp")],
        counters=Counters(total=5, mono=3, color=2, contract=4, cartridge_replacements=1),
        state=State(printer_state="stopped", reasons=["media-jam-error"], message="Jam",
                    alerts=[Alert(index="3", severity="critical", code="jam")], abnormal=True),
        contract=Contract(supported=True, mode="contract", printing_prohibited=False),
        sources={"identity.serial": "snmp:prtGeneralSerialNumber"})
    status.problem("snmp", "prtAlertTable", "row 4 has no code")
    document = status.to_json()
    again = DeviceStatus.from_json(json.loads(json.dumps(document)))
    assert again == status
    assert again.to_json() == document
    assert again.supplies[0].supply_class == "filled"  # `class` in the document


async def test_a_real_printers_reading_reads_back_from_its_json(
        recorded_printers: tuple[str, int]) -> None:
    host, port = recorded_printers
    async with DeviceReader() as reader:
        for name in ("xerox", "jetdirect_m130nw", "brother"):
            status = await reader.read(host, SnmpTarget(host, port, SnmpCredentials(
                version=2, community=name)), None)
            assert status.supplies and status.identity.model, name
            again = DeviceStatus.from_json(json.loads(json.dumps(status.to_json())))
            assert again == status, name


def test_a_reading_stored_by_an_older_version_takes_the_defaults() -> None:
    old = DeviceStatus.from_json({"host": "192.0.2.10", "read_at": "2025-07-01T10:15:02Z",
                                  "supplies": [{"index": "1.1", "kind": "toner"}],
                                  "state": {"printer_state": "idle", "reasons": None}})
    assert old.read_at == datetime(2025, 7, 1, 10, 15, 2, tzinfo=UTC)
    assert old.supplies == [Supply(index="1.1", kind="toner")]
    assert (old.state.reasons, old.contract.supported, old.reachable) == ([], False, {})


# -- what a reading queues -------------------------------------------------------------------------

def test_an_unregistered_device_queues_nothing_but_its_reading_is_kept(
        store: Store, clock: Clock, device: Device) -> None:
    uploads = pipeline(store, clock)
    assert uploads.record(device, reading(clock, 40)) == []
    assert uploads.outbox.depth() == 0
    assert uploads.state.last_status(device.id) is None, "its first upload will be periodic"
    kept = page_reading(store, device)
    assert kept["identity"]["serial"] == "SN-1"
    assert [s["level_percent"] for s in kept["supplies"]] == [40]


def test_the_first_reading_of_a_registered_device_is_periodic(
        store: Store, clock: Clock, device: Device) -> None:
    register(store, device, "supplies.level", "state")
    uploads = pipeline(store, clock)
    status = reading(clock, 40)
    [entry] = uploads.record(device, status)
    assert (entry.event, entry.printer_id, entry.event_detail) == ("periodic", PRINTER_ID, None)
    assert entry.read_at == status.to_json()["read_at"]
    assert list(entry.data) == ["supplies.level", "state"]
    assert [s["level_percent"] for s in entry.data["supplies.level"]] == [40]
    assert entry.data["state"]["reachable"] == {"snmp": True}
    assert [p.entry for p in uploads.outbox.due()] == [entry]
    assert uploads.state.last_periodic(device.id) == clock.now

    clock.now += 60
    assert uploads.record(device, reading(clock, 40)) == [], "nothing new, not yet periodic"
    clock.now += PERIODIC
    assert [e.event for e in uploads.record(device, reading(clock, 40))] == ["periodic"]
    assert uploads.outbox.depth() == 2


def test_a_newly_requested_type_is_sent_with_the_next_reading(
        store: Store, clock: Clock, device: Device) -> None:
    """A service activated after the device's periodic upload gets its data at the next reading,
    not at the next periodic upload; the same table again changes nothing."""
    register(store, device, "supplies.cartridge")
    uploads = pipeline(store, clock)
    assert [e.event for e in uploads.record(device, reading(clock, 40))] == ["periodic"]
    clock.now += 60
    assert uploads.record(device, reading(clock, 40)) == []
    register(store, device, "supplies.cartridge")
    clock.now += 60
    assert uploads.record(device, reading(clock, 40)) == [], "the same table: nothing new"
    register(store, device, "supplies.cartridge", "state")
    clock.now += 60
    [entry] = uploads.record(device, reading(clock, 40))
    assert entry.event == "periodic" and list(entry.data) == ["supplies.cartridge", "state"]
    clock.now += 60
    assert uploads.record(device, reading(clock, 40)) == []


def test_a_threshold_crossing_is_an_event_with_only_the_transmission_types(
        tmp_path: Path, clock: Clock) -> None:
    """Detected against the previous reading the store kept, also after a restart; an
    asleep reading (levels unknown) in between is no news and does not hide the crossing."""
    with Store.in_directory(tmp_path) as store:
        device = Inventory(store).record(Sighting(address="192.0.2.10",
                                                  sources=frozenset({"static"}), serial="SN-1"))
        register(store, device, "supplies.level")
        assert [e.event for e in pipeline(store, clock).record(device, reading(clock, 25, 60))] \
            == ["periodic"]
        clock.now += 60
        assert pipeline(store, clock).record(device, reading(clock, None, None)) == []
    clock.now += 60
    with Store.in_directory(tmp_path) as store:
        uploads = pipeline(store, clock)
        [entry] = uploads.record(device, reading(clock, 18, 59))
        assert entry.event == "threshold-crossed"
        assert entry.event_detail == EventDetail(supply_index="1.1", threshold_percent=20)
        assert list(entry.data) == ["supplies.level"]
        assert [s["level_percent"] for s in entry.data["supplies.level"]] == [18, 59]
        assert entry.to_json()["event_detail"] == {"supply_index": "1.1",
                                                   "threshold_percent": 20}
        assert [p.entry for p in uploads.outbox.due()][-1] == entry


def test_a_device_without_transmission_types_queues_nothing(
        store: Store, clock: Clock, device: Device) -> None:
    register(store, device)
    uploads = pipeline(store, clock)
    assert uploads.record(device, reading(clock, 25)) == []
    clock.now += 60
    assert uploads.record(device, reading(clock, 18)) == []
    assert uploads.outbox.depth() == 0
    assert uploads.state.last_periodic(device.id) is None, "no periodic upload was queued"


def test_a_fig9_first_upload_carries_the_application_ids_and_their_types(
        store: Store, clock: Clock, device: Device) -> None:
    register(store, device, "supplies.level")
    app = Application(service_id="toner-delivery", service_outline="Toner delivery",
                      application_id="app-1", provider="Example Supplies",
                      application_date="2025-06-30", activation_state="inactive",
                      compatible_cartridge_models=(),
                      data_types=("counters.total", "supplies.level"),
                      activation_by_first_upload=True)
    state = CloudState(store, clock)
    state.save_applications(device.id, [app], {"toner-delivery": decide_activation(
        app, enabled=True, installed_models=set())})
    uploads = pipeline(store, clock)
    [first] = uploads.record(device, reading(clock, 40))
    assert (first.event, first.application_ids) == ("periodic", ("app-1",))
    assert list(first.data) == ["supplies.level", "counters.total"]
    assert first.data["counters.total"] == {"total": 1200, "sources": {}}

    clock.now += 60  # the queued upload carries it: the next reading (after a restart) does not
    assert pipeline(store, clock).record(device, reading(clock, 40)) == []
    assert [p.entry.application_ids for p in uploads.outbox.due()] == [("app-1",)]

    # The cloud refused it; the next FIG. 7 sync (same application) lets one upload try again.
    decisions = {"toner-delivery": decide_activation(app, enabled=True, installed_models=set())}
    state.record_activation(device.id, "toner-delivery", ActivationResult(
        service_id="toner-delivery", application_id="app-1", result="refused",
        activation_state="inactive", reason=None))
    state.save_applications(device.id, [app], decisions)
    clock.now += 60
    [again] = uploads.record(device, reading(clock, 40))
    assert (again.event, again.application_ids) == ("periodic", ("app-1",))
    clock.now += 60
    state.save_applications(device.id, [app], decisions)  # not refused: still carried once
    assert uploads.record(device, reading(clock, 40)) == []

    state.record_activation(device.id, "toner-delivery", ActivationResult(
        service_id="toner-delivery", application_id="app-1", result="activated",
        activation_state="active", reason=None))
    clock.now += 60
    assert uploads.record(device, reading(clock, 40)) == [], "active: a plain reading again"


def test_the_reading_and_its_entries_are_committed_together(
        store: Store, clock: Clock, device: Device) -> None:
    register(store, device, "supplies.level", "state")
    uploads = pipeline(store, clock)
    uploads.record(device, reading(clock, 40))
    before = (uploads.outbox.depth(), uploads.state.last_status(device.id),
              page_reading(store, device))
    # the status page's copy is written last: when it fails, nothing of the reading is kept
    store.conn.execute("CREATE TEMP TRIGGER full BEFORE UPDATE ON device_readings "
                       "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    clock.now += 60
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        uploads.record(device, reading(clock, 18, printer_state="stopped"))
    assert (uploads.outbox.depth(), uploads.state.last_status(device.id),
            page_reading(store, device)) == before
    store.conn.execute("DROP TRIGGER full")

    entries = uploads.record(device, reading(clock, 18, printer_state="stopped"))
    assert [e.event for e in entries] == ["threshold-crossed", "state-changed"]
    assert [p.entry for p in uploads.outbox.due()][1:] == entries
    assert uploads.state.last_status(device.id)["supplies"][0]["level_percent"] == 18
    assert page_reading(store, device)["state"]["printer_state"] == "stopped"
