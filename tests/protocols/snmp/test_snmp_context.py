"""HP Jetdirect: printer data only in the SNMP context `Jetdirect` (v2c community `NAME@Jetdirect`).

The HP M880 recording is split at test time: the default context keeps only the system group (as
such print servers answer), the `Jetdirect` context holds the printer's MIB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.paths import SNMP_FIXTURES
from tests.support.printgw_cli import printgw
from tests.support.snmpsim_agent import snmpsim


@pytest.fixture(scope="module")
def jetdirect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    workdir = tmp_path_factory.mktemp("jetdirect")
    lines = (SNMP_FIXTURES / "jetdirect_m880.snmprec").read_text().splitlines(keepends=True)
    system = [line for line in lines if line.startswith("1.3.6.1.2.1.1.")]
    (workdir / "hpctx.snmprec").write_text("".join(system))
    (workdir / "hpctx@Jetdirect.snmprec").write_text("".join(lines))
    recordings = [workdir / "hpctx.snmprec", workdir / "hpctx@Jetdirect.snmprec"]
    with snmpsim(recordings, workdir / "agent") as endpoint:
        yield endpoint


def test_printer_data_is_read_from_the_jetdirect_context(jetdirect: tuple[str, int]) -> None:
    host, port = jetdirect
    result = printgw("poll", host, "--port", str(port), "--community", "hpctx", "--no-ipp",
                     "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert "M880" in status["identity"]["model"]
    assert len(status["supplies"]) == 15
    black = next(s for s in status["supplies"] if s["index"] == "1.1")
    assert black["description"] == "Black Cartridge 827A HP CF300A"
    assert black["level_percent"] == 92


def test_explicit_context_option(jetdirect: tuple[str, int]) -> None:
    host, port = jetdirect
    result = printgw("poll", host, "--port", str(port), "--community", "hpctx",
                     "--context", "Jetdirect", "--no-ipp", "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["supplies"]) == 15


@pytest.fixture(scope="module")
def device_id_in_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """The HP M130nw with all its printer data in the default context but its device ID (HP's
    object) and its serial number only in `Jetdirect`."""
    workdir = tmp_path_factory.mktemp("partial")
    lines = (SNMP_FIXTURES / "jetdirect_m130nw.snmprec").read_text().splitlines(keepends=True)
    only_in_context = ("1.3.6.1.4.1.11.2.3.9.1.1.7.0|", "1.3.6.1.2.1.43.5.1.1.17.",
                       "1.3.6.1.4.1.11.2.3.9.4.2.1.1.3.3.0|")
    default = [line for line in lines if not line.startswith(only_in_context)]
    assert len(default) < len(lines)
    (workdir / "hppart.snmprec").write_text("".join(default))
    (workdir / "hppart@Jetdirect.snmprec").write_text("".join(lines))
    recordings = [workdir / "hppart.snmprec", workdir / "hppart@Jetdirect.snmprec"]
    with snmpsim(recordings, workdir / "agent", host="127.0.0.122") as endpoint:
        yield endpoint


def test_what_the_default_context_lacks_is_read_from_the_context(
        device_id_in_context: tuple[str, int]) -> None:
    host, port = device_id_in_context
    result = printgw("poll", host, "--port", str(port), "--community", "hppart", "--no-ipp",
                     "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["identity"]["device_id"].startswith("MFG:HP;")
    assert status["sources"]["identity.device_id"] == "snmp:1.3.6.1.4.1.11.2.3.9.1.1.7.0"
    assert status["identity"]["serial"] == "VNCRC48198"
    assert status["sources"]["identity.serial"] == "snmp:prtGeneralSerialNumber"
    assert "M130nw" in status["identity"]["model"]
    assert len(status["supplies"]) >= 1
