"""Get-Printer-Attributes responses of real printers, parsed and mapped, against expected.json."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.device.ipp_mapping import apply_ipp
from gateway.device.model import DeviceStatus, Supply
from protocols.ipp.model import IppReading
from protocols.ipp.parser import parse_response
from tests.support.paths import FIXTURES

REAL = FIXTURES / "ipp" / "real"
EXPECTED: dict[str, dict[str, Any]] = {
    name: entry
    for name, entry in json.loads((REAL / "expected.json").read_text()).items()
    if not name.startswith("_")
}


def _kind_key(kind: str | None) -> str:
    """`ink-cartridge` and `inkCartridge` compare equal."""
    return re.sub(r"[^a-z0-9]", "", (kind or "").lower())


def _read(path: Path) -> tuple[IppReading, DeviceStatus]:
    status_code, version, attributes, problems = parse_response(path.read_bytes())
    reading = IppReading(f"ipp://x/{path.name}", version, status_code, attributes, problems)
    status = DeviceStatus(host="x")
    apply_ipp(status, reading)
    return reading, status


def test_every_capture_has_an_expectation() -> None:
    assert {p.name for p in REAL.glob("*.bin")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_capture(name: str) -> None:
    expected = EXPECTED[name]
    reading, status = _read(REAL / name)
    assert reading.problems == []
    ident, state = status.identity, status.state

    if "status_code" in expected:
        assert reading.status_code == expected["status_code"]
    if "manufacturer" in expected:
        assert ident.manufacturer == expected["manufacturer"]
    if expected.get("model_token"):
        assert ident.model is not None and expected["model_token"] in ident.model
    if expected.get("serial") is not None:
        assert ident.serial == expected["serial"]
    if "uuid" in expected:
        assert ident.uuid == expected["uuid"]
    if "firmware" in expected:
        assert ident.firmware == expected["firmware"]
    if "state" in expected:
        assert state.printer_state == expected["state"]
    if "state_reasons" in expected:
        assert state.reasons == expected["state_reasons"]
    if "state_message" in expected:
        assert state.message == expected["state_message"]
    if "markers" in expected:
        _check_markers(status, expected["markers"])


def _check_markers(status: DeviceStatus, markers: list[dict[str, Any]]) -> None:
    got = [
        {"name": s.description, "color": s.color, "kind": _kind_key(s.kind),
         "level_percent": s.level_percent, "low": s.low_percent}
        for s in status.supplies
    ]
    want = [{**m, "kind": _kind_key(m["kind"])} for m in markers]
    assert got == want
    assert [s.index for s in status.supplies] == [f"ipp.{i + 1}" for i in range(len(markers))]
    assert all(s.source == "ipp" and s.level_state == "known" for s in status.supplies)


def test_ipp_fills_gaps_after_snmp() -> None:
    """SNMP values stay; IPP fills only what SNMP left empty, and says so in `sources`."""
    status = DeviceStatus(host="x")
    status.set(status.identity, "serial", "SNMP-SERIAL", "snmp:prtGeneralSerialNumber")
    status.state.printer_state = "processing"
    _, attributes = _parse("get-printer-attributes-epsonxp6000.bin")
    apply_ipp(status, IppReading("ipp://x", (2, 0), 0, attributes, []))
    assert status.identity.serial == "SNMP-SERIAL"
    assert status.sources["identity.serial"] == "snmp:prtGeneralSerialNumber"
    assert status.state.printer_state == "processing"
    assert status.identity.firmware == "20.44.NU25M7"
    assert status.sources["identity.firmware"] == "ipp:printer-firmware-string-version"
    assert status.reachable["ipp"] is True


def test_snmp_supplies_get_only_missing_colours() -> None:
    status = DeviceStatus(host="x")
    status.supplies = [
        Supply(index="1.1", description="magenta ink", level_percent=50, level_state="known"),
        Supply(index="1.2", description="Cartridge 2"),
        Supply(index="1.3", description="Cartridge 3", color="red"),
        Supply(index="1.4", description="Cartridge 4"),
    ]
    _, attributes = _parse("get-printer-attributes-hp6830.bin")
    apply_ipp(status, IppReading("ipp://x", (2, 0), 0, attributes, []))
    assert [s.color for s in status.supplies] == ["magenta", "cyan", "red", "black"]
    assert [s.index for s in status.supplies] == ["1.1", "1.2", "1.3", "1.4"]
    assert status.supplies[0].level_percent == 50
    assert status.sources["supplies.1.1.color"] == "ipp:marker-colors"


def test_alerts_from_printer_alert() -> None:
    _, status = _read(REAL / "get-printer-attributes-epsonxp6000.bin")
    assert len(status.state.alerts) == 1
    alert = status.state.alerts[0]
    assert (alert.code, alert.description) == ("other", "feed roller needed soon")
    assert status.state.abnormal is False


def _parse(name: str) -> tuple[int, dict[str, Any]]:
    status_code, _, attributes, _ = parse_response((REAL / name).read_bytes())
    return status_code, attributes
