"""The shared recordings of real printers are where `tests/support/paths.py` says: without them
the tests parametrised over them would run nothing and pass."""

from __future__ import annotations

from tests.support.paths import IPP_FIXTURES, SNMP_FIXTURES


def test_the_real_printer_recordings_are_found() -> None:
    hint = "set PRINTGW_FIXTURES to the shared fixtures folder (default: ../shared/fixtures)"
    assert len(list(SNMP_FIXTURES.glob("*.snmprec"))) >= 10, f"{SNMP_FIXTURES}: {hint}"
    assert list(SNMP_FIXTURES.glob("*.expected.json")), f"{SNMP_FIXTURES}: {hint}"
    assert list(IPP_FIXTURES.rglob("*.bin")), f"{IPP_FIXTURES}: {hint}"
