"""The Debian package on this machine (CI: a fresh Debian 12, as root): `apt-get install ./…deb`,
the commands, the config, the unit, the user and the data directory; remove, purge with and
without /etc/printgw/keep-data-on-purge.  Leaves the machine as it found it."""

from __future__ import annotations

import grp
import pwd
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocols.version import VERSION
from tests.support.debian_package import DebPackage, require_root_and_dpkg, system

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

DATA = Path("/var/lib/printgw")
ETC = Path("/etc/printgw")
CONFIG = ETC / "gateway.toml"
KEEP = ETC / "keep-data-on-purge"
UNIT = Path("/lib/systemd/system/printgw.service")
VENV = Path("/opt/printgw")


def package_state() -> str:
    """dpkg's status of printgw: "installed", "config-files" or "" (unknown to dpkg)."""
    result = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Status}", "printgw"],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else ""


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture
def clean_machine() -> Iterator[None]:
    """A machine without printgw before; without it (package, files, user) after, whatever
    happened in between."""
    require_root_and_dpkg()
    leftovers = [str(p) for p in (DATA, ETC, VENV) if p.exists()]
    if package_state() or leftovers or user_exists("printgw"):
        pytest.skip(f"printgw is already on this machine ({package_state() or leftovers})")
    try:
        yield
    finally:
        if package_state():
            subprocess.run(["apt-get", "remove", "--purge", "-y", "-q", "printgw"],
                           capture_output=True, check=False, timeout=300)
        KEEP.unlink(missing_ok=True)
        for path in (DATA, ETC):
            shutil.rmtree(path, ignore_errors=True)
        if user_exists("printgw"):
            subprocess.run(["deluser", "--system", "printgw"], capture_output=True, check=False)
        if group_exists("printgw"):
            subprocess.run(["delgroup", "--system", "printgw"], capture_output=True, check=False)


def install(deb: DebPackage) -> float:
    started = time.monotonic()
    system("apt-get", "install", "-y", "-q", str(deb.path))
    return time.monotonic() - started


def check_installed() -> None:
    assert system("printgw", "--version").stdout.strip() == f"printgw {VERSION}"
    assert system("printgw-sim", "--version").stdout.strip() == f"printgw-sim {VERSION}"
    assert Path("/usr/bin/printgw").resolve() == VENV / "bin" / "printgw"
    checked = system("printgw", "check-config", str(CONFIG))
    assert "OK" in checked.stdout
    verified = system("systemd-analyze", "verify", str(UNIT))
    assert "printgw.service" not in verified.stderr, verified.stderr
    unit = UNIT.read_text()
    assert "ExecStart=/usr/bin/printgw run --config /etc/printgw/gateway.toml" in unit
    assert "User=printgw" in unit and "DynamicUser" not in unit
    # The system user, and its data directory.
    user = pwd.getpwnam("printgw")
    assert user.pw_uid < 1000 and user.pw_shell.endswith("nologin")
    info = DATA.stat()
    assert (info.st_uid, info.st_gid) == (user.pw_uid, user.pw_gid)
    assert stat.S_IMODE(info.st_mode) == 0o750
    # The config is a conffile, root's, readable.
    conffiles = system("dpkg-query", "-W", "-f", "${Conffiles}", "printgw").stdout
    assert str(CONFIG) in conffiles
    assert CONFIG.stat().st_uid == 0 and stat.S_IMODE(CONFIG.stat().st_mode) == 0o644
    # Neither enabled nor started on install.
    assert not Path("/etc/systemd/system/multi-user.target.wants/printgw.service").exists()
    # Nothing the commands did wrote under /opt/printgw (byte code is shipped): removal is clean.
    listed = set(system("dpkg-query", "-L", "printgw").stdout.split())
    stray = [str(p) for p in VENV.rglob("*") if str(p) not in listed]
    assert not stray, stray[:10]


def test_install_remove_and_purge(deb_package: DebPackage, clean_machine: None,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    seconds = install(deb_package)
    check_installed()
    with capsys.disabled():
        size = deb_package.path.stat().st_size
        installed = system("dpkg-query", "-W", "-f", "${Installed-Size}", "printgw").stdout
        print(f"\n[packaging] {deb_package.path.name}: {size / 1e6:.1f} MB, installed "
              f"{int(installed) / 1024:.0f} MiB; built in {deb_package.build_seconds:.0f} s, "
              f"apt-get install in {seconds:.1f} s")
    (DATA / "gateway.db").write_text("kept")

    # remove: the commands and /opt/printgw go; config, data and user stay.
    system("apt-get", "remove", "-y", "-q", "printgw")
    assert package_state() == "config-files"
    assert not VENV.exists() and not Path("/usr/bin/printgw").exists()
    assert CONFIG.exists() and (DATA / "gateway.db").exists() and user_exists("printgw")

    # purge with the switch: the config goes, the data and its user stay.
    KEEP.touch()
    system("apt-get", "purge", "-y", "-q", "printgw")
    assert package_state() in ("", "not-installed")
    assert not CONFIG.exists()
    assert (DATA / "gateway.db").read_text() == "kept" and user_exists("printgw")

    # installed again, the kept data is the gateway's; purged without the switch: all gone.
    install(deb_package)
    assert CONFIG.exists() and (DATA / "gateway.db").read_text() == "kept"
    assert DATA.stat().st_uid == pwd.getpwnam("printgw").pw_uid
    KEEP.unlink()
    system("apt-get", "remove", "--purge", "-y", "-q", "printgw")
    assert package_state() in ("", "not-installed")
    for path in (DATA, ETC, VENV, UNIT, Path("/usr/bin/printgw"), Path("/usr/bin/printgw-sim")):
        assert not path.exists(), path
    assert not user_exists("printgw") and not group_exists("printgw")
