"""FIG. 10 on what the device can do (issue 16): the functions a service requires, the data types
the device can deliver, the operator's enable override bounded by the config, the reason codes
and their log lines, and which readings call for the decision again."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cloud.server import CloudServer
from gateway.device.model import DeviceStatus
from gateway.fleet.inventory import Device, Inventory, Sighting
from gateway.settings.schema import CloudSettings, EventSettings, GatewaySettings, PollSettings
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState
from gateway.uplink.enable_overrides import EnableOverrides
from gateway.uplink.link import CloudLink
from gateway.uplink.outbox import Outbox
from gateway.uplink.pipeline import UploadPipeline
from gateway.uplink.rejudge import ServiceRejudge, abilities_changed
from gateway.uplink.service_judge import judge_services
from gateway.uplink.services import (
    DeviceAbilities,
    ServiceSettings,
    abilities,
    decide_activation,
    device_functions_for_services,
)
from protocols.cloud.registration import Application
from tests.support.cloud_helpers import Operator
from tests.support.fault_proxy import FaultProxy
from tests.support.outbox_entries import Clock

pytest_plugins = ("tests.support.cloud_helpers",)


def supply(index: str, color: str | None, part: str | None = None,
           kind: str = "toner") -> dict[str, Any]:
    return {"index": index, "kind": kind, "color": color, "part_number": part,
            "level_percent": 50, "level_state": "known", "raw_level": 50, "max_capacity": 100,
            "class": "consumed"}


def reading(*supplies: dict[str, Any], contract: bool = False,
            reachable: dict[str, bool] | None = None,
            functions: dict[str, str] | None = None) -> DeviceStatus:
    return DeviceStatus.from_json({
        "host": "192.0.2.1", "read_at": "2026-12-06T10:15:02Z",
        "reachable": {"snmp": True} if reachable is None else reachable,
        "supplies": list(supplies), "counters": {"total": 100},
        "contract": {"supported": contract}, "functions": functions or {}})


def application(service_id: str = "contract-printing", state: str = "inactive",
                **extra: Any) -> Application:
    return Application.from_json({
        "service_id": service_id, "service_outline": f"{service_id} outline",
        "application_id": f"app-{service_id}", "provider": "Example Provider",
        "application_date": "2026-12-01", "activation_state": state,
        "compatible_cartridge_models": [], "data_types": ["supplies.level"],
        "activation_by_first_upload": False, **extra})


CONTRACT = {"required_functions": ["contract"],
            "data_types": ["contract", "counters.contract", "supplies.level"]}


def test_the_new_service_fields_are_read_and_default_for_an_older_cloud() -> None:
    app = application(**CONTRACT, kind="contract", provider_endpoint="https://p.example/hook",
                      order_threshold_percent=10)
    assert (app.kind, app.required_functions, app.provider_endpoint,
            app.order_threshold_percent) == ("contract", ("contract",), "https://p.example/hook",
                                             10)
    assert Application.from_json(app.to_json()) == app
    old = application()
    assert (old.kind, old.required_functions, old.provider_endpoint) == (None, (), None)
    assert "required_functions" not in old.to_json()  # what an older cloud sent comes back


def test_the_device_functions_come_from_the_reading() -> None:
    mono = reading(supply("1.1", "black"), supply("1.2", "cyan", kind="opc"))
    assert device_functions_for_services(mono) == frozenset()  # a cyan drum is no colour
    colour = reading(supply("1.1", "black"), supply("1.2", "magenta"), contract=True,
                     functions={"scan": "snmp:hrDeviceScanner", "fax": "ipp:fax-out"})
    assert device_functions_for_services(colour) == {"contract", "color", "scan", "fax"}


def test_contract_printing_is_never_activated_without_the_contract_mib() -> None:
    legacy = abilities(reading(supply("1.1", "black", "TN-210")))
    decision = decide_activation(application(**CONTRACT), enabled=True, installed_models=set(),
                                 device=legacy)
    assert (decision.activate, decision.reason) == (False, "missing-function:contract")
    assert "contract function" in decision.detail
    mib = abilities(reading(supply("1.1", "black", "TN-210"), contract=True))
    decision = decide_activation(application(**CONTRACT), enabled=True, installed_models=set(),
                                 device=mib)
    assert (decision.activate, decision.reason) == (True, "active")
    # without a reading (nothing known of the device) a required function is missing too
    assert decide_activation(application(**CONTRACT), enabled=True,
                             installed_models=set()).reason == "missing-function:contract"


@pytest.mark.parametrize(("complete", "deactivate"), [(True, True), (False, False)])
def test_an_active_service_whose_function_is_gone_is_deactivated_on_a_complete_reading(
        complete: bool, deactivate: bool) -> None:
    device = DeviceAbilities(complete=complete)
    decision = decide_activation(application("colour-care", "active",
                                             required_functions=["color"]),
                                 enabled=True, installed_models=set(), device=device)
    assert (decision.activate, decision.reason, decision.deactivate) == (
        False, "missing-function:color", deactivate)


def test_a_service_none_of_whose_types_the_device_delivers_is_not_compatible() -> None:
    bare = abilities(reading(reachable={"snmp": True}))  # no supplies, no part numbers
    all_missing = application("toner-delivery", data_types=["supplies.level", "supplies.model"])
    decision = decide_activation(all_missing, enabled=True, installed_models=set(), device=bare)
    assert (decision.activate, decision.reason) == (False, "data-unavailable")
    partial = application("monitoring", data_types=["supplies.level", "counters.total"])
    decision = decide_activation(partial, enabled=True, installed_models=set(), device=bare)
    assert (decision.activate, decision.reason) == (True, "active")
    assert "without supplies.level" in decision.detail


def test_reason_codes_for_the_contract_states() -> None:
    device = DeviceAbilities()
    codes = {state: decide_activation(application("monitoring", state), enabled=True,
                                      installed_models=set(), device=device).reason
             for state in ("active", "suspended", "cancelled", "inactive")}
    assert codes == {"active": "active", "suspended": "suspended", "cancelled": "cancelled",
                     "inactive": "active"}
    cancelled = application("monitoring", "cancelled", application_id=None)
    assert decide_activation(cancelled, enabled=True, installed_models=set(),
                             device=device).reason == "no-application"


# -- the enable setting, the override and the log ------------------------------------------------

def device(store: Store) -> Device:
    return Inventory(store).record(Sighting(address="192.0.2.10", sources=frozenset({"static"}),
                                            serial="SN-1", model="Laser 1"))


def test_the_config_bounds_the_operators_override(store: Store) -> None:
    printer = device(store)
    overrides = EnableOverrides(store)
    config_on = ServiceSettings(default=True)
    apps = [application("monitoring"), application("toner-delivery")]
    overrides.set(str(printer.id), "monitoring", False)  # the operator disables
    overrides.set(str(printer.id), "toner-delivery", True)
    status = reading(supply("1.1", "black"))
    decided = judge_services(printer, status, apps, config_on, overrides, {})
    assert decided["monitoring"].reason == "not-enabled"
    assert "operator" in decided["monitoring"].detail
    assert decided["toner-delivery"].reason == "active"
    # IT's file disables everything: an operator's True enables nothing
    decided = judge_services(printer, status, apps, ServiceSettings(default=False), overrides, {})
    assert decided["toner-delivery"].reason == "not-enabled"
    assert "config file (services.default)" in decided["toner-delivery"].detail


def test_a_decision_is_logged_once_when_its_reason_changes(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    printer = device(store)
    apps = [application(**CONTRACT)]
    settings, overrides = ServiceSettings(default=True), EnableOverrides(store)
    caplog.set_level(logging.INFO, logger="gateway.uplink.service_judge")
    legacy = reading(supply("1.1", "black"))
    first = judge_services(printer, legacy, apps, settings, overrides, {})
    before = {k: d.reason for k, d in first.items()}
    judge_services(printer, legacy, apps, settings, overrides, before)  # same: no new line
    judge_services(printer, reading(supply("1.1", "black"), contract=True), apps, settings,
                   overrides, before)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(lines) == 2, lines
    assert "service contract-printing: missing-function:contract" in lines[0]
    assert "SN-1" in lines[0] and "service contract-printing: active" in lines[1]


# -- which readings call for FIG. 10 again --------------------------------------------------------

def test_a_cartridge_swap_or_a_function_change_calls_for_the_decision_again() -> None:
    before = reading(supply("1.1", "black", "TN-100"))
    assert not abilities_changed(None, before)  # the first reading: FIG. 7 has judged it
    assert not abilities_changed(before, reading(supply("1.1", "black", "tn-1 00")))
    assert abilities_changed(before, reading(supply("1.1", "black", "TN-210")))
    assert abilities_changed(before, reading(supply("1.1", "black", "TN-100"), contract=True))
    # a reading a protocol did not answer may only not have seen the cartridge
    silent = reading(reachable={"snmp": False, "ipp": True})
    assert not abilities_changed(before, silent)


# -- the re-judgement against the reference cloud ------------------------------------------------

def link_for(store: Store, clock: Clock, url: str, token: str) -> CloudLink:
    gateway = GatewaySettings(name="functions-test", region="jp", time_zone="Asia/Tokyo")
    cloud = CloudSettings.model_validate({"url": url, "enrolment_token": token, "push": False})
    state = CloudState(store, clock=clock)
    state.set("base_url", url)
    state.set("region", "jp")
    return CloudLink(lambda: gateway, lambda: cloud, state, Inventory(store),
                     ServiceSettings(default=True))


async def test_a_swap_is_judged_again_and_retried_at_the_next_reading_when_the_cloud_failed(
        store: Store, clock: Clock, cloud: CloudServer, operator: Operator) -> None:
    token = await operator.enrolment_token()
    await operator.put_service("toner-next", ["supplies.level", "supplies.model"],
                               models=["TN-9"])
    async with FaultProxy(cloud.url) as proxy:
        link = link_for(store, clock, proxy.url, token)
        try:
            await link.connect()
            printer = device(store)
            old = reading(supply("1.1", "black", "TN-1"))
            assert await link.sync_all([(printer, old)]) == 1
            printer_id = link.state.printer_id(printer.id)
            assert printer_id is not None
            await operator.contract(printer_id, "toner-next")
            await link.sync_all([(printer, old)])
            [app] = link.state.applications(printer.id)
            assert app.decision_reason == "incompatible-cartridge"

            pipeline = UploadPipeline(EventSettings, PollSettings, link.state, Outbox(store))
            rejudge = ServiceRejudge(link)
            pipeline.on_reading = rejudge
            pipeline.record(printer, old)  # the first reading: nothing to judge again
            await rejudge.settle()
            assert rejudge.pending == set()

            proxy.mode = "error500"  # the swap's re-judgement fails: kept pending
            swapped = reading(supply("1.1", "black", "TN-9"))
            pipeline.record(printer, swapped)
            await rejudge.settle()
            assert rejudge.pending == {printer.id}
            [app] = link.state.applications(printer.id)
            assert app.activation_state != "active"

            proxy.mode = "pass"  # the next reading (no change of its own) tries again
            pipeline.record(printer, swapped)
            await rejudge.settle()
            assert rejudge.pending == set()
            [app] = link.state.applications(printer.id)
            assert (app.decision_reason, app.activation_state) == ("active", "active")
            activations = [path for method, path, status in proxy.requests
                           if method == "POST" and path.endswith("/activations")]
            assert activations == [f"/v1/printers/{printer_id}/activations"]
        finally:
            await link.close()
