"""SNMPv3 authPriv (SHA + AES) against snmpsim, through the real CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import SNMP_FIXTURES
from tests.support.printgw_cli import printgw
from tests.support.snmpsim_agent import snmpsim

AUTH_KEY = "auth-secret-1"
PRIV_KEY = "priv-secret-2"


@pytest.fixture(scope="module")
def v3_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    v3 = ["--v3-engine-id=auto", "--v3-user=printgw", f"--v3-auth-key={AUTH_KEY}",
          "--v3-auth-proto=SHA", f"--v3-priv-key={PRIV_KEY}", "--v3-priv-proto=AES"]
    with snmpsim([SNMP_FIXTURES / "konica_c250i.snmprec"], tmp_path_factory.mktemp("v3"),
                 extra_args=v3) as endpoint:
        yield endpoint


def v3_poll(endpoint: tuple[str, int], priv_key: str, *extra: str):  # type: ignore[no-untyped-def]
    host, port = endpoint
    return printgw("poll", host, "--port", str(port), "--no-ipp", "--json", "--timeout", "1",
                   "--retries", "0", "--v3-user", "printgw", "--v3-auth-protocol", "SHA",
                   "--v3-auth-key", AUTH_KEY, "--v3-priv-protocol", "AES",
                   "--v3-priv-key", priv_key, "--context", "konica_c250i", *extra)


def test_v3_auth_priv_reads_the_printer(v3_agent: tuple[str, int]) -> None:
    result = v3_poll(v3_agent, PRIV_KEY)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["identity"]["serial"] == "AA2M021115700"
    assert status["counters"]["total"] == 33810
    assert {s["index"] for s in status["supplies"]} >= {"1.1", "1.2", "1.3", "1.4", "1.13"}


def test_v3_wrong_key_is_a_clear_failure(v3_agent: tuple[str, int]) -> None:
    result = v3_poll(v3_agent, "not-the-key")
    assert result.returncode == 1
    assert "does not answer" in result.stderr
    assert "not-the-key" not in result.stderr + result.stdout  # secrets never shown


def test_v3_short_key_is_rejected_before_sending(tmp_path: Path) -> None:
    result = printgw("poll", "127.0.0.1", "--no-ipp", "--v3-user", "u", "--v3-auth-key", "short")
    assert result.returncode == 2
    assert "at least 8 characters" in result.stderr
