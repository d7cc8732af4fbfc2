"""`printgw`: the gateway's command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence

from gateway.demo import DemoOptions, run_demo
from gateway.reader import DeviceReader, DeviceUnreachable, IppEndpoint
from gateway.report import print_report
from protocols.snmp.client import AUTH_PROTOCOLS, PRIV_PROTOCOLS, SnmpCredentials, SnmpTarget


def _add_snmp_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("SNMP")
    group.add_argument("--port", type=int, default=161, help="SNMP UDP port (default 161)")
    group.add_argument("--snmp-version", choices=("1", "2c", "3"), default=None,
                       help="SNMP version (default 2c, or 3 when --v3-user is given)")
    group.add_argument("--community", default="public", help="v1/v2c community (default public)")
    group.add_argument("--context", default="",
                       help="SNMP context (v3 contextName; v1/v2c sends COMMUNITY@CONTEXT)")
    group.add_argument("--v3-user", help="SNMPv3 user name")
    group.add_argument("--v3-auth-protocol", default="SHA", type=str.upper,
                       choices=sorted(AUTH_PROTOCOLS), help="SNMPv3 auth protocol (default SHA)")
    group.add_argument("--v3-auth-key", default=os.environ.get("PRINTGW_SNMP_AUTH_KEY"),
                       help="SNMPv3 auth passphrase (or env PRINTGW_SNMP_AUTH_KEY)")
    group.add_argument("--v3-priv-protocol", default="AES", type=str.upper,
                       choices=sorted(PRIV_PROTOCOLS), help="SNMPv3 privacy protocol (default AES)")
    group.add_argument("--v3-priv-key", default=os.environ.get("PRINTGW_SNMP_PRIV_KEY"),
                       help="SNMPv3 privacy passphrase (or env PRINTGW_SNMP_PRIV_KEY)")
    group.add_argument("--retries", type=int, default=1, help="SNMP retries (default 1)")


def _snmp_target(args: argparse.Namespace) -> SnmpTarget:
    version = args.snmp_version or ("3" if args.v3_user else "2c")
    credentials = SnmpCredentials(
        version={"1": 1, "2c": 2, "3": 3}[version],
        community=args.community,
        user=args.v3_user,
        auth_protocol=args.v3_auth_protocol,
        auth_key=args.v3_auth_key,
        priv_protocol=args.v3_priv_protocol,
        priv_key=args.v3_priv_key,
        context=args.context,
    )
    return SnmpTarget(args.host, args.port, credentials, timeout=args.timeout,
                      retries=args.retries)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="printgw", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    poll = commands.add_parser("poll", help="read one printer and show everything read",
                               description="Read one printer over SNMP and IPP.")
    poll.add_argument("host", help="printer address or host name")
    poll.add_argument("--json", action="store_true", help="print the device status as JSON")
    poll.add_argument("--timeout", type=float, default=2.0,
                      help="seconds to wait for each answer (default 2)")
    _add_snmp_options(poll)
    ipp = poll.add_argument_group("IPP")
    ipp.add_argument("--ipp-port", type=int, default=631, help="IPP port (default 631)")
    ipp.add_argument("--ipp-path", default="/ipp/print", help="IPP path (default /ipp/print)")
    ipp.add_argument("--ipps", action="store_true", help="use IPP over TLS (ipps://)")
    ipp.add_argument("--verify-tls", action="store_true",
                     help="verify the printer's TLS certificate (off: printers use self-signed)")
    poll.add_argument("--no-snmp", action="store_true", help="do not use SNMP")
    poll.add_argument("--no-ipp", action="store_true", help="do not use IPP")
    poll.set_defaults(handler=_poll)

    demo = commands.add_parser(
        "demo", help="run the virtual printer fleet on loopback and read it",
        description="Start a fleet of virtual printers on loopback addresses, read every one of "
                    "them over SNMP and IPP, show the fleet, and keep reading until Ctrl-C.")
    demo.add_argument("--count", type=int, default=DemoOptions.count,
                      help=f"virtual printers (default {DemoOptions.count})")
    demo.add_argument("--first-ip", default=DemoOptions.first_ip,
                      help=f"first printer's loopback address (default {DemoOptions.first_ip})")
    demo.add_argument("--snmp-port", type=int, default=DemoOptions.snmp_port)
    demo.add_argument("--ipp-port", type=int, default=DemoOptions.ipp_port)
    demo.add_argument("--control-port", type=int, default=DemoOptions.control_port,
                      help="the fleet's control API port on 127.0.0.1")
    demo.add_argument("--duration", type=float, default=None,
                      help="stop after this many seconds (default: run until Ctrl-C)")
    demo.add_argument("--interval", type=float, default=DemoOptions.interval,
                      help="seconds between polls of the fleet")
    demo.set_defaults(handler=_demo)
    return parser


def _demo(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise ValueError("--count must be at least 1")
    options = DemoOptions(count=args.count, first_ip=args.first_ip, snmp_port=args.snmp_port,
                          ipp_port=args.ipp_port, control_port=args.control_port,
                          duration=args.duration, interval=args.interval)
    return asyncio.run(run_demo(options))


async def _poll_async(args: argparse.Namespace) -> int:
    snmp = None if args.no_snmp else _snmp_target(args)
    ipp = None if args.no_ipp else IppEndpoint.for_host(
        args.host, args.ipp_port, args.ipp_path, tls=args.ipps, verify_tls=args.verify_tls,
        timeout=args.timeout)
    async with DeviceReader() as reader:
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
