"""The cloud link's state on real SQLite files: link values, printer IDs, the support service
setting table, the transmission data type table and the previous reading per device."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gateway.fleet.inventory import Inventory, Sighting
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.services import decide_activation
from protocols.cloud.models import ActivationResult
from protocols.cloud.registration import Application


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path):
    with Store.in_directory(tmp_path / "data") as opened:
        yield opened


def add_device(store: Store, serial: str, address: str = "192.0.2.10") -> int:
    return Inventory(store).record(Sighting(address=address, sources=frozenset({"static"}),
                                            serial=serial)).id


def application(service_id: str, application_id: str | None, state: str = "inactive",
                **extra) -> Application:
    return Application.from_json({
        "service_id": service_id, "service_outline": f"{service_id} outline",
        "application_id": application_id, "provider": "Example Supplies",
        "application_date": "2025-06-30", "activation_state": state,
        "compatible_cartridge_models": [], "data_types": ["supplies.level"],
        "activation_by_first_upload": False, **extra})


def test_link_values_survive_reopening(tmp_path: Path) -> None:
    with Store.in_directory(tmp_path) as store:
        state = CloudState(store)
        assert state.get("token") is None
        state.set("token", "first")
        state.set("token", "second")
        state.set("cursor", "c-42")
        state.delete("cursor")
        state.delete("cursor")  # deleting what is gone is fine
        state.set("last_sync", "1750000000.5")
    with Store.in_directory(tmp_path) as store:
        state = CloudState(store)
        assert (state.get("token"), state.get("cursor"), state.get("last_sync")) == (
            "second", None, "1750000000.5")


def test_printer_ids_map_both_ways_and_belong_to_one_device(store: Store) -> None:
    clock = Clock()
    state = CloudState(store, clock)
    first, second = add_device(store, "SN1"), add_device(store, "SN2", "192.0.2.11")
    assert state.printer_id(first) is None and state.device_for_printer("p-1") is None
    state.set_printer(first, "p-1", "SN1")
    assert (state.printer_id(first), state.device_for_printer("p-1")) == ("p-1", first)
    registered = store.conn.execute("SELECT registered_at FROM cloud_printers").fetchone()[0]
    clock.now += 60
    state.set_printer(first, "p-1", "SN1")  # registering again changes nothing
    assert store.conn.execute("SELECT registered_at FROM cloud_printers").fetchone()[0] \
        == registered
    state.set_printer(second, "p-1", "SN1")  # the ID moves: one device per printer ID
    assert (state.printer_id(first), state.printer_id(second)) == (None, "p-1")
    assert state.device_for_printer("p-1") == second
    with store.transaction() as db:  # a device record deleted takes its cloud rows with it
        db.execute("DELETE FROM devices WHERE id = ?", (second,))
    assert state.device_for_printer("p-1") is None


def test_support_service_setting_table_keeps_decisions_and_results(store: Store) -> None:
    clock = Clock()
    state = CloudState(store, clock)
    device = add_device(store, "SN1")
    apps = [application("toner-delivery", "abc123",
                        compatible_cartridge_models=["W2030A"], activation_by_first_upload=True,
                        data_types=["supplies.level", "supplies.model"]),
            application("remote-monitoring", None, "cancelled"),
            application("toner-delivery", None, "cancelled")]  # listed twice: the live one counts
    decisions = {
        "toner-delivery": decide_activation(apps[0], enabled=True, installed_models={"W2030A"}),
        "remote-monitoring": decide_activation(apps[1], enabled=True, installed_models=set()),
    }
    state.save_applications(device, apps, decisions)
    rows = {app.service_id: app for app in state.applications(device)}
    assert list(rows) == ["remote-monitoring", "toner-delivery"]
    toner = rows["toner-delivery"]
    assert (toner.application_id, toner.activation_state, toner.provider) == (
        "abc123", "inactive", "Example Supplies")
    assert (toner.service_outline, toner.application_date) == (
        "toner-delivery outline", "2025-06-30")
    assert toner.compatible_cartridge_models == ["W2030A"]
    assert toner.data_types == ["supplies.level", "supplies.model"]
    assert toner.activation_by_first_upload is True
    assert (toner.enabled, toner.decision, toner.decision_activate) == (True, "activate", True)
    assert toner.decision_reason == "active" and toner.activation_result is None
    monitoring = rows["remote-monitoring"]
    assert (monitoring.decision, monitoring.decision_reason) == ("none", "no-application")
    json.dumps([app.to_json() for app in rows.values()])  # the status page shows them

    result = ActivationResult(service_id="toner-delivery", application_id="abc123",
                              result="activated", activation_state="active",
                              activated_at="2025-07-01T09:02:00Z", reason=None)
    assert state.record_activation(device, "toner-delivery", result)
    assert not state.record_activation(device, "no-such-service", result)
    toner = state.applications(device)[1]
    assert (toner.activation_state, toner.activated_at, toner.notified_application_id) == (
        "active", "2025-07-01T09:02:00Z", "abc123")
    assert toner.activation_result == result

    # the next sync: same application, now active -> the result is kept, no new notice
    clock.now += 86400
    again = [application("toner-delivery", "abc123", "active",
                         activated_at="2025-07-01T09:02:00Z")]
    state.save_applications(device, again, {"toner-delivery": decide_activation(
        again[0], enabled=True, installed_models={"W2030A"})})
    (toner,) = state.applications(device)  # remote-monitoring is gone from the cloud's list
    assert toner.activation_result == result and toner.notified_application_id == "abc123"
    assert (toner.decision, toner.decision_reason) == ("none", "active")
    assert toner.updated_at == clock.now

    # disabled locally: a deactivation is decided; its result clears the notified ID
    state.save_applications(device, again, {"toner-delivery": decide_activation(
        again[0], enabled=False, installed_models={"W2030A"})})
    (toner,) = state.applications(device)
    assert (toner.enabled, toner.decision, toner.decision_deactivate) == (False, "deactivate",
                                                                          True)
    state.record_activation(device, "toner-delivery", dataclasses.replace(
        result, result="deactivated", activation_state="inactive"))
    (toner,) = state.applications(device)
    assert (toner.activation_state, toner.notified_application_id) == ("inactive", None)

    # the cloud's own activation time wins, null included
    state.record_activation(device, "toner-delivery", result)
    state.save_applications(device, [application("toner-delivery", "abc123",
                                                 activated_at=None)], {})
    assert state.applications(device)[0].activated_at is None
    state.save_applications(device, [application("toner-delivery", "abc123", "active",
                                                 activated_at="2025-07-02T08:00:00Z")], {})
    assert state.applications(device)[0].activated_at == "2025-07-02T08:00:00Z"

    # a new contract for the service: the old result does not belong to it
    renewed = [application("toner-delivery", "def456")]
    state.save_applications(device, renewed, {})
    (toner,) = state.applications(device)
    assert (toner.application_id, toner.activation_result, toner.activated_at) == (
        "def456", None, None)
    assert (toner.enabled, toner.decision) == (None, None)  # not decided yet
    state.save_applications(device, [], {})
    assert state.applications(device) == []


def test_refused_activation_keeps_what_was_confirmed(store: Store) -> None:
    state = CloudState(store)
    device = add_device(store, "SN1")
    app = application("toner-delivery", "abc123", "suspended")
    state.save_applications(device, [app], {})
    refused = ActivationResult.from_json({
        "service_id": "toner-delivery", "application_id": "abc123", "result": "refused",
        "activation_state": "suspended", "activated_at": None,
        "reason": {"code": "application-suspended", "detail": "suspended"}})
    state.record_activation(device, "toner-delivery", refused)
    (row,) = state.applications(device)
    assert row.activation_result == refused
    assert row.activation_result.reason is not None
    assert row.activation_result.reason.code == "application-suspended"
    assert (row.activation_state, row.notified_application_id) == ("suspended", None)


def test_transmission_data_type_table(store: Store) -> None:
    state = CloudState(store)
    device = add_device(store, "SN1")
    assert state.transmission_types(device) == ([], [])
    assert not state.report_pending(device)
    state.set_transmission_types(device, ["contract", "state", "identity", "state"],
                                 ["state", "identity"])
    assert state.transmission_types(device) == (["identity", "state", "contract"],
                                                ["identity", "state"])  # catalogue order
    assert state.report_pending(device)
    state.mark_reported(device)
    assert not state.report_pending(device)
    state.set_transmission_types(device, ["state"], ["state"])
    assert state.report_pending(device)  # a changed table must be reported again
    with pytest.raises(ValueError, match=r"supplies\.toner"):
        state.set_transmission_types(device, ["supplies.toner"], [])
    assert state.transmission_types(device) == (["state"], ["state"])


def test_previous_reading_and_last_periodic_upload(store: Store) -> None:
    state = CloudState(store)
    device = add_device(store, "SN1")
    assert state.last_status(device) is None and state.last_periodic(device) is None
    reading = {"host": "192.0.2.10", "supplies": [{"index": "1.1", "level_percent": 40}],
               "state": {"printer_state": "idle"}}
    state.set_last_status(device, reading, 1000.0, periodic=False)
    assert state.last_status(device) == reading
    assert state.last_periodic(device) is None
    state.set_last_status(device, reading, 2000.0, periodic=True)
    assert state.last_periodic(device) == 2000.0
    later = {**reading, "state": {"printer_state": "stopped"}}
    state.set_last_status(device, later, 2300.0, periodic=False)  # an event-only upload
    assert state.last_status(device) == later
    assert state.last_periodic(device) == 2000.0


def test_writes_join_the_callers_transaction(tmp_path: Path) -> None:
    """A reading's new previous status commits with whatever else the caller writes, or not."""
    with Store.in_directory(tmp_path) as store:
        state = CloudState(store)
        device = add_device(store, "SN1")
        state.set_printer(device, "p-1", "SN1")
        with pytest.raises(RuntimeError), store.transaction() as db:
            state.set_last_status(device, {"host": "x"}, 1000.0, periodic=True, db=db)
            state.set("cursor", "c-1", db=db)
            state.set_transmission_types(device, ["state"], ["state"], db=db)
            raise RuntimeError("crash before commit")
        assert state.last_status(device) is None and state.get("cursor") is None
        assert state.transmission_types(device) == ([], [])
        with store.transaction() as db:
            state.set_last_status(device, {"host": "x"}, 1000.0, periodic=True, db=db)
            state.record_activation(device, "none", ActivationResult(
                "none", "abc123", "activated", "active", reason=None), db=db)
    with Store.in_directory(tmp_path) as store:
        state = CloudState(store)
        assert state.last_status(device) == {"host": "x"}
        assert state.printer_id(device) == "p-1"
