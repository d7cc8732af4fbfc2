"""The installed printgw distribution's version: what `--version` prints and what the gateway tells
the cloud.  One place for the gateway, the reference cloud and the simulator alike."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("printgw")
except PackageNotFoundError:  # a source tree that was never installed
    VERSION = "0+unknown"
