"""The command-line options that say how to reach one printer (SNMP, IPP), shared by the
commands that read one (`printgw poll`, `printgw record`); and the SNMP secrets, which every
other user of the machine sees on a command line (`ps`): the community from
`$PRINTGW_SNMP_COMMUNITY` or a file (`--community-file`, chmod 600), the v3 keys from
`$PRINTGW_SNMP_AUTH_KEY` / `$PRINTGW_SNMP_PRIV_KEY`; `--community` still works, with a warning."""

from __future__ import annotations

import argparse
import os
import sys

from pydantic import TypeAdapter, ValidationError

from gateway.device.reader import IppEndpoint
from gateway.settings.checks import WELL_KNOWN_SECRETS
from gateway.settings.secrets import SecretListFile
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
    add_community_options(group, several=False)
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


COMMUNITY_ENV = "PRINTGW_SNMP_COMMUNITY"


def add_community_options(group: argparse._ArgumentGroup, *, several: bool) -> None:
    """`--community` (`several`: repeatable) and `--community-file`; see `communities`."""
    where = (f"; or env {COMMUNITY_ENV}, or --community-file: a command line is visible to "
             "every user (ps)")
    if several:
        group.add_argument("--community", action="append", default=[],
                           help=f"v2c community to try (repeatable; default public{where})")
    else:
        group.add_argument("--community", default=None,
                           help=f"v1/v2c community (default public{where})")
    group.add_argument("--community-file", metavar="FILE",
                       help="a file (chmod 600) holding the community" +
                            (", or several, one per line" if several else "") +
                            f"; wins over env {COMMUNITY_ENV}")


def communities(args: argparse.Namespace) -> list[str]:
    """The v1/v2c communities asked for, from the first of: `--community` (with a warning on
    stderr unless well known: `ps` shows it), `--community-file`, `$PRINTGW_SNMP_COMMUNITY`;
    [] when none.  `ValueError` for an unreadable file, or one others may read."""
    given = args.community if isinstance(args.community, list) else \
        [args.community] if args.community is not None else []
    if given:
        if any(c not in WELL_KNOWN_SECRETS for c in given):
            print(f"printgw: warning: --community shows the community to every user of this "
                  f"machine (ps); give it in ${COMMUNITY_ENV} or a file (--community-file, "
                  "chmod 600)", file=sys.stderr)
        return given
    if args.community_file is not None:
        try:
            values = _COMMUNITY_FILE.validate_python(args.community_file)
        except ValidationError as exc:
            message = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise ValueError(f"--community-file: {message}") from None
        if not values:
            raise ValueError(f"--community-file: {args.community_file} holds no community")
        return [v.get_secret_value() for v in values]
    from_env = os.environ.get(COMMUNITY_ENV)
    return [from_env] if from_env else []


_COMMUNITY_FILE = TypeAdapter(SecretListFile)


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
        community=(communities(args) or ["public"])[0],
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
