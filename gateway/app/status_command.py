"""`printgw status [--config FILE] [--json]`: the fleet, the outbox and the cloud link.

The cloud link's state and which devices did not answer their last poll are known to the running
daemon only, so this asks the daemon's status page for `/api/status` — at the URL the daemon wrote
in its data directory, else at `[status_page] host:port` — and prints that: exit status 0.  The
page must be this gateway's: its `gateway.data_dir_id` must be the fingerprint of the data
directory the config names (`gateway/local/page_owner.py`); another program answering there is
refused, never shown as this fleet.  When no daemon of this config answers (it is not running,
its page is disabled or could not start — the daemon wrote why), it prints what the store alone
holds (readings, uploads, the outbox; the link's state unknown), says why on stderr and exits
with 1.  2: the config or the store cannot be used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from gateway.app.command_config import CONFIG_ERROR, load_or_report
from gateway.local.live_view import FleetView
from gateway.local.page_owner import data_dir_id, start_failure
from gateway.local.status_page import fetch_status, local_url
from gateway.local.status_table import print_fleet
from gateway.settings.schema import Config
from gateway.store import DATABASE_NAME, Store, StoreError

DEFAULT_CONFIG = Path("/etc/printgw/gateway.toml")


def add_status_parser(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser(
        "status", help="show the fleet, the outbox and the cloud link",
        description="Ask the running daemon for the fleet's state (per device: last reading, "
                    "last upload), the outbox and the cloud link; without a daemon, show what "
                    "its store holds.  Exit 0 when the daemon answered, 1 when it did not.")
    status.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help=f"the gateway's TOML config file (default {DEFAULT_CONFIG})")
    status.add_argument("--json", action="store_true",
                        help="print the status as JSON (the status page's /api/status)")
    status.set_defaults(handler=status_command)


def status_command(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return CONFIG_ERROR
    url = local_url(config)
    snapshot, why = _ask_daemon(config, url, args.config)
    if snapshot is None:
        path = Path(config.gateway.data_dir) / DATABASE_NAME
        if not path.exists():
            print(f"printgw: {why} and there is no database at {path} yet", file=sys.stderr)
            return 1
        try:
            with Store(path) as store:
                snapshot = FleetView(store, config).snapshot()
        except StoreError as exc:
            print(f"printgw: {exc}", file=sys.stderr)
            return 2
    if args.json:
        json.dump(snapshot, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_fleet(snapshot, Console(width=None if sys.stdout.isatty() else 200))
    if why is not None:
        print(f"printgw: {why}: this is what its store holds; the cloud link's state is unknown",
              file=sys.stderr)
        return 1
    return 0


def _ask_daemon(config: Config, url: str, config_path: Path,
                ) -> tuple[dict[str, Any] | None, str | None]:
    """This gateway's `/api/status` document, or None and why there is none."""
    data_dir = config.gateway.data_dir
    failure = start_failure(data_dir)
    if not config.status_page.enabled:
        return None, "the status page is disabled ([status_page] enabled = false)"
    snapshot = asyncio.run(fetch_status(url))
    if snapshot is None:
        if failure is not None:
            return None, (f"the daemon runs but its status page could not start: {failure}; "
                          "change [status_page] port (or host) and restart it")
        return None, f"the daemon is not running (nothing answers at {url})"
    theirs = snapshot.get("gateway", {}).get("data_dir_id")
    ours = data_dir_id(data_dir)
    if ours is None and not _missing(data_dir):  # no data directory: the page is not ours
        return None, (f"cannot tell whether the status page at {url} is this gateway's: "
                      f"{data_dir} cannot be looked at by this user; run the command as the "
                      "gateway's user or root")
    if theirs != ours:
        return None, (
            f"the status page at {url} is not this gateway's (it serves another data directory "
            f"than {data_dir} of {config_path}): another printgw or another program uses "
            "[status_page] port" + (f"; this daemon's page could not start: {failure}"
                                    if failure is not None else
                                    "; give this gateway a port of its own"))
    return snapshot, None


def _missing(path: Path) -> bool:
    """Whether `path` does not exist (False when this user may not tell)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False
