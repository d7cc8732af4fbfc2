"""`printgw sync [--config FILE] [--device ID|SERIAL]...`: ask the running daemon to run FIG. 7
(the application and control information, FIG. 10, the activation notices) now, for the devices
named or every device (the patent's claim 10), and print what it did for each.

The request goes to the daemon's status page (`POST /api/sync`, `gateway/local/sync_api.py`) with
the token the daemon wrote to its data directory, so the command runs as the daemon's user (or
root).  Exit status: 0 every device named was synchronised; 1 no daemon answers (or its page is
disabled), it refused, or a device could not be synchronised; 2 the config cannot be used.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from gateway.app.command_config import CONFIG_ERROR, load_or_report
from gateway.local.status_page import local_url
from gateway.local.sync_api import TOKEN_FILE, read_token, request_sync

DEFAULT_CONFIG = Path("/etc/printgw/gateway.toml")
WAIT_SECONDS = 600.0
"""How long the command waits for the daemon's answer (a large fleet takes a while)."""


def add_sync_parser(commands: argparse._SubParsersAction) -> None:
    sync = commands.add_parser(
        "sync", help="have the running daemon synchronise with the cloud now (FIG. 7)",
        description="Ask the running daemon (through its status page on this machine) to "
                    "synchronise now: the support services and data types the cloud has for "
                    "each printer, FIG. 10's activation decision, the transmission data types.  "
                    "Run it as the daemon's user or root: it reads the daemon's token from the "
                    "data directory.  Exit 0 when every device was synchronised, 1 when no "
                    "daemon answers or a device could not be, 2 for an unusable config.")
    sync.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                      help=f"the gateway's TOML config file (default {DEFAULT_CONFIG})")
    sync.add_argument("--device", action="append", default=[], metavar="ID|SERIAL",
                      help="a device ID (as `printgw status` shows) or serial number; repeat "
                           "for several; none: every device")
    sync.set_defaults(handler=run_sync)


def run_sync(args: argparse.Namespace) -> int:
    config = load_or_report(args.config)
    if config is None:
        return CONFIG_ERROR
    url = local_url(config)
    if not config.status_page.enabled:
        print("printgw: the status page is disabled ([status_page] enabled = false): no daemon "
              "to ask", file=sys.stderr)
        return 1
    data_dir = Path(config.gateway.data_dir)
    token = read_token(data_dir)
    if token is None:
        print(f"printgw: no daemon to ask: {data_dir / TOKEN_FILE} is missing or unreadable "
              "(the daemon is not running, or run this as its user)", file=sys.stderr)
        return 1
    answer = asyncio.run(request_sync(url, token, args.device, WAIT_SECONDS))
    if answer is None:
        print(f"printgw: the daemon is not running (nothing answers at {url})", file=sys.stderr)
        return 1
    if answer.status != 200:
        reason = answer.document.get("error") or f"HTTP {answer.status}"
        print(f"printgw: the daemon refused: {reason}", file=sys.stderr)
        return 1
    synced = answer.document.get("synced", [])
    for device in synced:
        printer = device.get("printer_id") or "-"
        detail = f" ({device['detail']})" if device.get("detail") else ""
        print(f"device {device['device_id']}  serial {device.get('serial') or '-'}  "
              f"printer {printer}: {device['result']}{detail}")
    if not synced:
        print("no device to synchronise")
    return 0 if all(d.get("result") == "synced" for d in synced) else 1
