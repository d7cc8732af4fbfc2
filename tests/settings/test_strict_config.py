"""Issue 19: a strict config.  No booleans for numbers, no passwords in URLs written in the file
(and never echoed), no CIDR with host bits, a status-page host that is an address or a host name,
a data directory the gateway can use (else exit 2, for `check-config` and `printgw run` alike),
and a warning for secrets in a file others may read."""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from gateway.app import cli
from gateway.local.logs import config_secrets
from gateway.settings.checks import data_dir_problems, exposed_secrets_warning, inline_secrets
from gateway.settings.loading import ConfigError, parse_config, read_toml
from gateway.settings.schema import Config
from gateway.settings.values import _takes_number
from gateway.store import DATABASE_NAME
from tests.support.paths import REPO
from tests.support.printgw_cli import printgw

EXAMPLE = REPO / "config" / "gateway.example.toml"


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


# -- no booleans where numbers are expected --------------------------------------------------------

def _numeric_keys(model: type[BaseModel], where: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key of the config (sections and sub-sections, not lists of tables) that takes a
    number — including those added after this test was written."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _numeric_keys(annotation, (*where, name))
        elif _takes_number(annotation):
            yield (*where, name)


def _document(key: tuple[str, ...], value: Any) -> dict[str, Any]:
    document: dict[str, Any] = {key[-1]: value}
    for part in reversed(key[:-1]):
        document = {part: document}
    return document


NUMERIC_KEYS = list(_numeric_keys(Config))


def test_the_number_keys_are_found() -> None:
    keys = {".".join(k) for k in NUMERIC_KEYS}
    assert {"poll.interval", "snmp.port", "status_page.port", "events.thresholds",
            "cloud.batch_size", "discovery.sweep.rate", "gateway.shutdown_grace"} <= keys
    assert "snmp.v1" not in keys and "cloud.push" not in keys  # on/off keys take true/false


@pytest.mark.parametrize("key", NUMERIC_KEYS, ids=".".join)
@pytest.mark.parametrize("flag", [True, False])
def test_no_boolean_is_taken_for_a_number(key: tuple[str, ...], flag: bool) -> None:
    value = [20, flag] if key[-1] == "thresholds" else flag
    (problem,) = _problems(_document(key, value))
    assert problem.startswith(f"{'.'.join(key)}: a boolean"), problem
    assert "where a number is expected; write a" in problem


def test_booleans_stay_fine_for_on_off_keys_and_numbers_for_numbers() -> None:
    config = parse_config({"snmp": {"v1": True, "port": 1161}, "cloud": {"push": False},
                           "poll": {"interval": 60, "concurrency": 4},
                           "events": {"thresholds": [30, 15]}})
    assert (config.snmp.v1, config.snmp.port, config.cloud.push) == (True, 1161, False)
    assert (config.poll.interval, config.poll.concurrency) == (60, 4)


def test_check_config_refuses_interval_true_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\ndata_dir = "{tmp_path / "data"}"\n'
                    "[poll]\ninterval = true\n[status_page]\nport = false\n")
    result = printgw("check-config", str(path))
    assert result.returncode == 2, result.stderr
    assert "2 problem(s)" in result.stderr
    assert 'poll.interval: a boolean where a number is expected; write a duration: seconds ' \
           '(e.g. 300) or text such as "90s"' in result.stderr
    assert "status_page.port: a boolean where a number is expected" in result.stderr
    assert "Traceback" not in result.stderr


# -- URLs with credentials -------------------------------------------------------------------------

PASSWORD = "pw-s3cret-91"


def test_a_cloud_url_with_credentials_is_refused_and_never_shown(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\ndata_dir = "{tmp_path / "data"}"\nregion = "jp"\n'
                    f'[cloud]\nurl = "https://operator:{PASSWORD}@api.printgw.example"\n')
    result = printgw("check-config", str(path))
    assert result.returncode == 2
    (problem,) = [line for line in result.stderr.splitlines() if "cloud.url" in line]
    assert "holds a user name or password" in problem and 'remove the "user:password@"' in problem
    assert "(got 'https://***@api.printgw.example')" in problem
    assert PASSWORD not in result.stderr + result.stdout and "operator" not in result.stderr
    run = printgw("run", "--once", "--config", str(path))  # the daemon does not start without
    assert run.returncode == 2 and PASSWORD not in run.stderr + run.stdout
    assert not (tmp_path / "data").exists()


def test_an_inline_proxy_with_a_login_is_refused_with_the_fix() -> None:
    (problem,) = _problems({"cloud": {"proxy": f"http://me:{PASSWORD}@proxy.example.com:3128"}})
    assert problem.startswith("cloud.proxy: the proxy holds a user name or password")
    assert 'proxy_file = "/path/to/file"' in problem and "chmod 600" in problem
    assert PASSWORD not in problem and "me:" not in problem


def test_a_proxy_login_from_a_secret_file_or_the_environment_is_used_and_hidden(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://me:{PASSWORD}@proxy.example.com:3128"
    secret = tmp_path / "cloud-proxy"
    secret.write_text(url + "\n")
    secret.chmod(0o600)
    monkeypatch.setenv("PRINTGW_TEST_PROXY", url)
    for cloud in ({"proxy_file": str(secret)}, {"proxy": {"file": str(secret)}},
                  {"proxy": {"env": "PRINTGW_TEST_PROXY"}}):
        config = parse_config({"cloud": cloud})
        assert config.cloud.proxy == url  # the cloud client takes the login from the URL
        assert PASSWORD not in repr(config) and PASSWORD not in str(config.cloud)
        assert PASSWORD in config_secrets(config)  # the logs redact it
    assert parse_config({"cloud": {"proxy": "http://proxy:3128"}}).cloud.proxy == \
        "http://proxy:3128"  # without a login, inline is fine

    secret.chmod(0o644)
    (problem,) = _problems({"cloud": {"proxy_file": str(secret)}})
    assert problem.startswith("cloud.proxy_file: the secret file") and "chmod 600" in problem
    secret.chmod(0o600)
    (problem,) = _problems({"cloud": {"proxy_file": str(secret), "proxy": "http://p:3128"}})
    assert problem == "cloud: proxy and proxy_file are both set; keep one of them"
    secret.write_text("socks5://me:pw@proxy:1080")
    (problem,) = _problems({"cloud": {"proxy_file": str(secret)}})
    assert problem.startswith("cloud.proxy_file: the proxy is not an http(s) URL")
    assert "pw@" not in problem


def test_a_ca_file_without_certificates_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "ca.pem"
    fake.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    (problem,) = _problems({"cloud": {"ca_file": str(fake)}})
    assert problem.startswith(f"cloud.ca_file: {fake} holds no usable certificate")


# -- networks --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("written", "network", "address"), [
    ("192.168.1.5/24", "192.168.1.0/24", "192.168.1.5"),
    ("10.20.3.7/22", "10.20.0.0/22", "10.20.3.7"),
])
def test_a_cidr_with_host_bits_is_refused_with_the_fix(written: str, network: str,
                                                       address: str) -> None:
    problems = _problems({"discovery": {"subnets": [{"cidr": written}], "exclude": [written]}})
    assert sorted(p.split(":")[0] for p in problems) == ["discovery.exclude[0]",
                                                         "discovery.subnets[0].cidr"]
    for problem in problems:
        assert f"{written!r} has host bits set" in problem
        assert f"write {network!r} for the network, or {address!r} for the one address" in problem


def test_networks_and_addresses_written_right_are_taken() -> None:
    config = parse_config({"discovery": {"subnets": [{"cidr": "192.168.1.0/24"}],
                                         "exclude": ["192.168.1.5", "10.0.0.0/8", "fd00::/64",
                                                     "192.168.1.9/32"]}})
    assert str(config.discovery.subnets[0].cidr) == "192.168.1.0/24"
    assert [str(n) for n in config.discovery.exclude] == ["192.168.1.5/32", "10.0.0.0/8",
                                                          "fd00::/64", "192.168.1.9/32"]


def test_discover_refuses_a_subnet_with_host_bits_before_sweeping() -> None:
    result = printgw("discover", "--no-mdns", "--subnet", "127.0.0.5/24", timeout=30)
    assert result.returncode == 2
    assert "discovery.subnets[0].cidr: '127.0.0.5/24' has host bits set" in result.stderr
    assert "write '127.0.0.0/24' for the network" in result.stderr


# -- the status page's host ------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::", "::1", "192.168.1.10",
                                  "localhost", "gw-3f.example.com", "printgw."])
def test_status_page_hosts_that_are_addresses_or_host_names(host: str) -> None:
    assert parse_config({"status_page": {"host": host}}).status_page.host == host


@pytest.mark.parametrize(("host", "fix"), [
    ("not a host!", "write an IP address or a host name"),
    ("", "write an IP address or a host name"),
    ("http://127.0.0.1:8631", "write an IP address or a host name"),
    ("999.1.1.1", "write an IP address or a host name"),
    ("-gw.example.com", "write an IP address or a host name"),
    ("gw..example.com", "write an IP address or a host name"),
    ("[::1]", "write the IPv6 address without brackets: '::1'"),
])
def test_status_page_hosts_that_are_neither_are_refused(host: str, fix: str) -> None:
    (problem,) = _problems({"status_page": {"host": host}})
    assert problem.startswith(f"status_page.host: {host!r} is neither an IP address nor a host "
                              "name"), problem
    assert fix in problem


# -- the data directory ----------------------------------------------------------------------------

def _config_file(directory: Path, data_dir: Path) -> Path:
    path = directory / "gateway.toml"
    path.write_text(f'[gateway]\ndata_dir = "{data_dir}"\n[discovery]\nmdns = false\n'
                    "[status_page]\nenabled = false\n")
    return path


@pytest.mark.parametrize("case", ["a file", "under a file"])
def test_a_data_directory_that_cannot_be_one_exits_2(tmp_path: Path, case: str) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    data_dir = blocker if case == "a file" else blocker / "printgw"
    path = _config_file(tmp_path, data_dir)
    check = printgw("check-config", str(path))
    assert check.returncode == 2, check.stderr
    assert "1 problem(s)" in check.stderr
    words = "is not a directory" if case == "a file" else f"{blocker} is not a directory"
    assert f"gateway.data_dir: {data_dir}" in check.stderr and words in check.stderr
    run = printgw("run", "--config", str(path), timeout=30)  # not --once: the daemon itself
    assert run.returncode == 2, run.stderr
    assert f"gateway.data_dir: {data_dir}" in run.stderr and "Traceback" not in run.stderr


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory others may enter (pytest's tmp_path is 0700), owned by this user."""
    directory = Path(tempfile.mkdtemp(prefix="printgw-test-"))
    directory.chmod(0o755)
    yield directory
    for inner in directory.iterdir():
        inner.chmod(0o755)
    shutil.rmtree(directory, ignore_errors=True)


def _printgw_as(uid: int | None, args: list[str], answer: Any) -> None:
    """In a forked child: become `uid`, run printgw's `main(args)` and send (status, stderr)."""
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = cli.main(args)
    answer.put((status, err.getvalue()))


def _as_another_user(*args: str) -> tuple[int, str]:
    """`printgw ARGS` (exit status, stderr) as a user who may not write in `shared_dir`: nobody
    when this is root (in a forked child: the interpreter lives in root's home), else this user
    with the directory read-only."""
    context = multiprocessing.get_context("fork")
    answer = context.Queue()
    child = context.Process(target=_printgw_as, args=(
        65534 if os.geteuid() == 0 else None, list(args), answer))
    child.start()
    try:
        return answer.get(timeout=60)
    finally:
        child.join(10)


def test_a_data_directory_the_gateway_may_not_write_exits_2(shared_dir: Path) -> None:
    config_dir, data_dir, locked = shared_dir / "config", shared_dir / "data", shared_dir / "locked"
    for directory in (config_dir, data_dir, locked):
        directory.mkdir(mode=0o755)
    if os.geteuid() != 0:  # this user is the other one: it may write in neither
        data_dir.chmod(0o555)
        locked.chmod(0o555)
    path = _config_file(config_dir, data_dir)
    path.chmod(0o644)
    status, err = _as_another_user("check-config", str(path))
    assert status == 2, err
    assert f"gateway.data_dir: {data_dir} is not writable by" in err
    assert "who runs the gateway; run: chown" in err
    status, err = _as_another_user("run", "--config", str(path))
    assert status == 2, err
    assert f"gateway.data_dir: {data_dir} is not writable by" in err and "Traceback" not in err

    missing = locked / "missing" / "data"
    _config_file(config_dir, missing)
    status, err = _as_another_user("check-config", str(path))
    assert status == 2, err
    assert f"gateway.data_dir: {missing} does not exist and" in err
    assert f"may not create it in {locked}" in err
    status, err = _as_another_user("run", "--config", str(path))
    assert status == 2, err
    assert "gateway.data_dir" in err and "Traceback" not in err
    assert not missing.parent.exists()


def test_the_data_directory_is_reported_with_every_other_mistake(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    path = tmp_path / "gateway.toml"
    path.write_text(f'[gateway]\ndata_dir = "{blocker}"\n[poll]\ninterval = true\n')
    result = printgw("check-config", str(path))
    assert result.returncode == 2
    assert "2 problem(s)" in result.stderr
    assert "poll.interval: a boolean" in result.stderr
    assert f"gateway.data_dir: {blocker} is not a directory" in result.stderr


def test_discover_checks_the_data_directory_it_keeps_the_inventory_in(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = printgw("discover", "--no-mdns", "--static", "127.0.0.1", "--data-dir",
                     str(blocker), timeout=30)
    assert result.returncode == 2, result.stderr
    assert f"gateway.data_dir: {blocker} is not a directory" in result.stderr


def test_a_data_directory_that_can_be_created_is_fine(tmp_path: Path) -> None:
    config = parse_config({"gateway": {"data_dir": str(tmp_path / "new" / "data")}})
    assert data_dir_problems(config.gateway.data_dir, DATABASE_NAME) == []
    assert not (tmp_path / "new").exists()  # checking creates nothing


def test_a_database_the_gateway_cannot_open_exits_2_without_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / DATABASE_NAME).write_bytes(b"this is not an SQLite database, " * 64)
    run = printgw("run", "--config", str(_config_file(tmp_path, data_dir)), timeout=30)
    assert run.returncode == 2, run.stderr
    assert "cannot start:" in run.stderr and "fix [gateway] data_dir" in run.stderr
    assert "Traceback" not in run.stderr


# -- secrets in a file others may read -------------------------------------------------------------

def _secret_config(directory: Path, mode: int) -> Path:
    path = directory / "gateway.toml"
    path.write_text(f"""
[gateway]
data_dir = "{directory / 'data'}"
[snmp]
communities = ["public", "site-s3cret-1"]
[snmp.v3_users.ops]
auth_key = {{ env = "PATH" }}
priv_key = "priv-s3cret-2"
[[discovery.subnets]]
cidr = "10.1.0.0/24"
communities = ["public"]
[cloud]
enrolment_token = "enrol-s3cret-3"
""")
    path.chmod(mode)
    return path


def test_secrets_in_a_file_others_may_read_get_a_warning_naming_the_keys(tmp_path: Path) -> None:
    path = _secret_config(tmp_path, 0o644)
    result = printgw("check-config", str(path))
    assert result.returncode == 0, result.stderr  # a warning, not a refusal
    (warning,) = [line for line in result.stderr.splitlines() if "warning" in line]
    assert f"printgw: warning: {path} may be read by group or others (mode 644)" in warning
    assert "holds secrets written in it: snmp.communities, snmp.v3_users.ops.priv_key, " \
           "cloud.enrolment_token;" in warning
    assert f"run: chmod 600 {path}" in warning and "KEY_file" in warning
    assert "s3cret" not in result.stderr + result.stdout

    path.chmod(0o600)
    quiet = printgw("check-config", str(path))
    assert quiet.returncode == 0 and "warning" not in quiet.stderr
    path.chmod(0o640)
    assert "(mode 640)" in printgw("check-config", str(path)).stderr


def test_the_daemon_logs_the_warning(tmp_path: Path) -> None:
    path = _secret_config(tmp_path, 0o604)
    with path.open("a") as file:
        file.write("[discovery]\nmdns = false\n[status_page]\nenabled = false\n")
    run = printgw("run", "--once", "--config", str(path), timeout=60)
    assert run.returncode == 0, run.stderr
    [line] = [line for line in run.stderr.splitlines() if "may be read by group" in line]
    assert " WARNING gateway.app.runner: " in line and "(mode 604)" in line
    assert "cloud.enrolment_token" in line and "s3cret" not in run.stderr


def test_secrets_from_files_and_the_environment_need_no_warning(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text('[snmp]\ncommunities = ["public"]\ncommunities_file = "/x"\n'
                    '[cloud]\nenrolment_token = { env = "X" }\nenrolment_token_file = "/y"\n'
                    'proxy = "http://proxy:3128"\n'
                    '[contract]\nwrite_community_file = "/z"\n')
    path.chmod(0o644)
    assert inline_secrets(read_toml(path)) == []
    assert exposed_secrets_warning(path, read_toml(path)) is None
    assert exposed_secrets_warning(EXAMPLE, read_toml(EXAMPLE)) is None
    assert inline_secrets({"contract": {"write_community": "w"},
                           "discovery": {"static": [{"host": "h"}, {"communities": ["c"]}]}}) \
        == ["contract.write_community", "discovery.static[1].communities"]
