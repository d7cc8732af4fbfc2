"""The command-line options that say how to reach one printer (SNMP, IPP), shared by the
commands that read one (`printgw poll`, `printgw record`)."""

from __future__ import annotations

import argparse
import os

from gateway.device.reader import IppEndpoint
from protocols.snmp.model import AUTH_PROTOCOLS, PRIV_PROTOCOLS, SnmpCredentials, SnmpTarget


def add_device_options(parser: argparse.ArgumentParser) -> None:
    """What `printgw poll` and `printgw record` share: how to reach the printer over SNMP and
    IPP, the wait for each answer, and turning either protocol off."""
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="seconds to wait for each answer (default 2)")
    add_snmp_options(parser)
    add_ipp_options(parser)
    parser.add_argument("--no-snmp", action="store_true", help="do not use SNMP")
    parser.add_argument("--no-ipp", action="store_true", help="do not use IPP")


def add_snmp_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("SNMP")
    group.add_argument("--port", type=int, default=161, help="SNMP UDP port (default 161)")
    group.add_argument("--snmp-version", choices=("1", "2c", "3"), default=None,
                       help="SNMP version (default 2c, or 3 when --v3-user is given)")
    group.add_argument("--community", default="public", help="v1/v2c community (default public)")
    group.add_argument("--context", default="",
                       help="SNMP context (v3 contextName; v1/v2c sends COMMUNITY@CONTEXT)")
    add_v3_options(group)
    group.add_argument("--retries", type=int, default=1, help="SNMP retries (default 1)")


def add_v3_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--v3-user", help="SNMPv3 user name")
    group.add_argument("--v3-auth-protocol", default="SHA", type=str.upper,
                       choices=sorted(AUTH_PROTOCOLS), help="SNMPv3 auth protocol (default SHA)")
    group.add_argument("--v3-auth-key", default=os.environ.get("PRINTGW_SNMP_AUTH_KEY"),
                       help="SNMPv3 auth passphrase (or env PRINTGW_SNMP_AUTH_KEY)")
    group.add_argument("--v3-priv-protocol", default="AES", type=str.upper,
                       choices=sorted(PRIV_PROTOCOLS), help="SNMPv3 privacy protocol (default AES)")
    group.add_argument("--v3-priv-key", default=os.environ.get("PRINTGW_SNMP_PRIV_KEY"),
                       help="SNMPv3 privacy passphrase (or env PRINTGW_SNMP_PRIV_KEY)")


def add_ipp_options(parser: argparse.ArgumentParser) -> None:
    ipp = parser.add_argument_group("IPP")
    ipp.add_argument("--ipp-port", type=int, default=631, help="IPP port (default 631)")
    ipp.add_argument("--ipp-path", default="/ipp/print", help="IPP path (default /ipp/print)")
    ipp.add_argument("--ipps", action="store_true", help="use IPP over TLS (ipps://)")
    ipp.add_argument("--verify-tls", action="store_true",
                     help="verify the printer's TLS certificate (off: printers use self-signed)")


def snmp_target(args: argparse.Namespace) -> SnmpTarget:
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


def ipp_endpoint(args: argparse.Namespace) -> IppEndpoint:
    return IppEndpoint.for_host(args.host, args.ipp_port, args.ipp_path, tls=args.ipps,
                                verify_tls=args.verify_tls, timeout=args.timeout)
