"""The gateway's side of the contract's own data (issue 15): a contract-mode change is an upload
event, a printer's threshold events follow its contract's threshold (from the cloud's control
information, kept per device), and the registration tells the cloud whether the device has the
contract function (with the reference cloud at the end)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cloud.contracts import find_printer
from cloud.server import CloudServer
from gateway.device.model import Contract, DeviceStatus, Identity, State, Supply
from gateway.fleet.inventory import Device, Inventory, Sighting
from gateway.settings.loading import parse_config
from gateway.settings.schema import CloudSettings
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.events import StatusEvent, detect, thresholds
from gateway.uplink.link import CloudLink
from gateway.uplink.outbox import Outbox
from gateway.uplink.pipeline import UploadPipeline
from gateway.uplink.registering import contract_supported, registration_request
from gateway.uplink.services import ServiceSettings
from protocols.cloud.models import EventDetail
from protocols.cloud.registration import DeviceControlInformation, PrinterRegistration
from tests.support.cloud_helpers import Operator
from tests.support.fault_proxy import FaultProxy
from tests.support.outbox_entries import Clock

pytest_plugins = ("tests.support.cloud_helpers",)

PRINTER_ID = "3f0c8d2e-4b7a-4c8e-9a51-6d2b7e9f1a20"
CONFIG = parse_config({"events": {"thresholds": [50, 10]}})
SETTINGS = CONFIG.events


def reading(level: int = 80, *, mode: str | None = "contract-billing",
            prohibited: bool | None = False, snmp: bool = True,
            read_at: float = 1_750_000_000.0) -> DeviceStatus:
    """A printer with one contract cartridge at `level`; `mode` None: no contract MIB."""
    return DeviceStatus(
        host="192.0.2.20", read_at=datetime.fromtimestamp(read_at, UTC), reachable={"snmp": snmp},
        identity=Identity(serial="SN-20", model="InkJet IJ-500"),
        supplies=[Supply(index="1.1", kind="ink", color="black", level_percent=level,
                         level_state="known", raw_level=level, max_capacity=100,
                         supply_class="consumed", cartridge_type="contract")],
        state=State(printer_state="idle"),
        contract=Contract(supported=mode is not None, mode=mode,
                          printing_prohibited=prohibited if mode is not None else None))


def kinds(events: list[StatusEvent]) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, e.detail.to_json()) for e in events]


# -- contract-mode-changed -------------------------------------------------------------------------

@pytest.mark.parametrize(("before", "after", "expected"), [
    pytest.param({"mode": "contract-billing"}, {"mode": "non-contract"},
                 [{"previous_mode": "contract-billing", "previous_printing_prohibited": False}],
                 id="withdrawn"),
    pytest.param({"mode": "non-contract"}, {"mode": "contract-non-billing"},
                 [{"previous_mode": "non-contract", "previous_printing_prohibited": False}],
                 id="transition"),
    pytest.param({"prohibited": False}, {"prohibited": True},
                 [{"previous_mode": "contract-billing", "previous_printing_prohibited": False}],
                 id="prohibited"),
    pytest.param({"prohibited": True}, {"prohibited": False},
                 [{"previous_mode": "contract-billing", "previous_printing_prohibited": True}],
                 id="permitted"),
    pytest.param({}, {}, [], id="unchanged"),
    pytest.param({"mode": None}, {"mode": "contract-billing"}, [], id="no-contract-mib-before"),
    pytest.param({"mode": "contract-billing"}, {"mode": None}, [], id="no-contract-mib-now"),
])
def test_a_contract_mode_change_is_an_event(before: dict[str, Any], after: dict[str, Any],
                                            expected: list[dict[str, Any]]) -> None:
    assert kinds(detect(reading(**before), reading(**after), SETTINGS)) == [
        ("contract-mode-changed", detail) for detail in expected]


def test_the_event_detail_reads_back_from_its_json() -> None:
    detail = EventDetail(previous_mode="contract-billing", previous_printing_prohibited=True)
    assert EventDetail.from_json(detail.to_json()) == detail


# -- the contract's threshold ----------------------------------------------------------------------

def test_the_contracts_threshold_joins_the_configured_ones() -> None:
    assert thresholds(SETTINGS, None) == [50, 10]
    assert thresholds(SETTINGS, 25) == [50, 25, 10]
    assert thresholds(SETTINGS, 10) == [50, 10]
    assert thresholds(SETTINGS, 0) == [50, 10]  # 0: `supply-empty` is that event


@pytest.mark.parametrize(("contract_threshold", "before", "after", "expected"), [
    (None, 30, 20, []),
    (25, 30, 25, [25]),  # reaching it is crossing it
    (25, 30, 20, [25]),
    (25, 25, 20, []),  # already at it: crossed before
    (25, 30, 8, [10]),  # several at once: the lowest
])
def test_threshold_events_follow_the_contracts_threshold(
        contract_threshold: int | None, before: int, after: int, expected: list[int]) -> None:
    events = detect(reading(before), reading(after), SETTINGS, contract_threshold)
    assert kinds(events) == [("threshold-crossed", {"supply_index": "1.1",
                                                    "threshold_percent": t}) for t in expected]


@pytest.fixture
def device(store: Store) -> Device:
    return Inventory(store).record(Sighting(address="192.0.2.20",
                                            sources=frozenset({"static"}), serial="SN-20"))


def test_the_pipeline_uses_each_devices_contract_threshold(store: Store, clock: Clock,
                                                           device: Device) -> None:
    """The threshold the control information gave is kept with the device's transmission data
    types; the device's readings are judged at it, and a control information without a contract
    takes it away again."""
    state = CloudState(store, clock)
    state.set_printer(device.id, PRINTER_ID, "SN-20", True)
    control = DeviceControlInformation.from_json({
        "printer_id": PRINTER_ID, "revision": 3, "requested_data_types": ["supplies.level"],
        "current_data_types": [], "difference": {"added": ["supplies.level"], "removed": []},
        "by_contract": {"data_types": ["supplies.level"], "threshold_percent": 25,
                        "process_id": None},
        "contract_threshold_percent": 25})
    assert control.by_contract is not None and control.by_contract.threshold_percent == 25
    state.set_transmission_types(device.id, control.requested_data_types,
                                 control.requested_data_types,
                                 contract_threshold=control.contract_threshold_percent)
    assert state.contract_threshold(device.id) == 25
    uploads = UploadPipeline(lambda: CONFIG.events, lambda: CONFIG.poll, state,
                             Outbox(store, clock=clock), clock=clock)

    def events(level: int) -> list[tuple[str, int | None]]:
        clock.now += 60
        return [(e.event, e.event_detail.threshold_percent if e.event_detail else None)
                for e in uploads.record(device, reading(level, read_at=clock.now))]

    assert events(30) == [("periodic", None)]
    assert events(24) == [("threshold-crossed", 25)]
    state.set_transmission_types(device.id, ["supplies.level"], ["supplies.level"])
    assert state.contract_threshold(device.id) is None
    assert events(40) == []  # refilled a little: below `level_jump`, no event
    assert events(24) == []  # 25 is no threshold of this printer any more


# -- the registration ------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "expected"), [
    pytest.param(reading(), True, id="contract-MIB"),
    pytest.param(reading(mode=None), False, id="no-contract-MIB"),
    pytest.param(reading(mode=None, snmp=False), None, id="SNMP-silent"),
])
def test_the_registration_tells_the_contract_function(status: DeviceStatus, expected: bool | None,
                                                      device: Device) -> None:
    assert contract_supported(status) is expected
    request = registration_request(device, status, CONFIG.gateway)
    assert request is not None and request.contract_supported is expected
    assert request.to_json()["contract_supported"] is expected
    assert PrinterRegistration.from_json(request.to_json()) == request


def test_the_contract_function_the_cloud_was_told_is_kept(store: Store, device: Device) -> None:
    """Registered without it (not known then), then told: kept; a registration that cannot
    tell keeps what was told."""
    state = CloudState(store)
    state.set_printer(device.id, PRINTER_ID, "SN-20")
    assert state.registered(device.id) == ("SN-20", None)
    state.set_printer(device.id, PRINTER_ID, "SN-20", False)
    assert state.registered(device.id) == ("SN-20", False)
    state.set_printer(device.id, PRINTER_ID, "SN-20")
    assert state.registered(device.id) == ("SN-20", False)


# -- with the reference cloud ----------------------------------------------------------------------

def registrations(proxy: FaultProxy) -> int:
    """The S0603 calls the cloud received through `proxy`."""
    return sum((m, p) == ("POST", "/v1/printers") for m, p, _s in proxy.requests)


def link_for(store: Store, url: str, token: str) -> CloudLink:
    cloud = CloudSettings.model_validate({"url": url, "enrolment_token": token, "push": False})
    state = CloudState(store)
    state.set("base_url", url)  # the regional endpoint is the proxy too: every request counted
    state.set("region", "jp")
    return CloudLink(lambda: CONFIG.gateway.model_copy(update={"region": "jp"}), lambda: cloud,
                     state, Inventory(store), ServiceSettings(default=False))


async def test_a_registered_device_tells_its_contract_function_once_known_and_gets_the_threshold(
        store: Store, device: Device, cloud: CloudServer, operator: Operator) -> None:
    """Registered while SNMP was silent (not known), the device is registered again once a
    reading tells — once, also after a restart; the contract's threshold from the control
    information is kept for the device."""
    async def stored() -> bool | None:
        async with cloud.state.db.read() as session:
            return (await find_printer(session, printer_id)).contract_supported

    token = await operator.enrolment_token()
    async with FaultProxy(cloud.url) as proxy:
        link = link_for(store, proxy.url, token)
        try:
            await link.connect()
            assert await link.sync_device(device, reading(mode=None, snmp=False))
            printer_id = link.state.printer_id(device.id)
            assert printer_id is not None and await stored() is None
            assert await link.sync_device(device, reading())
            assert (registrations(proxy), await stored()) == (2, True)
            assert await link.sync_device(device, reading())
        finally:
            await link.close()
        restarted = link_for(store, proxy.url, token)
        try:
            await restarted.connect()
            assert await restarted.sync_device(device, reading())
            assert registrations(proxy) == 2, "told once, kept across a restart"

            await operator.ok("requestContract", json_body={
                "member_id": "member-0020", "printer_id": printer_id, "model": "inkjet",
                "series": "IJ-500", "page_limit": 100, "threshold_percent": 25})
            await restarted.poll_changes()  # control-info-changed
            assert restarted.state.contract_threshold(device.id) == 25
            assert {"supplies.cartridge", "contract"} <= set(
                restarted.state.transmission_types(device.id)[1])
        finally:
            await restarted.close()


async def test_a_device_registered_by_an_older_version_is_registered_again_once(
        store: Store, device: Device, cloud: CloudServer, operator: Operator) -> None:
    """A printer registered by a version that kept no record of what it told the cloud is
    registered again once, with what the reading says; a reading that knows less (SNMP
    silent) is no change, and the same reading again is none either."""
    token = await operator.enrolment_token()
    async with FaultProxy(cloud.url) as proxy:
        link = link_for(store, proxy.url, token)
        try:
            await link.connect()
            assert await link.sync_device(device, reading())
            assert registrations(proxy) == 1 and link.state.told(device.id) is not None
            store.conn.execute("UPDATE cloud_printers SET told = NULL")  # as an older version
            store.conn.commit()
            assert await link.sync_device(device, reading())
            assert registrations(proxy) == 2
            told = link.state.told(device.id)
            assert told is not None and told["serial"] == "SN-20"
            assert await link.sync_device(device, reading(mode=None, snmp=False))
            assert await link.sync_device(device, reading())
            assert registrations(proxy) == 2
        finally:
            await link.close()

