"""The Debian package for tests (`scripts/build-deb`), and when a machine can install one."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.paths import REPO

SYSTEM_ENV = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
"""The environment of system commands: the installed printgw, not a checkout's venv, on PATH."""


@dataclass(frozen=True)
class DebPackage:
    path: Path
    build_seconds: float


def require_root_and_dpkg() -> None:
    """Skip (with the reason) where a package cannot be installed: not root, or no apt/dpkg."""
    if os.geteuid() != 0:
        pytest.skip("installing a Debian package needs root (CI runs as root)")
    missing = [tool for tool in ("apt-get", "dpkg", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"not a Debian machine: {', '.join(missing)} missing")


def build_deb(out: Path) -> DebPackage:
    started = time.monotonic()
    built = subprocess.run([str(REPO / "scripts" / "build-deb"), str(out)], capture_output=True,
                           text=True, timeout=900, check=False)
    assert built.returncode == 0, built.stderr[-4000:]
    (path,) = out.glob("printgw_*.deb")
    assert built.stdout.strip() == str(path)
    return DebPackage(path, time.monotonic() - started)


def system(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """A system command that must succeed (its output in the failure's message)."""
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False,
                            env=SYSTEM_ENV)
    assert result.returncode == 0, (f"{' '.join(args)}: exit {result.returncode}\n"
                                    f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return result
