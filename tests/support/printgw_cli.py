"""Run the real `printgw` command line in a child process.

From a test whose event loop runs a fleet, use `tests.support.sim_helpers.run(*COMMAND, ...)`
instead, so
the fleet keeps answering while the command runs.
"""

from __future__ import annotations

import subprocess
import sys

COMMAND = (sys.executable, "-m", "gateway.app.cli")


def printgw(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)
