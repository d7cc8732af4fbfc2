"""The wheel and sdist as `python -m build` makes them, and the gateway installed from the wheel
into a fresh virtual environment WITHOUT extras: no database stack, every gateway command and the
simulator work, and the cloud's commands say which extra they need."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest

from protocols.version import VERSION
from tests.support.demo_runner import fleet_args
from tests.support.paths import REPO

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path


@dataclass(frozen=True)
class Venv:
    bin: Path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=self.bin.parent)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """The sdist, and the wheel built from it (what `python -m build` does without options)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "-o", str(out), str(REPO)], check=True,
                   capture_output=True, text=True, timeout=600)
    (wheel,) = out.glob("printgw-*.whl")
    (sdist,) = out.glob("printgw-*.tar.gz")
    return Dist(wheel, sdist)


@pytest.fixture(scope="module")
def gateway_venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh virtual environment with the wheel installed, without extras."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=120)
    subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", str(dist.wheel)],
                   check=True, timeout=600)
    return Venv(root / "bin")


def test_wheel_holds_the_package_data_and_the_licence(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = set(wheel.namelist())
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(wheel.read(metadata_name).decode())
        licence = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
        licence_text = wheel.read(licence).decode()
    assert "protocols/cloud/openapi.yaml" in names
    assert {"cloud/migrations/env.py", "cloud/migrations/versions/0001_release_0_1_0.py"} <= names
    assert metadata["License-Expression"] == "Apache-2.0"
    assert "Apache License" in licence_text and "Version 2.0" in licence_text
    assert licence_text == (REPO / "LICENSE").read_text()
    # The database stack is the [cloud] extra's, not the gateway's.
    requirements = metadata.get_all("Requires-Dist") or []
    for name in ("sqlalchemy", "aiosqlite", "asyncpg", "alembic"):
        (line,) = [r for r in requirements if r.lower().startswith(name)]
        assert 'extra == "cloud"' in line, line
    assert "cloud" in (metadata.get_all("Provides-Extra") or [])


def test_sdist_holds_what_a_packager_needs(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for needed in ("LICENSE", "pyproject.toml", "config/gateway.example.toml",
                   "config/printgw.service", "mibs/PRINTGW-CONTRACT-MIB.mib",
                   "protocols/cloud/openapi.yaml", "scripts/build-deb", "scripts/build-image",
                   "packaging/debian/postinst", "docs/install.md", "cloud/migrations/env.py"):
        assert needed in names, needed


def test_gateway_install_has_no_database_stack(gateway_venv: Venv) -> None:
    for module in ("sqlalchemy", "aiosqlite", "asyncpg", "alembic"):
        found = gateway_venv.run("python", "-c", f"import {module}")
        assert found.returncode != 0, f"{module} is installed without the [cloud] extra"


def test_gateway_and_simulator_commands_run_without_the_cloud_extra(gateway_venv: Venv) -> None:
    for command in ("printgw", "printgw-sim"):
        result = gateway_venv.run(command, "--version")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{command} {VERSION}"
    checked = gateway_venv.run("printgw", "check-config",
                               str(REPO / "config" / "gateway.example.toml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK" in checked.stdout
    # Every gateway command's module imports without the extra (their --help parses).
    helped = gateway_venv.run("printgw", "--help")
    assert helped.returncode == 0, helped.stderr
    commands = helped.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert "run" in commands and "demo" in commands
    for command in commands:
        result = gateway_venv.run("printgw", command, "--help")
        assert result.returncode == 0, f"printgw {command} --help: {result.stderr}"


def test_cloud_commands_name_the_missing_extra(gateway_venv: Venv) -> None:
    result = gateway_venv.run("printgw-cloud", "--version")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "[cloud] extra" in line and "pip install 'printgw[cloud]'" in line
    demo = gateway_venv.run("printgw", "demo", "--duration", "1", *fleet_args("127.0.131.1", 1),
                            timeout=180)
    assert demo.returncode != 0
    assert "[cloud] extra" in demo.stdout + demo.stderr
