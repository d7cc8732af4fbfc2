"""`printgw`: the gateway's command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from rich.console import Console

from gateway.app.device_options import (
    add_community_options,
    add_device_options,
    add_v3_options,
    communities,
    ipp_endpoint,
    snmp_target,
)
from gateway.app.gc_tuning import tune_for_polling
from gateway.app.record_command import add_record_parser
from gateway.app.runner import CONFIG_ERROR, run_gateway
from gateway.app.status_command import add_status_parser
from gateway.app.sync_command import add_sync_parser
from gateway.demo.run import DemoOptions, run_demo
from gateway.device.reader import READ_DEADLINE, DeviceReader, DeviceUnreachable
from gateway.fleet.discovery import Discovery
from gateway.fleet.inventory import Inventory
from gateway.local.discovery_report import DiscoveryProgress, print_table, write_json
from gateway.local.logs import FORMATS, LEVELS, LogOverrides
from gateway.local.logs import configure as configure_logging
from gateway.local.report import print_report
from gateway.settings.checks import data_dir_of, data_dir_problems, exposed_secrets_warning
from gateway.settings.loading import ConfigError, parse_config, read_toml
from gateway.settings.schema import Config
from gateway.store import DATABASE_NAME, Store, StoreError
from protocols.version import VERSION


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="printgw", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True)

    poll = commands.add_parser("poll", help="read one printer and show everything read",
                               description="Read one printer over SNMP and IPP.")
    poll.add_argument("host", help="printer address or host name")
    poll.add_argument("--json", action="store_true", help="print the device status as JSON")
    poll.add_argument("--deadline", type=float, default=READ_DEADLINE, metavar="SECONDS",
                      help="seconds the whole reading may take, SNMP and IPP together; what is "
                           f"not answered by then is reported (default {READ_DEADLINE:g})")
    add_device_options(poll)
    poll.set_defaults(handler=_poll)
    _add_discover_parser(commands)
    add_record_parser(commands)

    demo = commands.add_parser(
        "demo", help="run a virtual fleet, the reference cloud and the gateway on loopback",
        description="Start a fleet of virtual printers on loopback addresses, the reference "
                    "cloud and the gateway, as child processes of this one; show the gateway "
                    "discovering, registering and activating the printers, then the fleet, and "
                    "one line per event until Ctrl-C, SIGTERM or --duration.  Stops every child "
                    "and removes its data on exit.")
    demo.add_argument("--count", type=int, default=DemoOptions.count,
                      help=f"virtual printers (default {DemoOptions.count})")
    demo.add_argument("--first-ip", default=DemoOptions.first_ip,
                      help=f"first printer's loopback address (default {DemoOptions.first_ip})")
    demo.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                      help="stop this many seconds after the fleet is shown (default: run "
                           "until Ctrl-C)")
    demo.add_argument("--status-port", type=int, default=DemoOptions.status_port,
                      help="the gateway's status page port on 127.0.0.1 (default: a free one)")
    demo.add_argument("--cloud-port", type=int, default=DemoOptions.cloud_port,
                      help="the reference cloud's port on 127.0.0.1 (default: a free one)")
    demo.add_argument("--control-port", type=int, default=DemoOptions.control_port,
                      help="the fleet's control API port on 127.0.0.1 (default: a free one)")
    demo.add_argument("--snmp-port", type=int, default=DemoOptions.snmp_port,
                      help=f"the printers' SNMP port (default {DemoOptions.snmp_port})")
    demo.add_argument("--ipp-port", type=int, default=DemoOptions.ipp_port,
                      help=f"the printers' IPP port (default {DemoOptions.ipp_port})")
    demo.add_argument("--interval", type=float, default=DemoOptions.interval,
                      metavar="SECONDS", help="the gateway's poll interval "
                                              f"(default {DemoOptions.interval:g})")
    demo.add_argument("--keep-data", type=Path, default=None, metavar="DIR",
                      help="keep the cloud's database, the gateway's data and the logs in DIR "
                           "(default: a temporary directory, removed on exit)")
    demo.add_argument("--timeout", type=float, default=DemoOptions.timeout, metavar="SECONDS",
                      help="how long each start-up step (and each step of "
                           "--contract-change) may take "
                           f"(default {DemoOptions.timeout:g})")
    demo.add_argument("--contract-change", action="store_true",
                      help="then run a change of contract machine on two printers through the "
                           "member API, printing every step, and stop at its end")
    demo.add_argument("--keep-running", action="store_true",
                      help="with --contract-change: go on after it, as without (until Ctrl-C "
                           "or the end of --duration)")
    demo.set_defaults(handler=_demo)

    run = commands.add_parser(
        "run", help="run the gateway: discover, poll, upload to the cloud, relay commands",
        description="Run the gateway daemon as the config file says.  SIGTERM or Ctrl-C stops "
                    "it after the work in hand is finished or safely queued (a second one at "
                    "once); SIGHUP reads the config file again and applies it (an invalid file "
                    "is refused, and the gateway runs on as it was).  Exit status 2: the config "
                    "or the data directory cannot be used (systemd does not restart it).")
    run.add_argument("--config", type=Path, required=True, help="the gateway's TOML config file")
    run.add_argument("--once", action="store_true",
                     help="one full cycle (discover, read, sync with the cloud, upload), then exit")
    run.add_argument("--log-level", default=None, choices=LEVELS,
                     help="default: [logging] level in the config (info)")
    run.add_argument("--log-format", default=None, choices=FORMATS,
                     help="text lines or JSON lines on stderr (default: [logging] format in the "
                          "config, text)")
    run.set_defaults(handler=_run)

    check = commands.add_parser(
        "check-config", help="validate a config file and name every mistake",
        description="Read and validate a gateway config file, and check on this machine that "
                    "its data directory is usable by the user running the command (run it as "
                    "the gateway's user, or root): exit 0 when it is usable, else list every "
                    "mistake (key, bad value unless secret, fix) and exit 2.  A file that group "
                    "or others may read while it holds secrets gets a warning (exit 0).")
    check.add_argument("config", type=Path, help="the gateway's TOML config file")
    check.set_defaults(handler=_check_config)

    add_status_parser(commands)
    add_sync_parser(commands)
    return parser


def _add_discover_parser(commands: argparse._SubParsersAction) -> None:
    discover = commands.add_parser(
        "discover", help="find the printers on the network once and list them",
        description="Browse mDNS, sweep subnets over SNMP and read static hosts; identify each "
                    "device (serial, printer-uuid, MAC) and list one line per physical device. "
                    "Options add to (or, for on/off settings, override) the --config file.")
    discover.add_argument("--config", type=Path, help="take the settings from this gateway config "
                          "(and record the devices in its inventory)")
    discover.add_argument("--subnet", action="append", default=[], metavar="CIDR",
                          help="sweep this network over SNMP (repeatable)")
    discover.add_argument("--static", action="append", default=[], metavar="HOST",
                          help="read this host too (repeatable)")
    discover.add_argument("--exclude", action="append", default=[], metavar="ADDRESS_OR_CIDR",
                          help="never probe nor record this address or network (repeatable)")
    discover.add_argument("--mdns", action=argparse.BooleanOptionalAction, default=None,
                          help="browse mDNS/DNS-SD (default on)")
    discover.add_argument("--interface", action="append", default=[],
                          metavar="NAME_OR_ADDRESS",
                          help="interface mDNS browses (repeatable; default all but loopback)")
    discover.add_argument("--mdns-listen", type=float, metavar="SECONDS",
                          help="how long to listen for mDNS answers (default 5)")
    discover.add_argument("--timeout", type=float, metavar="SECONDS",
                          help="seconds to wait for each sweep probe (default 1)")
    discover.add_argument("--rate", type=float, metavar="PACKETS",
                          help="sweep probes per second, at most (default 1000)")
    discover.add_argument("--ipp-port", type=int,
                          help="IPP port tried on devices mDNS did not announce (default 631)")
    discover.add_argument("--data-dir", type=Path,
                          help="keep the inventory here (default: the config's data_dir; "
                               "without --config nothing is kept)")
    discover.add_argument("--all", action="store_true",
                          help="list the whole inventory, not only the devices found now")
    discover.add_argument("--json", action="store_true",
                          help="print the devices as a JSON list")
    group = discover.add_argument_group("SNMP")
    group.add_argument("--port", type=int, help="SNMP UDP port (default 161)")
    add_community_options(group, several=True)
    add_v3_options(group)
    discover.set_defaults(handler=_discover)


def _discover_config(args: argparse.Namespace) -> Config:
    """The config file's settings with the command line's on top, validated together."""
    data: dict = {}
    if args.config is not None:
        data = read_toml(args.config)
    source = str(args.config or "command line")
    discovery = data.setdefault("discovery", {})
    snmp = data.setdefault("snmp", {})
    discovery.setdefault("subnets", []).extend({"cidr": c} for c in args.subnet)
    discovery.setdefault("static", []).extend({"host": h} for h in args.static)
    discovery.setdefault("exclude", []).extend(args.exclude)
    if args.interface:
        discovery["interfaces"] = args.interface
    for key, value in (("mdns", args.mdns), ("mdns_listen", args.mdns_listen)):
        if value is not None:
            discovery[key] = value
    for key, value in (("timeout", args.timeout), ("rate", args.rate)):
        if value is not None:
            discovery.setdefault("sweep", {})[key] = value
    if args.port is not None:
        snmp["port"] = args.port
    if args.ipp_port is not None:
        data.setdefault("ipp", {})["port"] = args.ipp_port
    given = communities(args)
    if given:
        snmp["communities"] = given
    if args.v3_user:
        users = snmp.setdefault("v3_users", {})
        users[args.v3_user] = {
            "auth_protocol": args.v3_auth_protocol, "priv_protocol": args.v3_priv_protocol,
            **({"auth_key": args.v3_auth_key} if args.v3_auth_key else {}),
            **({"priv_key": args.v3_priv_key} if args.v3_priv_key else {})}
        if not given and args.config is None:
            snmp["communities"] = []  # --v3-user alone: v3 only
    if args.data_dir is not None:
        data.setdefault("gateway", {})["data_dir"] = str(args.data_dir)
    return parse_config(data, source)


async def _discover_async(args: argparse.Namespace, config: Config) -> int:
    keep = args.config is not None or args.data_dir is not None
    store = Store.in_directory(config.gateway.data_dir) if keep else Store(":memory:")
    err = Console(stderr=True)
    try:
        inventory = Inventory(store)
        async with DeviceReader() as reader:
            show_progress = not args.json and err.is_terminal
            with DiscoveryProgress(err) if show_progress else nullcontext() as progress:
                report = await Discovery(config, inventory, reader, progress).run()
        devices = inventory.devices() if args.all else [f.device for f in report.found]
        if not args.all:  # a device found at two addresses is listed once
            devices = list({d.id: inventory.get(d.id) for d in devices}.values())
        if args.json:
            write_json(devices)
            for error in report.errors:
                print(f"printgw: {error}", file=sys.stderr)
        else:
            # piped output is not folded to 80 columns: one line per device, for grep
            print_table(report, devices, Console(width=None if sys.stdout.isatty() else 200))
    finally:
        store.close()
    return 0


def _discover(args: argparse.Namespace) -> int:
    try:
        config = _discover_config(args)
        keep = args.config is not None or args.data_dir is not None
        problems = data_dir_problems(config.gateway.data_dir, DATABASE_NAME) if keep else []
        if problems:
            raise ConfigError(str(args.config or "command line"), problems)
    except ConfigError as exc:
        print(f"printgw: {exc}", file=sys.stderr)
        return CONFIG_ERROR
    if not (config.discovery.mdns or config.discovery.subnets or config.discovery.static):
        print("printgw: nothing to discover: give --subnet, --static or --mdns",
              file=sys.stderr)
        return 2
    try:
        return asyncio.run(_discover_async(args, config))
    except StoreError as exc:
        print(f"printgw: {exc}", file=sys.stderr)
        return 1


def _load_runnable_config(path: Path) -> tuple[Config | None, str | None]:
    """For `check-config` and `run`: the validated config with a usable data directory, or None
    after printing every mistake (exit code 2); and the warning for secrets others may read in
    the file, if any (never their values)."""
    try:
        data = read_toml(path)
    except ConfigError as exc:
        print(f"printgw: {exc}", file=sys.stderr)
        return None, None
    warning = exposed_secrets_warning(path, data)
    config: Config | None = None
    try:
        config = parse_config(data, str(path))
    except ConfigError as exc:
        problems = exc.problems
    else:
        problems = []
    data_dir = config.gateway.data_dir if config is not None else data_dir_of(data)
    problems += data_dir_problems(data_dir, DATABASE_NAME) if data_dir is not None else []
    if problems:
        print(f"printgw: {ConfigError(str(path), problems)}", file=sys.stderr)
        return None, warning
    return config, warning


def _check_config(args: argparse.Namespace) -> int:
    config, warning = _load_runnable_config(args.config)
    if warning is not None:
        print(f"printgw: warning: {warning}", file=sys.stderr)
    if config is None:
        return CONFIG_ERROR
    cloud = config.cloud.url or "none (no cloud link)"
    print(f"{args.config}: OK (data in {config.gateway.data_dir}, cloud {cloud})")
    return 0


def _run(args: argparse.Namespace) -> int:
    """`printgw run`: exit 2 (`CONFIG_ERROR`) for an invalid config or an unusable data
    directory, before anything starts: systemd's unit does not restart on 2.  (Secrets others
    may read in the file are logged by `run_gateway`, at the start and at each reload.)"""
    config, warning = _load_runnable_config(args.config)
    if config is None:
        if warning is not None:
            print(f"printgw: warning: {warning}", file=sys.stderr)
        return CONFIG_ERROR
    overrides = LogOverrides(format=args.log_format, level=args.log_level)
    configure_logging(config, overrides)
    tune_for_polling()
    try:
        return asyncio.run(run_gateway(config, once=args.once, config_path=args.config,
                                       log_overrides=overrides))
    except StoreError as exc:
        print(f"printgw: {exc}", file=sys.stderr)
        return 1


def _demo(args: argparse.Namespace) -> int:
    options = DemoOptions(
        count=args.count, first_ip=args.first_ip, snmp_port=args.snmp_port,
        ipp_port=args.ipp_port, control_port=args.control_port, cloud_port=args.cloud_port,
        status_port=args.status_port, duration=args.duration, interval=args.interval,
        keep_data=args.keep_data, timeout=args.timeout, contract_change=args.contract_change,
        keep_running=args.keep_running)
    # piped output is not folded to 80 columns: one line per printer, for grep
    console = Console(width=None if sys.stdout.isatty() else 200)
    return asyncio.run(run_demo(options, console))


async def _poll_async(args: argparse.Namespace) -> int:
    snmp = None if args.no_snmp else snmp_target(args)
    ipp = None if args.no_ipp else ipp_endpoint(args)
    async with DeviceReader(read_deadline=args.deadline) as reader:
        try:
            status = await reader.read(args.host, snmp, ipp)
        except DeviceUnreachable as exc:
            print(f"printgw: {exc}", file=sys.stderr)
            return 1
    if args.json:
        json.dump(status.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_report(status)
    return 0


def _poll(args: argparse.Namespace) -> int:
    if args.no_snmp and args.no_ipp:
        print("printgw: --no-snmp and --no-ipp leave nothing to read", file=sys.stderr)
        return 2
    return asyncio.run(_poll_async(args))


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as exc:  # bad option values, e.g. an SNMPv3 key that is too short
        print(f"printgw: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
