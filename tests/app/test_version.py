"""`--version` on each of the three commands prints the installed distribution's version."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import pytest


@pytest.mark.parametrize(("module", "prog"), [("gateway.app.cli", "printgw"),
                                              ("simulator", "printgw-sim"),
                                              ("cloud", "printgw-cloud")])
def test_version(module: str, prog: str) -> None:
    done = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.strip() == f"{prog} {version('printgw')}"
