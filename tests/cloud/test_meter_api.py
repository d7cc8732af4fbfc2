"""The reference cloud's meters (issue 17): the operator sets a printer's meter schedule, the
gateway reads it in the control information and is told of the change; `meter-snapshot` entries
are kept once per printer and period and served to a billing system; the latest value of each
counters type is shown with its sources.  Real HTTP, every answer checked against the document."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from tests.support.cloud_helpers import BOTH_BACKENDS, Gateway, Operator, next_push

pytest_plugins = ("tests.support.cloud_helpers",)

METERS = ["counters.total", "counters.color", "counters.function", "counters.media"]
SCHEDULE = {"day_of_month": "last", "time": "23:30", "time_zone": "Europe/Berlin"}


async def _billed(operator: Operator, gateway: Gateway) -> str:
    """A printer whose active billing service asks for the meters."""
    await operator.put_service("billing", METERS)
    printer_id = await gateway.register()
    app = await operator.contract(printer_id, "billing")
    await gateway.activate(printer_id, "billing", app["application_id"])
    return printer_id


def _entry(printer_id: str, event: str, read_at: str, total: int,
           detail: dict[str, Any] | None = None) -> dict[str, Any]:
    entry = {"entry_id": str(uuid.uuid4()), "printer_id": printer_id, "read_at": read_at,
             "event": event, "data": {
                 "counters.total": {"total": total,
                                    "sources": {"total": "snmp:prtMarkerLifeCount"}},
                 "counters.function": {
                     "print": total - 10, "copy": 10, "fax": None, "scan": None,
                     "sources": {"print": "snmp:Sharp:1.3.6.1.4.1.2385.1.1.19.2.1.3.1.4.60",
                                 "copy": "snmp:Sharp:1.3.6.1.4.1.2385.1.1.19.2.1.3.4.4.60"}}}}
    if detail is not None:
        entry["event_detail"] = detail
    return entry


async def test_the_schedule_reaches_the_gateway(operator: Operator, gateway: Gateway) -> None:
    printer_id = await _billed(operator, gateway)
    path = {"printer_id": printer_id}
    before = await gateway.ok("getDeviceControlInformation", path=path)
    assert before["meter_schedule"] is None
    ws = await gateway.push()
    try:
        assert (await next_push(ws))["type"] == "hello"
        view = await operator.ok("putMeterSchedule", path=path,
                                 json_body={"meter_schedule": SCHEDULE})
        assert view == {"printer_id": printer_id, "meter_schedule": SCHEDULE}
        change = await next_push(ws, within=5)
        while change.get("revision", 0) <= before["revision"]:  # the stream's replay first
            change = await next_push(ws, within=5)
        assert (change["type"], change["printer_id"]) == ("control-info-changed", printer_id)
    finally:
        await ws.close()
    control = await gateway.ok("getDeviceControlInformation", path=path)
    assert control["meter_schedule"] == SCHEDULE
    assert control["revision"] > before["revision"]

    # The same again is no change; null clears it; the zone may be left to the printer's.
    await operator.ok("putMeterSchedule", path=path, json_body={"meter_schedule": SCHEDULE})
    assert (await gateway.ok("getDeviceControlInformation", path=path))["revision"] == \
        control["revision"]
    await operator.ok("putMeterSchedule", path=path, json_body={
        "meter_schedule": {"day_of_month": 1, "time": "00:00"}})
    assert (await gateway.ok("getDeviceControlInformation", path=path))["meter_schedule"] == {
        "day_of_month": 1, "time": "00:00", "time_zone": None}
    await operator.ok("putMeterSchedule", path=path, json_body={"meter_schedule": None})
    assert (await gateway.ok("getDeviceControlInformation", path=path))["meter_schedule"] is None


async def test_bad_schedules_are_refused(operator: Operator, gateway: Gateway) -> None:
    printer_id = await _billed(operator, gateway)
    for schedule in ({"day_of_month": 29, "time": "00:00"}, {"day_of_month": 0, "time": "00:00"},
                     {"day_of_month": "first", "time": "00:00"},
                     {"day_of_month": 1, "time": "24:00"}, {"day_of_month": 1, "time": "7:00"},
                     {"day_of_month": 1}, {"day_of_month": 1, "time": "00:00", "extra": 1}):
        answer = await operator.call("putMeterSchedule", path={"printer_id": printer_id},
                                     json_body={"meter_schedule": schedule})
        assert answer.status in (400, 422), (schedule, answer.status)
    missing = await operator.call("putMeterSchedule", path={"printer_id": str(uuid.uuid4())},
                                  json_body={"meter_schedule": SCHEDULE})
    assert missing.status == 404


@BOTH_BACKENDS
async def test_snapshots_are_kept_once_per_period_and_served(
        operator: Operator, gateway: Gateway) -> None:
    printer_id = await _billed(operator, gateway)
    path = {"printer_id": printer_id}
    december = {"period": "2026-12", "scheduled_at": "2026-11-30T15:00:00Z"}
    first = _entry(printer_id, "meter-snapshot", "2026-11-30T15:04:00Z", 1000, december)
    again = _entry(printer_id, "meter-snapshot", "2026-11-30T16:00:00Z", 1200, december)
    later = _entry(printer_id, "periodic", "2026-12-01T09:00:00Z", 1500)
    result = await gateway.upload([first, again, later])
    assert result["counts"] == {"accepted": 3, "duplicate": 0, "rejected": 0}
    await gateway.upload([first], key=secrets.token_hex(16))  # a retry: a duplicate

    readings = (await operator.ok("listMeterReadings", path=path))["meter_readings"]
    assert [(r["period"], r["read_at"], r["entry_id"]) for r in readings] == [
        ("2026-12", "2026-11-30T15:04:00Z", first["entry_id"])]
    assert readings[0]["scheduled_at"] == "2026-11-30T15:00:00Z"
    assert readings[0]["counters"]["counters.function"]["sources"]["copy"].startswith(
        "snmp:Sharp:")
    assert set(readings[0]["counters"]) == {"counters.total", "counters.function"}
    assert (await operator.ok("listMeterReadings", path=path,
                              params={"period": "2027-01"}))["meter_readings"] == []
    bad = await operator.call("listMeterReadings", path=path, params={"period": "2026-13"})
    assert bad.status == 400

    latest = (await operator.ok("getLatestMeters", path=path))["meters"]
    assert set(latest) == {"counters.total", "counters.function"}
    assert (latest["counters.total"]["read_at"], latest["counters.total"]["event"]) == (
        "2026-12-01T09:00:00Z", "periodic")
    assert latest["counters.total"]["value"] == {
        "total": 1500, "sources": {"total": "snmp:prtMarkerLifeCount"}}


async def test_an_older_gateways_counters_without_sources_are_accepted(
        operator: Operator, gateway: Gateway) -> None:
    printer_id = await _billed(operator, gateway)
    entry = {"entry_id": str(uuid.uuid4()), "printer_id": printer_id, "event": "periodic",
             "read_at": "2026-12-01T09:00:00Z", "data": {
                 "counters.total": {"total": 5}, "counters.color": {"color": 1, "mono": 4}}}
    result = await gateway.upload([entry])
    assert result["counts"]["accepted"] == 1
