"""The uplink's pure logic: data type projection (against the cloud document's schemas, on real
printers' readings and virtual ones), event detection, the support service enable settings and
FIG. 10's activation decision."""

from __future__ import annotations

import copy
import dataclasses
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from gateway.device.model import Contract, Counters, DeviceStatus, Supply
from gateway.device.reader import DeviceReader, IppEndpoint
from gateway.settings.loading import parse_config
from gateway.settings.schema import EventSettings
from gateway.uplink.data_types import FIELDS, available, project
from gateway.uplink.events import StatusEvent, baseline, detect
from gateway.uplink.services import (
    ServiceSettings,
    decide_activation,
    installed_models,
    normalise_model,
)
from protocols.cloud import DATA_TYPES, load_schema
from protocols.cloud.models import EventDetail
from protocols.cloud.registration import Application
from protocols.snmp.model import SnmpCredentials, SnmpTarget
from tests.support.paths import SNMP_FIXTURES
from tests.support.sim_helpers import running_fleet

DOC = load_schema()
_REGISTRY = Registry().with_resource("urn:cloud", DRAFT202012.create_resource(DOC))


def validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"urn:cloud#{pointer}"}, registry=_REGISTRY)


STATUS_DATA = validator("/components/schemas/DeviceStatusData")
EVENT_DETAIL = validator("/components/schemas/StatusEntry/properties/event_detail")
REPORT = validator("/components/schemas/TransmissionDataTypesReport")
EVENT_NAMES = set(DOC["components"]["schemas"]["StatusEvent"]["enum"])


def schema_errors(check: Draft202012Validator, instance: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in check.iter_errors(instance)]


def check_projection(status: DeviceStatus) -> None:
    """Every data type projects onto its schema, alone and all together."""
    data = project(status, DATA_TYPES)
    assert list(data) == list(DATA_TYPES)
    assert not schema_errors(STATUS_DATA, data)
    for data_type in DATA_TYPES:
        alone = project(status, [data_type])
        assert list(alone) == [data_type] and alone[data_type] == data[data_type]
        assert not schema_errors(STATUS_DATA, alone), data_type


def check_unavailable(status: DeviceStatus) -> dict[str, str | None]:
    reasons = available(status)
    assert list(reasons) == list(DATA_TYPES)
    unavailable = [{"data_type": t, "reason": r} for t, r in reasons.items() if r]
    report = {"transmission_data_types": [t for t, r in reasons.items() if not r],
              "unavailable": unavailable}
    assert not schema_errors(REPORT, report)
    return reasons


# -- data types ------------------------------------------------------------------------------------

RECORDINGS = sorted(p.name.removesuffix(".snmprec") for p in SNMP_FIXTURES.glob("*.snmprec"))


@pytest.mark.parametrize("name", RECORDINGS)
async def test_real_printers_readings_project_onto_the_schemas(
        recorded_printers: tuple[str, int], name: str) -> None:
    host, port = recorded_printers
    async with DeviceReader() as reader:
        status = (await reader.read(host, SnmpTarget(host, port, SnmpCredentials(
            version=2, community=name)), None))
    check_projection(status)
    data = project(status, ["supplies.level", "state", "identity"])
    assert [s["index"] for s in data["supplies.level"]] == [s.index for s in status.supplies]
    assert data["state"]["reachable"] == {"snmp": True}
    assert data["identity"]["serial"] == status.identity.serial
    reasons = check_unavailable(status)
    for data_type in ("supplies.cartridge", "counters.contract", "contract"):
        assert "contract MIB" in reasons[data_type], data_type  # real printers lack it
    assert reasons["identity"] is None and reasons["state"] is None
    assert reasons["supplies.level"] is None
    assert (reasons["supplies.model"] is None) == any(s.part_number for s in status.supplies)


async def test_virtual_printers_over_snmp_and_ipp_project_onto_the_schemas() -> None:
    async with running_fleet("127.0.72.1", 2, seed=5, profiles=["color-mfp", "legacy-laser"],
                             ) as fleet, DeviceReader() as reader:
        mfp, legacy = fleet.printers
        mfp.state.replace("cyan", "contract", "CTR-9")
        mfp.state.raise_error("paper-jam")
        readings = {}
        for printer in fleet.printers:
            snmp = SnmpTarget(printer.ip, printer.snmp_port, SnmpCredentials(version=2))
            ipp = IppEndpoint.for_host(printer.ip, printer.ipp_port)
            readings[printer.state.name] = await reader.read(printer.ip, snmp, ipp)
            ipp_only = await reader.read(printer.ip, None, ipp)
            check_projection(ipp_only)
            assert check_unavailable(ipp_only)["contract"] == (
                "the contract MIB is read over SNMP, which is not used for this device")

    full = readings[mfp.state.name]
    check_projection(full)
    data = project(full, DATA_TYPES)
    assert data["state"]["reachable"] == {"snmp": True, "ipp": True}
    assert data["alerts"] and data["state"]["printer_state"] == "stopped"
    cyan = next(s for s in data["supplies.cartridge"] if s["cartridge_id"] == "CTR-9")
    assert (cyan["cartridge_type"], cyan["cartridge_new"]) == ("contract", True)
    assert data["contract"]["supported"] is True
    assert set(data["counters.contract"]) == {"contract", "cartridge_replacements", "sources"}
    assert all(reason is None or (data_type in ("counters.function", "counters.media")
                                  and reason.startswith("the device reports no "))
               for data_type, reason in check_unavailable(full).items())  # meters: per profile
    assert {"CX54-B", "CX54-C"} <= installed_models(full)  # "Black Toner Cartridge CX54-B"

    plain = readings[legacy.state.name]
    check_projection(plain)
    assert project(plain, ["contract"]) == {"contract": {
        "supported": False, "mode": None, "printing_prohibited": None, "panel_message": None}}
    reasons = check_unavailable(plain)
    assert {t for t, r in reasons.items() if r} == {
        "supplies.cartridge", "counters.contract", "contract",
        "supplies.model",  # no part numbers (its colour/mono counters come over IPP)
        "counters.function", "counters.media"}  # no meters by function or media
    assert plain.sources["counters.mono"] == "ipp:printer-impressions-completed-col.monochrome"


def test_projection_is_exactly_the_requested_keys_with_nulls_where_unknown() -> None:
    empty = DeviceStatus(host="192.0.2.1")
    check_projection(empty)
    data = project(empty, ["counters.color", "identity", "supplies.level"])
    assert list(data) == ["identity", "supplies.level", "counters.color"]  # catalogue order
    assert data["counters.color"] == {"color": None, "mono": None, "two_color": None,
                                      "sources": {}}
    assert set(data["identity"]) == set(FIELDS["identity"])
    assert all(value is None for value in data["identity"].values())
    assert data["supplies.level"] == []
    assert project(empty, []) == {}
    with pytest.raises(ValueError, match="toner"):
        project(empty, ["identity", "toner"])
    # a previous reading stored before the cartridge fields existed reads back with nulls
    old = DeviceStatus.from_json({"host": "192.0.2.1", "read_at": "2025-07-01T10:15:02Z",
                                  "supplies": [{"index": "1.1", "kind": "toner"}],
                                  "state": {"reasons": None}})
    data = project(old, ["supplies.cartridge", "state"])
    assert data["supplies.cartridge"] == [{"index": "1.1", "cartridge_type": None,
                                           "cartridge_id": None, "cartridge_new": None}]
    assert data["state"] == {"printer_state": "unknown", "reasons": [], "message": None,
                             "abnormal": False, "reachable": {}}
    assert not schema_errors(STATUS_DATA, data)


def test_unavailable_data_types_say_why() -> None:
    status = DeviceStatus(host="192.0.2.1", reachable={"snmp": False, "ipp": True})
    reasons = available(status)
    assert reasons["supplies.level"] == "the device reports no supplies"
    assert reasons["contract"] == "the contract MIB is read over SNMP, which did not answer"
    assert reasons["counters.total"] == "the device reports no total impression counter"
    status.supplies = [Supply(index="1.1", part_number=None)]
    status.counters = Counters(total=5, mono=5, color=None)
    status.contract = Contract(supported=True)
    reasons = available(status)
    assert reasons["supplies.model"] == "the device reports no part numbers for its supplies"
    assert reasons["supplies.cartridge"] == ("the device reports no cartridge type or ID for "
                                             "its supplies")
    assert reasons["counters.total"] is None and reasons["counters.color"] is None
    assert reasons["contract"] is None and reasons["counters.contract"] is None


# -- events ----------------------------------------------------------------------------------------

SETTINGS = EventSettings()  # thresholds 20, 10, 5; level jump 30


def supply(index: str = "1.1", percent: int | None = 50, **extra: Any) -> dict[str, Any]:
    known = percent is not None
    return {"index": index, "level_percent": percent,
            "level_state": "known" if known else "unknown",
            "raw_level": percent if known else -2, "max_capacity": 100 if known else -2,
            "class": "consumed", "cartridge_type": None, "cartridge_id": None, **extra}


def reading(*supplies: dict[str, Any], state: str = "idle", alerts: tuple = (),
            contract: bool = False, reachable: dict | None = None) -> DeviceStatus:
    return DeviceStatus.from_json({
        "host": "192.0.2.1", "read_at": "2025-07-01T10:15:02Z",
        "reachable": reachable or {"snmp": True},
        "supplies": list(supplies),
        "state": {"printer_state": state,
                  "alerts": [{"index": i, "code": c} for i, c in alerts]},
        "contract": {"supported": contract}})


def kinds(events: list[StatusEvent]) -> list[tuple[str, dict[str, Any]]]:
    return [(e.kind, e.detail.to_json()) for e in events]


@pytest.mark.parametrize(("before", "after", "expected"), [
    (supply(percent=25), supply(percent=18),
     [("threshold-crossed", {"supply_index": "1.1", "threshold_percent": 20})]),
    (supply(percent=25), supply(percent=4),  # several crossed at once: the lowest
     [("threshold-crossed", {"supply_index": "1.1", "threshold_percent": 5})]),
    (supply(percent=20), supply(percent=11), []),  # at 20 already: crossed before
    (supply(percent=3), supply(percent=0), [("supply-empty", {"supply_index": "1.1"})]),
    (supply(percent=6), supply(percent=0),
     [("threshold-crossed", {"supply_index": "1.1", "threshold_percent": 5}),
      ("supply-empty", {"supply_index": "1.1"})]),
    (supply(percent=1, raw_level=1, max_capacity=1000),  # 1 of 1000 rounds to 0 %: not empty
     supply(percent=0, raw_level=1, max_capacity=1000), []),
    (supply(percent=None, raw_level=-3, level_state="some-remaining"),
     supply(percent=None, raw_level=0, max_capacity=-2), [("supply-empty", {"supply_index":
                                                                             "1.1"})]),
    (supply(percent=None), supply(percent=0), []),  # unknown before: not news
    (supply(percent=12, **{"class": "filled"}), supply(percent=8, **{"class": "filled"}),
     [("threshold-crossed", {"supply_index": "1.1", "threshold_percent": 10})]),  # >90 % full
    (supply(percent=5), supply(percent=100), [("supply-replaced", {"supply_index": "1.1"})]),
    (supply(percent=40), supply(percent=69), []),  # below the jump: not a replacement
    (supply(percent=40, cartridge_id="C-1"), supply(percent=15, cartridge_id="C-2"),
     [("supply-replaced", {"supply_index": "1.1", "previous_cartridge_id": "C-1"})]),
    (supply(percent=40, cartridge_id="C" * 80), supply(percent=40, cartridge_id="D"),
     [("supply-replaced", {"supply_index": "1.1", "previous_cartridge_id": "C" * 64})]),
    (supply(percent=40, cartridge_id=None), supply(percent=40, cartridge_id="C-2"), []),
])
def test_supply_events(before: dict, after: dict, expected: list) -> None:
    assert kinds(detect(reading(before), reading(after), SETTINGS)) == expected


def test_supplies_are_compared_by_index_in_order() -> None:
    before = reading(supply("1.10", 30), supply("1.2", 30), supply("ipp.1", 30))
    after = reading(supply("1.2", 19), supply("1.10", 9), supply("1.3", 0), supply("ipp.1", 4))
    assert kinds(detect(before, after, SETTINGS)) == [
        ("threshold-crossed", {"supply_index": "1.2", "threshold_percent": 20}),
        ("threshold-crossed", {"supply_index": "1.10", "threshold_percent": 10}),
        ("threshold-crossed", {"supply_index": "ipp.1", "threshold_percent": 5})]
    custom = parse_config({"events": {"thresholds": [50], "level_jump": 10}}).events
    assert kinds(detect(reading(supply(percent=55)), reading(supply(percent=66)), custom)) == [
        ("supply-replaced", {"supply_index": "1.1"})]
    assert detect(reading(supply(percent=55)), reading(supply(percent=0)), custom)[0].detail \
        .threshold_percent == 50


def test_contract_cartridge_installed_and_removed() -> None:
    commercial = supply(cartridge_type="commercial", cartridge_id="C-1")
    contract = supply(cartridge_type="contract", cartridge_id="K-1")
    assert kinds(detect(reading(commercial, contract=True), reading(contract, contract=True),
                        SETTINGS)) == [
        ("supply-replaced", {"supply_index": "1.1", "previous_cartridge_id": "C-1"}),
        ("contract-cartridge-installed", {"supply_index": "1.1"})]
    assert kinds(detect(reading(contract, contract=True), reading(commercial, contract=True),
                        SETTINGS))[1] == (
        "contract-cartridge-removed", {"supply_index": "1.1", "previous_cartridge_id": "K-1"})
    # the contract cartridge's row gone from a device that still answers the contract MIB
    assert kinds(detect(reading(contract, contract=True), reading(contract=True), SETTINGS)) == [
        ("contract-cartridge-removed", {"supply_index": "1.1", "previous_cartridge_id": "K-1"})]
    assert kinds(detect(reading(contract=True), reading(contract, contract=True), SETTINGS)) == [
        ("contract-cartridge-installed", {"supply_index": "1.1"})]
    # without the contract MIB in both readings there is nothing to compare
    assert detect(reading(commercial, contract=False), reading(
        supply(cartridge_type="contract", cartridge_id="C-1"), contract=True), SETTINGS) == []


def test_alert_and_state_events() -> None:
    before = reading(alerts=[("1", "jam"), ("2", "coverOpen")], state="processing")
    after = reading(alerts=[("2", "doorOpen"), ("3", "jam")], state="stopped")
    assert kinds(detect(before, after, SETTINGS)) == [
        ("alert-cleared", {"alert_index": "1"}), ("alert-cleared", {"alert_index": "2"}),
        ("alert-raised", {"alert_index": "2"}), ("alert-raised", {"alert_index": "3"}),
        ("state-changed", {"previous_state": "processing"})]
    transitions = {("idle", "processing"): False, ("processing", "warmup"): False,
                   ("idle", "stopped"): True, ("stopped", "offline"): True,
                   ("offline", "idle"): True, ("stopped", "unknown"): False,
                   ("unknown", "idle"): False}
    for (was, now), event in transitions.items():
        got = detect(reading(state=was), reading(state=now), SETTINGS)
        assert (got == [StatusEvent("state-changed", EventDetail(previous_state=was))]) == event, (
            was, now)
        assert event or got == []


def test_a_first_reading_has_no_events() -> None:
    assert detect(None, reading(supply(percent=0), alerts=[("1", "jam")], state="stopped"),
                  SETTINGS) == []


def test_a_sleeping_printer_and_a_lost_protocol_are_not_news() -> None:
    awake = reading(supply("1.1", 30), supply("1.2", 50), alerts=[("1", "low")],
                    reachable={"snmp": True, "ipp": True}, contract=True)
    asleep = reading(supply("1.1", None), supply("1.2", None), alerts=[("1", "low")],
                     state="unknown", reachable={"snmp": True, "ipp": True}, contract=True)
    woken = reading(supply("1.1", 19), supply("1.2", 50), alerts=[("1", "low")],
                    reachable={"snmp": True, "ipp": True}, contract=True)
    assert detect(awake, asleep, SETTINGS) == []
    memory = baseline(awake, asleep)
    assert memory.supplies[0].level_percent == 30
    assert memory.state.printer_state == "idle"
    assert kinds(detect(memory, woken, SETTINGS)) == [
        ("threshold-crossed", {"supply_index": "1.1", "threshold_percent": 20})]
    assert asleep.supplies[0].level_percent is None  # the reading itself is untouched

    # SNMP times out once: IPP's view (other supply rows, its own alerts) is not a change
    ipp_only = reading(supply("ipp.1", 30), reachable={"snmp": False, "ipp": True})
    assert detect(awake, ipp_only, SETTINGS) == []
    memory = baseline(awake, ipp_only)
    assert memory.supplies == awake.supplies and memory.contract.supported
    assert memory.reachable == {"snmp": True, "ipp": True}
    assert detect(memory, awake, SETTINGS) == []
    assert kinds(detect(memory, woken, SETTINGS)) == [
        ("threshold-crossed", {"supply_index": "1.1", "threshold_percent": 20})]
    assert baseline(None, awake) is awake


LEVELS = st.one_of(st.integers(0, 100), st.none())


@st.composite
def statuses(draw: st.DrawFn) -> DeviceStatus:
    indexes = draw(st.lists(st.sampled_from(["1.1", "1.2", "1.10", "ipp.1"]), unique=True))
    supplies = [supply(i, draw(LEVELS), **{
        "class": draw(st.sampled_from(["consumed", "filled"])),
        "cartridge_type": draw(st.sampled_from([None, "contract", "commercial"])),
        "cartridge_id": draw(st.sampled_from([None, "", "C-1", "C-2", "K" * 70]))})
        for i in indexes]
    alerts = draw(st.lists(st.tuples(st.sampled_from(["1", "2", "3"]),
                                     st.sampled_from(["jam", "tonerLow", None])), max_size=4))
    return reading(*supplies, alerts=tuple(alerts),
                   state=draw(st.sampled_from(["idle", "processing", "warmup", "stopped",
                                               "offline", "unknown"])),
                   contract=draw(st.booleans()),
                   reachable=draw(st.sampled_from([{"snmp": True}, {"snmp": True, "ipp": True},
                                                   {"snmp": False, "ipp": True}])))


@settings(max_examples=300, deadline=None)
@given(statuses(), statuses())
def test_events_are_named_and_detailed_as_the_document_says(before: DeviceStatus,
                                                            after: DeviceStatus) -> None:
    assert detect(None, after, SETTINGS) == []
    assert detect(after, after, SETTINGS) == []
    kept = copy.deepcopy((before, after))
    for event in detect(before, after, SETTINGS):
        assert event.kind in EVENT_NAMES - {"periodic"}
        assert not schema_errors(EVENT_DETAIL, event.detail.to_json()), event
    assert (before, after) == kept  # readings are not modified


@settings(max_examples=300, deadline=None)
@given(statuses(), statuses())
def test_alerts_raised_one_way_are_cleared_the_other(before: DeviceStatus,
                                                      after: DeviceStatus) -> None:
    def alerts(events: list[StatusEvent], kind: str) -> list[str]:
        return sorted(e.detail.alert_index or "" for e in events if e.kind == kind)

    forth, back = detect(before, after, SETTINGS), detect(after, before, SETTINGS)
    assert alerts(forth, "alert-raised") == alerts(back, "alert-cleared")
    assert alerts(forth, "alert-cleared") == alerts(back, "alert-raised")
    if before.reachable == after.reachable:
        old = {(a.index, a.code) for a in before.state.alerts}
        new = {(a.index, a.code) for a in after.state.alerts}
        assert alerts(forth, "alert-raised") == sorted(i for i, _ in new - old)
    else:
        assert not alerts(forth, "alert-raised") and not alerts(forth, "alert-cleared")


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 100), st.integers(0, 100),
       st.lists(st.integers(1, 99), max_size=4), st.integers(1, 100))
def test_a_threshold_is_crossed_only_downward_through_it(was: int, now: int,
                                                         thresholds: list[int],
                                                         jump: int) -> None:
    config = parse_config({"events": {"thresholds": thresholds, "level_jump": jump}}).events
    events = kinds(detect(reading(supply(percent=was)), reading(supply(percent=now)), config))
    crossed = [t for t in thresholds if was > t >= now]
    expected = []
    if now - was >= jump:
        expected.append(("supply-replaced", {"supply_index": "1.1"}))
    elif crossed:
        expected.append(("threshold-crossed", {"supply_index": "1.1",
                                               "threshold_percent": min(crossed)}))
    if was > 0 and now == 0:
        expected.append(("supply-empty", {"supply_index": "1.1"}))
    assert events == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 15), min_size=1, max_size=40))
def test_steady_use_reports_each_threshold_reached_once_in_order(steps: list[int]) -> None:
    levels = [100]
    for step in steps:
        levels.append(max(0, levels[-1] - step))
    reported = []
    for was, now in itertools.pairwise(levels):
        reported += [e.detail.threshold_percent for e in detect(
            reading(supply(percent=was)), reading(supply(percent=now)), SETTINGS)
            if e.kind == "threshold-crossed"]
    assert reported == sorted(set(reported), reverse=True)
    lowest_reached = min((t for t in SETTINGS.thresholds if t >= levels[-1]), default=None)
    assert (reported[-1] if reported else None) == lowest_reached


@settings(max_examples=200, deadline=None)
@given(statuses(), statuses())
def test_sleeping_in_between_changes_no_supply_event(before: DeviceStatus,
                                                     after: DeviceStatus) -> None:
    """Levels reported unknown while asleep are remembered through `baseline`."""
    after = dataclasses.replace(after, reachable=before.reachable, contract=before.contract)
    asleep = copy.deepcopy(before)
    for item in asleep.supplies:
        item.level_percent, item.level_state, item.raw_level, item.max_capacity = (
            None, "unknown", -2, -2)
    memory = baseline(before, asleep)

    def supply_events(events: list[StatusEvent]) -> list[tuple[str, EventDetail]]:
        return [(e.kind, e.detail) for e in events if e.detail.supply_index is not None]

    assert supply_events(detect(before, asleep, SETTINGS)) == []
    assert supply_events(detect(memory, after, SETTINGS)) == supply_events(
        detect(before, after, SETTINGS))


# -- support service enable settings and FIG. 10 --------------------------------------------------

def service_settings(default: bool, *rules: dict[str, Any]) -> ServiceSettings:
    return ServiceSettings.from_config(parse_config({"services": {"default": default,
                                                                  "rule": list(rules)}}))


def test_the_most_specific_enable_setting_decides() -> None:
    settings_ = service_settings(
        False,
        {"service": "toner-delivery", "enabled": True},                          # 0 fleet
        {"model": "apeos c*", "enabled": False},                                  # 1 model, *
        {"service": "toner-delivery", "model": "Apeos C7580", "enabled": True},  # 2 model, named
        {"serial": "SN-1", "enabled": False},                                     # 3 serial, *
        {"service": "toner-delivery", "serial": "SN-1", "enabled": True},        # 4 serial, named
        {"service": "monitoring", "model": "bizhub*", "enabled": True},          # 5 model, named
    )

    def explain(service: str, model: str | None, serial: str | None) -> tuple[bool, str]:
        got = settings_.explain(service, model=model, serial=serial)
        assert settings_.enabled(service, model=model, serial=serial) == got.enabled
        return got.enabled, got.rule

    assert explain("monitoring", "LaserWriter", "SN-9") == (False, "services.default")
    assert explain("toner-delivery", "LaserWriter", "SN-9") == (True, "services.rule[0]")
    assert explain("toner-delivery", "Apeos C5570", "SN-9") == (False, "services.rule[1]")
    assert explain("toner-delivery", "APEOS  C7580 ", "SN-9") == (True, "services.rule[2]")
    assert explain("toner-delivery", "Apeos C7580", "SN-9") == (True, "services.rule[2]")
    assert explain("monitoring", "Apeos C7580", "SN-9") == (False, "services.rule[1]")
    assert explain("monitoring", "Apeos C7580", " SN-1 ") == (False, "services.rule[3]")
    assert explain("toner-delivery", "Apeos C7580", "SN-1") == (True, "services.rule[4]")
    assert explain("toner-delivery", "Apeos C7580", "sn-1") == (True, "services.rule[2]")
    assert explain("monitoring", "bizhub C250i", None) == (True, "services.rule[5]")
    assert explain("toner-delivery", None, None) == (True, "services.rule[0]")
    assert explain("monitoring", None, None) == (False, "services.default")
    config = parse_config({})
    assert ServiceSettings.from_config(config).explain("x", model=None, serial=None).enabled
    assert ServiceSettings.from_config(config.services).default is True


def application(**changes: Any) -> Application:
    """The document's example application (toner delivery, W2030A-W2033A), changed."""
    example = DOC["paths"]["/v1/printers/{printer_id}/applications"]["get"]["responses"]["200"][
        "content"]["application/json"]["examples"]["two-services"]["value"]["applications"][0]
    return Application.from_json({**example, **changes})


@pytest.mark.parametrize(("changes", "enabled", "installed", "expected"), [
    ({}, True, {"W2030A", "DR-1"}, (True, "active", False)),
    ({}, False, {"W2030A"}, (False, "not-enabled", False)),
    ({"activation_state": "active"}, False, {"W2030A"}, (False, "not-enabled", True)),
    ({"application_id": None, "activation_state": "cancelled"}, True, {"W2030A"},
     (False, "no-application", False)),
    ({"application_id": ""}, True, {"W2030A"}, (False, "no-application", False)),
    ({"activation_state": "suspended"}, True, {"W2030A"}, (False, "suspended", False)),
    ({"activation_state": "cancelled"}, True, {"W2030A"}, (False, "cancelled", False)),
    ({}, True, {"CF217A"}, (False, "incompatible-cartridge", False)),
    ({}, True, set(), (False, "incompatible-cartridge", False)),
    ({"compatible_cartridge_models": []}, True, set(), (True, "active", False)),
    ({"compatible_cartridge_models": ["w 2031a"]}, True, {"W2031A"}, (True, "active", False)),
    ({"activation_state": "active"}, True, {"W2030A"}, (False, "active", False)),
])
def test_fig10_activation_decision(changes: dict, enabled: bool, installed: set[str],
                                   expected: tuple[bool, str, bool]) -> None:
    decision = decide_activation(application(**changes), enabled=enabled,
                                 installed_models=installed)
    assert (decision.activate, decision.reason, decision.deactivate) == expected
    assert decision.enabled is enabled and decision.detail


def test_an_incompatible_service_says_what_the_device_has() -> None:
    decision = decide_activation(application(), enabled=True, installed_models={"CF217A"})
    assert decision.detail == ("supports cartridge models W2030A, W2031A, W2032A, W2033A; "
                               "the device has CF217A")
    none = decide_activation(application(), enabled=True, installed_models=set())
    assert none.detail.endswith("the device has none reported")


def test_installed_models_are_the_supplies_part_numbers_normalised() -> None:
    status = reading(supply("1.1", part_number="w2030a"), supply("1.2", part_number=" W 2031A "),
                     supply("1.3", part_number=None), supply("1.4", part_number="  "))
    assert installed_models(status) == {"W2030A", "W2031A"}
    assert installed_models(reading()) == set()
    assert normalise_model("tn-2 10\t") == "TN-210"


async def test_real_printers_part_numbers_decide_compatibility(
        recorded_printers: tuple[str, int]) -> None:
    """HP names its cartridges at the end of the supply description, Xerox after `PN`."""
    host, port = recorded_printers
    installed = {}
    async with DeviceReader() as reader:
        for name in ("jetdirect_m130nw", "xerox", "brother"):
            status = await reader.read(host, SnmpTarget(host, port, SnmpCredentials(
                version=2, community=name)), None)
            installed[name] = installed_models(status)
    assert installed["jetdirect_m130nw"] == {"CF217A", "CF219A"}
    assert {"006R01509", "008R13061"} <= installed["xerox"]
    assert installed["brother"] == set()
    hp_toner = application(compatible_cartridge_models=["cf217a", "CF230A"])
    decisions = {name: decide_activation(hp_toner, enabled=True, installed_models=models)
                 for name, models in installed.items()}
    assert {name: d.reason for name, d in decisions.items()} == {
        "jetdirect_m130nw": "active", "xerox": "incompatible-cartridge",
        "brother": "incompatible-cartridge"}
