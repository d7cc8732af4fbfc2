"""The traps of issue 18 that the config and the command line set (each with its fix):

- the status page's default port was the virtual fleet's control API's (both on one machine: the
  page did not start);
- the region defaulted to "jp" silently, also for a gateway with a cloud in another region;
- SNMP communities only on the command line of `poll` / `discover`, where `ps` shows them
  (tests/app/test_admin_traps.py reads a printer with each way of giving one).

(A data directory the gateway may not write: tests/settings/test_strict_config.py.)
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from gateway.app.cli import _build_parser
from gateway.app.device_options import communities
from gateway.demo.config import DemoOptions, write_config
from gateway.settings.loading import ConfigError, load_config, parse_config
from gateway.settings.schema import StatusPageSettings
from simulator.cli import parse_args as simulator_args
from simulator.control_api import start_control_api
from tests.support.paths import REPO
from tests.support.printgw_cli import printgw

EXAMPLE = REPO / "config" / "gateway.example.toml"


def test_the_status_page_and_the_simulators_control_api_have_different_default_ports() -> None:
    control = inspect.signature(start_control_api).parameters["port"].default
    assert simulator_args([]).control_port == control == 8631
    assert StatusPageSettings().port == 8639 != control
    assert "\nport = 8639 " in EXAMPLE.read_text()


# -- the region ------------------------------------------------------------------------------------

def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\ndata_dir = "{tmp_path / "data"}"\n{text}')
    path.chmod(0o600)
    return path


def test_a_cloud_without_a_region_is_refused_by_check_config(tmp_path: Path) -> None:
    path = _config(tmp_path, '[cloud]\nurl = "https://api.printgw.example"\n')
    result = printgw("check-config", str(path))
    assert result.returncode == 2
    (problem,) = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert problem.startswith("  - gateway.region: required with [cloud] url")
    assert 'e.g. region = "jp", "us" or "eu-west"' in problem
    run = printgw("run", "--once", "--config", str(path))  # nothing starts
    assert run.returncode == 2 and "gateway.region: required" in run.stderr


def test_a_region_given_or_no_cloud_is_fine(tmp_path: Path) -> None:
    given = _config(tmp_path, 'region = "eu-west"\n[cloud]\nurl = "https://api.printgw.example"\n')
    result = printgw("check-config", str(given))
    assert result.returncode == 0, result.stderr
    config = parse_config({"gateway": {"region": "eu-west"},
                           "cloud": {"url": "https://api.printgw.example"}})
    assert (config.gateway.region, config.gateway.shipping_destination) == ("eu-west", "EU")
    assert parse_config({}).cloud.url is None  # no cloud: no region needed


def test_the_missing_region_is_reported_with_every_other_mistake() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"gateway": {"name": ""}, "cloud": {"url": "https://api.printgw.example",
                                                         "batch_size": 900}})
    keys = sorted(p.split(":")[0] for p in caught.value.problems)
    assert keys == ["cloud.batch_size", "gateway.name", "gateway.region"]


def test_the_example_and_the_demos_config_are_valid_with_their_region(tmp_path: Path) -> None:
    assert load_config(EXAMPLE).gateway.region == "jp"  # its [cloud] url is to uncomment
    demo = load_config(write_config(tmp_path, DemoOptions(), "http://127.0.0.1:8480", 0,
                                    "enrolment-token-0123"))
    assert demo.cloud.url is not None and demo.gateway.region == "jp"


# -- SNMP communities ------------------------------------------------------------------------------

def _poll_args(*args: str):
    return _build_parser().parse_args(["poll", "192.0.2.1", *args])


def test_a_community_from_the_environment_or_a_file(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PRINTGW_SNMP_COMMUNITY", raising=False)
    assert communities(_poll_args()) == []  # public, said snmp_target
    monkeypatch.setenv("PRINTGW_SNMP_COMMUNITY", "from-the-env")
    assert communities(_poll_args()) == ["from-the-env"]
    secret = tmp_path / "community"
    secret.write_text("from-a-file\n")
    secret.chmod(0o600)
    assert communities(_poll_args("--community-file", str(secret))) == ["from-a-file"]
    several = tmp_path / "communities"
    several.write_text("# the sites\nsite-a\n\nsite-b\n")
    several.chmod(0o600)
    discover = _build_parser().parse_args(["discover", "--community-file", str(several)])
    assert communities(discover) == ["site-a", "site-b"]
    assert capsys.readouterr().err == ""  # no warning for either

    assert communities(_poll_args("--community", "on-the-line")) == ["on-the-line"]
    warning = capsys.readouterr().err
    assert "warning: --community shows the community to every user" in warning
    assert "PRINTGW_SNMP_COMMUNITY" in warning and "on-the-line" not in warning
    assert communities(_poll_args("--community", "public")) == ["public"]
    assert capsys.readouterr().err == ""  # well known: nothing to hide


def test_a_community_file_others_may_read_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "community"
    secret.write_text("n0t-for-others\n")
    secret.chmod(0o644)
    result = printgw("poll", "192.0.2.1", "--no-ipp", "--community-file", str(secret))
    assert result.returncode == 2
    assert f"--community-file: the secret file {secret} is readable by group or others" in \
        result.stderr and "chmod 600" in result.stderr
    assert "n0t-for-others" not in result.stderr + result.stdout
