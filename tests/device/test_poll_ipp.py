"""`printgw poll --no-snmp` against CUPS's ippeveprinter: the real CLI over ipp and ipps."""

from __future__ import annotations

import json

import pytest

from tests.support.ippeveprinter import (  # noqa: F401 - ippeve_fleet_fixture is the `ippeve_fleet` fixture
    CONF_DIR,
    IppEveFleet,
    ippeve_fleet_fixture,
)
from tests.support.printgw_cli import printgw


@pytest.mark.parametrize(("tls", "ipp_version"), [(False, None), (True, None), (False, "1.1")])
def test_poll_ipp_only(ippeve_fleet: IppEveFleet, tls: bool, ipp_version: str | None) -> None:
    name = f"canon-{'ipps' if tls else 'ipp'}-{ipp_version or '2.0'}"
    printer = ippeve_fleet.start(name, CONF_DIR / "canon-c3530.conf", ipp_version=ipp_version)
    result = printgw("poll", "127.0.0.1", "--no-snmp", "--ipp-port", str(printer.port),
                     "--timeout", "5", "--json", *(["--ipps"] if tls else []))
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["reachable"] == {"ipp": True}
    assert status["identity"]["serial"] == "2ZH01234"
    assert "C3530" in status["identity"]["model"]
    levels = {s["description"]: (s["color"], s["level_percent"], s["level_state"])
              for s in status["supplies"]}
    assert levels["Black Toner"] == ("black", 55, "known")
    assert levels["Yellow Toner"] == ("yellow", None, "unavailable")
    assert all(s["index"].startswith("ipp.") for s in status["supplies"])


def test_poll_ipps_with_verification_fails_on_self_signed(ippeve_fleet: IppEveFleet) -> None:
    printer = ippeve_fleet.start("hp", CONF_DIR / "hp-m404.conf")
    result = printgw("poll", "127.0.0.1", "--no-snmp", "--ipp-port", str(printer.port), "--ipps",
                     "--verify-tls", "--timeout", "5")
    assert result.returncode == 1
    assert "certificate" in result.stderr.lower()
