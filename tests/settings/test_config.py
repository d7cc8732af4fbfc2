"""The gateway config: the example parses, credentials resolve, every mistake is named."""

from __future__ import annotations

import fnmatch
import os
import re
import socket
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from gateway.settings.globs import glob_common_match
from gateway.settings.loading import ConfigError, changed_keys, load_config, parse_config
from gateway.settings.schema import Config
from gateway.settings.values import host_time_zone
from tests.support.certificates import write_ca_certificate
from tests.support.paths import REPO
from tests.support.printgw_cli import printgw

EXAMPLE = REPO / "config" / "gateway.example.toml"


def test_the_documented_example_is_valid_and_means_the_defaults() -> None:
    assert load_config(EXAMPLE) == Config()


def _uncommented(text: str) -> dict[str, Any]:
    """The example with its commented-out keys and tables (`# key = …`, `# [table]`) in force."""
    lines = [re.sub(r"^# (?=\[|[a-z_0-9]+ = )", "", line) for line in text.splitlines()]
    return tomllib.loads("\n".join(lines))


def _undocumented(model: type[BaseModel], documented: Any, where: str) -> list[str]:
    """The keys of `model` (and of the tables inside it) the example does not show."""
    if isinstance(documented, list):  # an array of tables: its keys are those of every row
        documented = {k: v for row in documented for k, v in row.items()}
    missing = []
    for name, field in model.model_fields.items():
        if name not in documented:
            missing.append(f"{where}{name}")
            continue
        inner = _inner_model(field.annotation)
        if inner is not None:
            value = documented[name]
            if getattr(field.annotation, "__origin__", None) is dict:  # tables by name
                value = list(value.values())
            missing += _undocumented(inner, value, f"{where}{name}.")
    return missing


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for arg in getattr(annotation, "__args__", ())
                 if (m := _inner_model(arg)) is not None), None)


def test_the_example_documents_every_key_with_a_comment() -> None:
    text = EXAMPLE.read_text()
    assert _undocumented(Config, _uncommented(text), "") == []
    lines = text.splitlines()
    for section in Config.model_fields:  # each section opens with what it is for
        assert lines[lines.index(f"[{section}]") + 1].startswith("# "), section
    for i, line in enumerate(lines):  # each key has a comment: its own, or its group's
        if re.match(r"[a-z_0-9]+ = ", line) and " # " not in line:
            above = next(other for other in reversed(lines[:i])
                         if not re.match(r"[a-z_0-9]+ = ", other))
            assert above.startswith("#"), line
    assert "chmod 600" in text and "$CREDENTIALS_DIRECTORY" in text


def test_credentials_per_subnet_and_host(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SITE2_COMMUNITY", "s3cret-community")
    key_file = tmp_path / "priv"
    key_file.write_text("privpassphrase\n")
    key_file.chmod(0o600)
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


# -- gateway identity, cloud link, polling, events, support service enable settings ---------------

def test_new_sections_default_so_older_files_stay_valid(monkeypatch) -> None:
    config = parse_config({"gateway": {"data_dir": "/tmp/x"}})
    assert config.gateway.name == socket.gethostname()
    assert (config.gateway.region, config.gateway.shipping_destination) == ("jp", "JP")
    assert config.gateway.time_zone == host_time_zone()
    cloud = config.cloud
    assert cloud.url is None and cloud.enrolment_token is None  # no cloud link
    assert (cloud.verify_tls, cloud.ca_file, cloud.proxy, cloud.push) == (True, None, None, True)
    assert (cloud.timeout, cloud.sync_interval, cloud.changes_poll_interval) == (30, 86400, 60)
    assert (cloud.batch_size, cloud.outbox_max_entries) == (500, 100_000)
    assert (config.poll.interval, config.poll.periodic_upload, config.poll.concurrency) == (
        300, 3600, 32)
    assert (config.events.thresholds, config.events.level_jump) == ([20, 10, 5], 30)
    assert (config.services.default, config.services.rule) == (True, [])
    assert config.discovery.interval == 3600
    monkeypatch.setenv("TZ", ":Asia/Tokyo")
    assert host_time_zone() == "Asia/Tokyo"
    monkeypatch.setenv("TZ", "Not/AZone")
    assert host_time_zone() in ("UTC", parse_config({}).gateway.time_zone)


def test_every_new_key_is_read(tmp_path: Path, monkeypatch) -> None:
    ca = write_ca_certificate(tmp_path / "ca.pem")  # a real one: the file is loaded
    monkeypatch.setenv("PRINTGW_TEST_ENROLMENT", "enrol-0123456789")
    config = parse_config({
        "gateway": {"name": "gw-3f", "region": "eu-west", "time_zone": "Europe/Paris"},
        "discovery": {"interval": "6h"},
        "cloud": {"url": "https://api.printgw.example/", "enrolment_token": {
            "env": "PRINTGW_TEST_ENROLMENT"}, "verify_tls": False, "ca_file": str(ca),
            "proxy": "http://proxy.example.com:3128", "timeout": "10s", "sync_interval": "12h",
            "push": False, "changes_poll_interval": "2m", "batch_size": 100,
            "outbox_max_entries": 5000},
        "poll": {"interval": "1m", "periodic_upload": "2h", "concurrency": 8},
        "events": {"thresholds": [5, 50, 5, 25], "level_jump": 40},
        "services": {"default": False, "rule": [
            {"service": "toner-delivery", "model": "Apeos C*", "enabled": True},
            {"serial": "W492KB03439", "enabled": False}]},
    })
    gateway, cloud = config.gateway, config.cloud
    assert (gateway.name, gateway.region, gateway.shipping_destination, gateway.time_zone) == (
        "gw-3f", "eu-west", "EU", "Europe/Paris")
    assert config.discovery.interval == 6 * 3600
    assert cloud.url == "https://api.printgw.example"  # no trailing slash: paths are appended
    assert cloud.enrolment_token.get_secret_value() == "enrol-0123456789"
    assert "enrol-0123456789" not in repr(config)
    assert (cloud.verify_tls, cloud.ca_file, cloud.proxy) == (
        False, ca, "http://proxy.example.com:3128")
    assert (cloud.timeout, cloud.sync_interval, cloud.push, cloud.changes_poll_interval) == (
        10, 12 * 3600, False, 120)
    assert (cloud.batch_size, cloud.outbox_max_entries) == (100, 5000)
    assert (config.poll.interval, config.poll.periodic_upload, config.poll.concurrency) == (
        60, 7200, 8)
    assert config.events.thresholds == [50, 25, 5]  # highest first, once each
    assert config.events.level_jump == 40
    assert config.services.default is False
    rules = config.services.rule
    assert [(r.service, r.model, r.serial, r.enabled, r.level) for r in rules] == [
        ("toner-delivery", "Apeos C*", None, True, 1), ("*", None, "W492KB03439", False, 2)]
    explicit = parse_config({"gateway": {"region": "us", "shipping_destination": "CA"}})
    assert explicit.gateway.shipping_destination == "CA"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8480", "http://localhost:8480/",
                                 "http://[::1]:8480", "http://127.3.4.5"])
def test_plain_http_cloud_only_on_loopback(url: str) -> None:
    assert parse_config({"gateway": {"region": "jp"},
                         "cloud": {"url": url}}).cloud.url == url.rstrip("/")


def test_every_new_mistake_is_named_with_its_key_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f"""
[gateway]
name = ""
region = "JP"
shipping_destination = "jp"
time_zone = "Mars/Olympus_Mons"
[discovery]
interval = "often"
[cloud]
url = "http://cloud.example.com"
enrolment_token = "short"
proxy = "socks5://proxy:1080"
ca_file = "{tmp_path / 'missing.pem'}"
batch_size = 501
outbox_max_entries = 0
sync_interval = "daily"
pushh = true
[poll]
concurrency = 0
periodic_upload = -5
[events]
thresholds = [0, 50, 100]
level_jump = 0
[[services.rule]]
service = "toner-delivery"
[[services.rule]]
model = "Apeos*"
serial = "X1"
enabled = true
[[services.rule]]
service = "bad id!"
serial = "X2"
enabled = true
[[services.rule]]
enabled = false
[[services.rule]]
modle = "Apeos*"
enabled = true
[[services.rule]]
model = ""
enabled = true
""")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = caught.value.problems
    expected = {
        "gateway.name": "at least 1 character",
        "gateway.region": "lower case",
        "gateway.shipping_destination": "upper case",
        "gateway.time_zone": "IANA time zone",
        "discovery.interval": "not a duration",
        "cloud.url": "only allowed to a loopback host",
        "cloud.enrolment_token": "8 to 256 characters",
        "cloud.proxy": "not an http(s) URL",
        "cloud.ca_file": "cannot read",
        "cloud.batch_size": "less than or equal to 500",
        "cloud.outbox_max_entries": "greater than or equal to 1",
        "cloud.sync_interval": "not a duration",
        "cloud.pushh": "did you mean 'push'",
        "poll.concurrency": "greater than or equal to 1",
        "poll.periodic_upload": "greater than 0",
        "events.thresholds": "remove [0, 100]",
        "events.level_jump": "greater than or equal to 1",
        "services.rule[0].enabled": "Field required",
        "services.rule[1]": "a serial or a model, not both",
        "services.rule[2].service": "write a service ID",
        "services.rule[3]": "is `services.default`",
        "services.rule[4].modle": "did you mean 'model'",
        "services.rule[5].model": "must not be empty",
    }
    for key, words in expected.items():
        assert any(p.startswith(key) and words in p for p in problems), (key, problems)
    assert len(problems) == len(expected), problems
    assert "short" not in str(caught.value)  # a bad secret is not echoed


@pytest.mark.parametrize(("rules", "conflict"), [
    ([{"serial": "X1", "enabled": True}, {"serial": "X1", "enabled": False}],
     "rule[0] and rule[1] disagree on service '*' for serial 'X1'"),
    ([{"service": "s1", "model": "Apeos*", "enabled": True},
      {"service": "s1", "model": "*C7580", "enabled": False}],
     "rule[0] and rule[1] disagree on service 's1' for models such as 'apeosc7580'"),
    ([{"service": "s1", "enabled": True}, {"model": "x", "enabled": True},
      {"service": "s1", "enabled": False}],
     "rule[0] and rule[2] disagree on service 's1' for every device"),
])
def test_conflicting_service_rules_are_a_config_error(rules: list[dict], conflict: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"services": {"rule": rules}})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("services: ")
    assert conflict in caught.value.problems[0]
    assert "remove one or make one more specific" in caught.value.problems[0]


def test_rules_that_never_meet_or_differ_in_specificity_are_fine() -> None:
    config = parse_config({"services": {"rule": [
        {"model": "Apeos*", "enabled": True},
        {"model": "bizhub*", "enabled": False},           # no model matches both globs
        {"service": "s1", "model": "Apeos*", "enabled": False},  # names the service: beats "*"
        {"serial": "X1", "enabled": False},               # another level
        {"serial": "X2", "enabled": True},                # another device
        {"service": "s1", "enabled": True},
        {"service": "s2", "enabled": False},              # another service
        {"serial": "X1", "enabled": False},               # the same rule again: no conflict
    ]}})
    assert len(config.services.rule) == 8


@given(st.from_regex(r"[a-c*?]{0,5}", fullmatch=True),
       st.from_regex(r"[a-c*?]{0,5}", fullmatch=True),
       st.from_regex(r"[a-d]{0,6}", fullmatch=True))
def test_glob_overlap_is_exact(first: str, second: str, text: str) -> None:
    """A common match is found whenever one exists, and what is found matches both globs."""
    example = glob_common_match(first, second)
    if example is not None:
        assert fnmatch.fnmatchcase(example, first) and fnmatch.fnmatchcase(example, second)
    elif fnmatch.fnmatchcase(text, first):
        assert not fnmatch.fnmatchcase(text, second)


@pytest.mark.parametrize(("first", "second", "meet"), [
    ("[]]x", "]x", True), ("[!]]", "]", False), ("a[b-d]*", "ac", True), ("[!a]", "[!b]", True),
    ("[ab]", "[!ab]", False), ("[a", "[a", True), ("hp*", "canon*", False)])
def test_glob_sets_are_read_as_fnmatch_reads_them(first: str, second: str, meet: bool) -> None:
    example = glob_common_match(first, second)
    assert (example is not None) == meet
    if example is not None:
        assert fnmatch.fnmatchcase(example, first) and fnmatch.fnmatchcase(example, second)


@pytest.mark.parametrize(("key", "value", "words"), [
    ("url", "https://api.printgw.example/?region=jp", "no query string or fragment"),
    ("url", "ftp://api.printgw.example", "not an http(s) URL"),
    ("url", "https://", "not an http(s) URL"),
    ("url", "https://api.printgw.example:99999", "invalid port"),
    ("proxy", "http://proxy:port", "invalid port"),
])
def test_cloud_urls_are_checked(key: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"gateway": {"region": "jp"}, "cloud": {key: value}})
    (problem,) = caught.value.problems
    assert problem.startswith(f"cloud.{key}: ") and words in problem
    if key == "proxy":
        assert "port" in problem and "proxy:port" not in problem  # may carry a password


def test_check_config_command_accepts_the_example_and_names_every_mistake(tmp_path: Path) -> None:
    example = tmp_path / "gateway.toml"  # its data directory where this user may create it
    example.write_text(EXAMPLE.read_text().replace('data_dir = "/var/lib/printgw"',
                                                   f'data_dir = "{tmp_path / "data"}"'))
    ok = printgw("check-config", str(example))
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[gateway]\nregion = "jp"\n'
                   '[cloud]\nurl = "http://cloud.example.com"\nbatch_size = 900\n'
                   '[poll]\nintervall = "5m"\n')
    result = printgw("check-config", str(bad))
    assert result.returncode == 2
    assert "3 problem(s)" in result.stderr
    for key in ("cloud.url", "cloud.batch_size", "poll.intervall"):
        assert key in result.stderr
    assert "did you mean 'interval'" in result.stderr
    assert "Traceback" not in result.stderr


def test_contract_write_credentials() -> None:
    users = {"writer": {"auth_key": "authpassphrase", "priv_key": "privpassphrase"},
             "auth-only": {"auth_key": "authpassphrase"}}
    config = parse_config({"snmp": {"v3_users": users},
                           "contract": {"write_community": {"env": "PATH"}, "v3_user": "writer",
                                        "retry_initial": "2s", "retry_for": "1h"}})
    contract = config.contract
    assert contract.enabled and contract.v3_user == "writer"
    assert (contract.retry_initial, contract.retry_max, contract.retry_for) == (2, 300, 3600)
    assert contract.write_community is not None
    assert contract.write_community.get_secret_value() == os.environ["PATH"]
    assert os.environ["PATH"] not in repr(config)
    assert Config().contract.write_community is None and Config().contract.v3_user is None

    for v3_user, words in (("nobody", "names 'nobody', which is not defined"),
                           ("auth-only", "needs auth_key and priv_key")):
        with pytest.raises(ConfigError) as caught:
            parse_config({"snmp": {"v3_users": users}, "contract": {"v3_user": v3_user}})
        assert words in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        parse_config({"contract": {"write_community": 12345678, "retry_max": "soon"}})
    problems = caught.value.problems
    assert any(p.startswith("contract.write_community") for p in problems)
    assert "12345678" not in str(caught.value)  # secrets are never repeated
    assert any(p.startswith("contract.retry_max") and "not a duration" in p for p in problems)


# -- issue 7: every kind of mistake, secrets from outside the file, [logging], reloads -----------

def test_a_file_with_every_kind_of_mistake_gets_one_message_per_mistake(tmp_path: Path) -> None:
    """Each message names the key, the bad value (unless a secret) and the fix."""
    token = tmp_path / "enrolment-token"
    token.write_text("token-from-a-file\n")
    token.chmod(0o644)
    path = tmp_path / "every-mistake.toml"
    path.write_text(f"""
[gateway]
shutdown_grace = "a while"
[logging]
format = "xml"
[snmp]
port = 70000
retries = "two"
[discovery]
subnets = [{{ cidr = "10.1.2.0/40" }}, {{ cidr = "10.9.0.0/24", v3_users = ["opps"] }}]
[poll]
colour = "blue"
[cloud]
url = "http://cloud.example.com"
ca_file = "{tmp_path / 'company-ca.pem'}"
enrolment_token_file = "{token}"
[[services.rule]]
service = "toner-delivery"
enabled = true
[[services.rule]]
service = "toner-delivery"
enabled = false
""")
    result = printgw("check-config", str(path))
    assert result.returncode == 2
    expected = {  # key: (what the message says, including the value and the fix)
        "gateway.shutdown_grace": ["'a while' is not a duration", 'write e.g. 30, "90s"'],
        "logging.format": ["Input should be 'text' or 'json'", "(got 'xml')"],
        "snmp.port": ["less than or equal to 65535", "(got 70000)"],
        "snmp.retries": ["valid integer", "write a whole number", "(got 'two')"],
        "discovery.subnets[0].cidr": ["'10.1.2.0/40' is not an address or a network",
                                      "write e.g. 192.168.1.0/24"],
        "discovery.subnets[1].v3_users": ["names 'opps', which is not defined",
                                          "add a [snmp.v3_users.opps] table"],
        "poll.colour": ["unknown key", "remove it, or use one of the known keys: interval"],
        "cloud.url": ["must be reached over https://", "(got 'http://cloud.example.com')"],
        "gateway.region": ["required with [cloud] url", 'e.g. region = "jp", "us"'],
        "cloud.ca_file": [f"cannot read {tmp_path / 'company-ca.pem'}", "PEM certificate"],
        "cloud.enrolment_token_file": [f"the secret file {token} is readable by group or others",
                                       f"run: chmod 600 {token}"],
        "services": ["rule[0] and rule[1] disagree on service 'toner-delivery' for every "
                     "device", "remove one or make one more specific"],
    }
    problems = [line.removeprefix("  - ") for line in result.stderr.splitlines()[1:]]
    assert result.stderr.splitlines()[0].endswith(f"{len(expected)} problem(s):"), result.stderr
    assert len(problems) == len(expected), problems
    for key, words in expected.items():
        [problem] = [p for p in problems if p.startswith(f"{key}: ")]
        assert all(w in problem for w in words), (problem, words)
    assert "token-from-a-file" not in result.stderr


@pytest.mark.parametrize(("text", "where"), [
    ("[discovery\nmdns = true\n", "line 1, column 11: not valid TOML: Expected ']'"),
    ('[cloud]\nurl = "https://api.example\n', "line 2, column 27: not valid TOML"),
    ("[poll]\ninterval = \n", "line 2, column 12: not valid TOML: Invalid value"),
])
def test_bad_toml_syntax_is_named_by_line_without_showing_the_line(tmp_path: Path, text: str,
                                                                    where: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text + 'enrolment_token = "s3cret-enrolment"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert problem.startswith(where), problem
    assert 'text in "quotes"' in problem
    assert "s3cret" not in problem and "api.example" not in problem


def _secret_file(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


def test_secrets_from_files_and_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    monkeypatch.setenv("PRINTGW_SNMP_AUTH_KEY", "auth-from-env-1")
    _secret_file(tmp_path / "enrolment-token", "enrol-from-a-file\n")
    communities = _secret_file(tmp_path / "communities", "# site 1\nfirst-community\n\nsecond\n")
    priv = _secret_file(tmp_path / "priv", "priv-from-a-file\n")
    write = _secret_file(tmp_path / "write", "write-from-a-file\n")
    config = parse_config({
        "cloud": {"enrolment_token_file": "$CREDENTIALS_DIRECTORY/enrolment-token"},
        "snmp": {"communities_file": communities, "v3_users": {"ops": {
            "auth_key": {"env": "PRINTGW_SNMP_AUTH_KEY"}, "priv_key_file": priv}}},
        "discovery": {"static": [{"host": "10.0.0.5", "communities_file": communities}]},
        "contract": {"write_community_file": write},
    })
    assert config.cloud.enrolment_token.get_secret_value() == "enrol-from-a-file"
    assert [c.get_secret_value() for c in config.snmp.communities] == ["first-community",
                                                                       "second"]
    ops = config.snmp.v3_users["ops"]
    assert (ops.auth_key.get_secret_value(), ops.priv_key.get_secret_value()) == (
        "auth-from-env-1", "priv-from-a-file")
    assert [c.community for c in config.credentials(config.scope_for("10.0.0.5"))
            if c.version == 2] == ["first-community", "second"]
    assert config.contract.write_community.get_secret_value() == "write-from-a-file"
    for secret in ("enrol-from-a-file", "first-community", "priv-from-a-file", "auth-from-env"):
        assert secret not in repr(config)


def test_a_secret_given_twice_or_from_a_shared_file_is_refused(tmp_path: Path) -> None:
    token = _secret_file(tmp_path / "token", "enrol-from-a-file")
    shared = tmp_path / "shared-key"
    shared.write_text("priv-from-a-file")
    shared.chmod(0o640)
    with pytest.raises(ConfigError) as caught:
        parse_config({"cloud": {"enrolment_token": "enrol-in-the-file",
                                "enrolment_token_file": token},
                      "snmp": {"v3_users": {"ops": {"auth_key": "authpassphrase",
                                                    "priv_key_file": str(shared)}}}})
    assert sorted(caught.value.problems) == [
        "cloud: enrolment_token and enrolment_token_file are both set; keep one of them",
        f"snmp.v3_users.ops.priv_key_file: the secret file {shared} is readable by group or "
        f"others (mode 640); run: chmod 600 {shared} (got '{shared}')"]
    assert "from-a-file" not in str(caught.value)


def test_logging_section() -> None:
    assert (Config().logging.format, Config().logging.level) == ("text", "info")
    config = parse_config({"logging": {"format": "JSON", "level": "Debug"}})
    assert (config.logging.format, config.logging.level) == ("json", "debug")
    with pytest.raises(ConfigError, match=r"logging.level: Input should be 'debug', 'info', "):
        parse_config({"logging": {"level": "verbose"}})


def test_changed_keys_name_what_a_reload_changes_without_values() -> None:
    old = parse_config({"snmp": {"communities": ["old-secret"]}})
    new = parse_config({"snmp": {"communities": ["new-secret"]}, "poll": {"interval": "1m"},
                        "discovery": {"static": [{"host": "10.0.0.9"}]},
                        "status_page": {"port": 8632}})
    assert changed_keys(old, new) == ["snmp.communities", "discovery.static", "poll.interval",
                                      "status_page.port"]
    assert changed_keys(new, new) == []


def test_the_scope_of_an_address_is_its_static_entry_then_its_subnet() -> None:
    """Static entries first (the first of a host given twice), then the subnet; looked up, not
    scanned, however many static hosts a site lists."""
    static = [{"host": f"10.1.{n // 250}.{n % 250 + 1}"} for n in range(10_000)]
    static.append({"host": "10.1.0.1", "communities": ["second"]})
    config = Config.model_validate({"discovery": {
        "static": static, "subnets": [{"cidr": "10.2.0.0/24", "communities": ["lab"]}]}})
    first = config.scope_for("10.1.0.1")
    assert first is not None and first.communities is None
    assert config.scope_for("10.1.39.250") is config.discovery.static[9_999]
    subnet = config.scope_for("10.2.0.7")
    assert subnet is not None and subnet.communities is not None
    assert config.scope_for("10.3.0.1") is None
