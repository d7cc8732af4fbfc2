"""The config of a command that asks the running daemon (`printgw status`, `printgw sync`)."""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.app.runner import CONFIG_ERROR
from gateway.settings.loading import ConfigError, load_config
from gateway.settings.schema import Config

__all__ = ["CONFIG_ERROR", "load_or_report"]


def load_or_report(path: Path) -> Config | None:
    """The config at `path`, or None after printing every mistake in it (exit `CONFIG_ERROR`)."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"printgw: {exc}", file=sys.stderr)
        return None
