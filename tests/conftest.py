"""Shared test fixtures: real printer recordings served by snmpsim on loopback; the fake cloud
(`fake_cloud`) of `tests/support/fake_cloud.py`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.support.paths import SNMP_FIXTURES
from tests.support.snmpsim_agent import snmpsim

pytest_plugins = ("tests.support.fake_cloud",)

@pytest.fixture(scope="session")
def recorded_printers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """snmpsim serving every recording in shared/fixtures/snmp; community = recording name."""
    if shutil.which("snmpget") is None:
        pytest.fail("net-snmp's snmpget is missing: install the Debian package 'snmp'")
    recordings = sorted(SNMP_FIXTURES.glob("*.snmprec"))
    assert recordings, f"no recordings in {SNMP_FIXTURES}"
    with snmpsim(recordings, tmp_path_factory.mktemp("snmpsim")) as endpoint:
        yield endpoint
