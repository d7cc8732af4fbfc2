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
