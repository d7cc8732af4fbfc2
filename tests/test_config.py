"""The gateway config: the example parses, credentials resolve, every mistake is named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.config import Config, ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "gateway.example.toml"


def test_the_documented_example_is_valid_and_means_the_defaults() -> None:
    assert load_config(EXAMPLE) == Config()


def test_credentials_per_subnet_and_host(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SITE2_COMMUNITY", "s3cret-community")
    key_file = tmp_path / "priv"
    key_file.write_text("privpassphrase\n")
    config = parse_config({
        "snmp": {"communities": ["public", "office"], "v1": True,
                 "v3_users": {"ops": {"auth_key": "authpassphrase", "priv_key": {
                     "file": str(key_file)}, "auth_protocol": "sha256"}}},
        "discovery": {
            "subnets": [{"cidr": "10.1.0.0/24"},
                        {"cidr": "10.2.0.0/24", "communities": [{"env": "SITE2_COMMUNITY"}],
                         "v3_users": []}],
            "static": [{"host": "10.1.0.7", "v3_users": ["ops"], "communities": []}],
            "exclude": ["10.1.0.1", "10.1.0.128/25"]}})
    site1 = config.credentials(config.scope_for("10.1.0.9"))
    assert [(c.version, c.community if c.version < 3 else c.user) for c in site1] == [
        (2, "public"), (1, "public"), (2, "office"), (1, "office"), (3, "ops")]
    assert site1[-1].priv_key == "privpassphrase"
    assert site1[-1].auth_protocol == "SHA256"
    site2 = config.credentials(config.scope_for("10.2.0.9"))
    assert [(c.version, c.community) for c in site2] == [(2, "s3cret-community"),
                                                         (1, "s3cret-community")]
    static = config.credentials(config.scope_for("10.1.0.7"))
    assert [c.user for c in static] == ["ops"]
    assert config.scope_for("192.168.9.9") is None
    assert config.excluded("10.1.0.1") and config.excluded("10.1.0.200")
    assert not config.excluded("10.1.0.2")
    assert "s3cret" not in repr(config)  # secrets never appear in reprs or logs


def test_every_mistake_is_named_with_its_key_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("""
[snmp]
communities = ["public", { env = "PRINTGW_TEST_UNSET_VARIABLE" }]
timeout = "2 fortnights"
[snmp.v3_users.ops]
auth_key = "short"
usr = "ops"
[discovery]
subnet = []
mdns = "maybe"
exclude = ["10.0.0.300"]
[[discovery.subnets]]
cidr = "10.0.0.0/33"
[[discovery.subnets]]
cidr = "10.0.0.0/8"
[[discovery.static]]
host = "printer"
ipp_uri = "http://printer/"
""")
    os.environ.pop("PRINTGW_TEST_UNSET_VARIABLE", None)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = caught.value.problems
    expected = {
        "snmp.communities[1]": "PRINTGW_TEST_UNSET_VARIABLE is not set",
        "snmp.timeout": "not a duration",
        "snmp.v3_users.ops.auth_key": "at least 8 characters",
        "snmp.v3_users.ops.usr": "did you mean 'user'",
        "discovery.subnet:": "did you mean 'subnets'",
        "discovery.mdns": "boolean",
        "discovery.exclude[0]": "not an address or a network",
        "discovery.subnets[0].cidr": "10.0.0.0/33",
        "discovery.subnets[1].cidr": "sweep /16 or smaller",
        "discovery.static[0].ipp_uri": "not an IPP URI",
    }
    for key, words in expected.items():
        assert any(p.startswith(key) and words in p for p in problems), (key, problems)
    assert len(problems) == len(expected)
    assert "short" not in str(caught.value)  # a bad secret is not echoed


def test_unreadable_and_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[discovery\nmdns = true\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


def test_a_v3_user_must_be_defined_before_a_subnet_names_it() -> None:
    with pytest.raises(ConfigError, match=r"add a \[snmp.v3_users.nobody\] table"):
        parse_config({"discovery": {"subnets": [{"cidr": "10.0.0.0/24",
                                                 "v3_users": ["nobody"]}]}})
