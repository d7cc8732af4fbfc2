"""The summary the status page keeps of each reading (`gateway.fleet.readings.summary_json`, made
from pieces encoded once: issue 20) is, byte for byte, the document it always was: the reading's
`to_json()` document cut down to what the page shows, encoded compactly."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

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
from gateway.fleet.readings import summary_json


def expected(document: dict[str, Any]) -> str:
    """The summary as it was made before issue 20, from the reading's document."""
    state = document.get("state") or {}
    summary = {
        "host": document.get("host"),
        "read_at": document["read_at"],
        "reachable": dict(document.get("reachable") or {}),
        "identity": {key: (document.get("identity") or {}).get(key) for key in
                     ("serial", "manufacturer", "model", "hostname", "location", "firmware")},
        "state": {"printer_state": state.get("printer_state", "unknown"),
                  "reasons": list(state.get("reasons") or ()), "message": state.get("message"),
                  "abnormal": bool(state.get("abnormal")),
                  "alerts": [{key: alert.get(key) for key in
                              ("index", "severity", "group", "code", "description")}
                             for alert in state.get("alerts") or ()]},
        "supplies": [{key: supply.get(key) for key in
                      ("index", "description", "kind", "color", "level_percent", "level_state",
                       "low_percent", "class", "cartridge_type")}
                     for supply in document.get("supplies") or ()],
        "counters": {name: value for name, value in (document.get("counters") or {}).items()
                     if value is not None},
        "contract": {key: (document.get("contract") or {}).get(key)
                     for key in ("supported", "mode", "printing_prohibited", "panel_message")},
        "problems": [problem.get("message") for problem in document.get("problems") or ()],
        "forecasts": list(document.get("forecasts") or ()),
    }
    return json.dumps(summary, separators=(",", ":"), ensure_ascii=False)


def readings() -> list[DeviceStatus]:
    at = datetime(2026, 12, 7, 9, 30, 12, 345678, tzinfo=UTC)
    full = DeviceStatus(
        host="192.0.2.7", read_at=at, reachable={"snmp": True, "ipp": False},
        identity=Identity(serial="SN-7", manufacturer="Kyocera", model="TASKalfa 2554ci",
                          hostname="drucker-2og", location="2. OG, Büro \"Nord\" ☃",
                          firmware="2WB_S0IS.C01.010", mac="00:11:22:33:44:55"),
        supplies=[Supply(index="1.1", description="TK-8345K \u2018black\u2019 \\ \t", kind="toner",
                         color="black", level_percent=40, level_state="known", raw_level=40,
                         max_capacity=100, supply_class="consumed", low_percent=10,
                         cartridge_type="contract", part="toner"),
                  Supply(index="1.2", kind="wasteToner", level_state="some-remaining",
                         raw_level=-3, supply_class="filled"),
                  Supply(index="ipp.3", description=None, level_percent=0, level_state="known",
                         source="ipp")],
        counters=Counters(total=12_345, color=4_000, mono=8_345, duplex=0),
        state=State(printer_state="stopped", reasons=["toner-empty", "media-jam"],
                    message="Papierstau\nKassette 1", abnormal=True,
                    alerts=[Alert(index="1", severity="critical", group="marker",
                                  code="tonerEmpty", description="Toner leer",
                                  training_level="trained")]),
        contract=Contract(supported=True, mode="normal", printing_prohibited=False,
                          panel_message="Vertrag"),
        sources={"identity.serial": "snmp:prtGeneralSerialNumber"},
        functions={"print": "snmp:hrDeviceType.1=hrDevicePrinter"},
        problems=[Problem("ipp", "read", "slow"), Problem("snmp", "walk", "stopped")],
        forecasts=[SupplyForecast(index="1.1", days_to_empty=12.5, pages_remaining=900,
                                  empty_on=date(2026, 12, 19), confidence="high",
                                  method="per-page", basis_points=40, basis_days=3.25),
                   SupplyForecast(index="1.2", reason="level unknown"),
                   SupplyForecast(index="ipp.3", days_to_empty=0.0, basis_points=3,
                                  basis_days=1, reason=None)])
    same_but_ints = full.copy()  # 1 and 1.0, 0 and False: the same key to a dict, not in JSON
    same_but_ints.forecasts = [SupplyForecast(index="ipp.3", days_to_empty=0, basis_points=3,
                                              basis_days=1.0)]
    same_but_ints.supplies[2].level_percent = False  # type: ignore[assignment]
    bare = DeviceStatus(host="printer.example", read_at=at)
    return [full, same_but_ints, bare, full]


def test_the_summary_is_the_document_it_always_was() -> None:
    for status in readings():
        assert summary_json(status) == expected(status.to_json())
