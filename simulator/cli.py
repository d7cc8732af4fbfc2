"""`printgw-sim`: run a fleet of virtual printers until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import sys

from protocols.version import VERSION
from simulator.fleet import Fleet, FleetConfig, in_private_netns
from simulator.profiles import BUILTIN
from simulator.snmp_v3 import V3User


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="printgw-sim",
        description="Virtual printer fleet: SNMP agent + IPP server (+ mDNS) per loopback address.")
    ap.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    ap.add_argument("--count", type=int, default=1, help="number of printers (default 1)")
    ap.add_argument("--first-ip", default="127.0.10.1",
                    help="address of the first printer; the others follow (127.0.0.0/8 "
                         "only, except inside a network namespace)")
    ap.add_argument("--snmp-port", type=int, default=161)
    ap.add_argument("--ipp-port", type=int, default=631)
    ap.add_argument("--profile", default=None,
                    help=f"one profile for all: {', '.join(BUILTIN)} or FILE.snmprec "
                         "(FILE.snmprec+contract adds the contract MIB; a support recording, "
                         "with FILE.recording.json beside it, is replayed as recorded)")
    ap.add_argument("--mix", default=None,
                    help="comma-separated profiles assigned round-robin "
                         "(default: color-mfp,mono-laser,inkjet,legacy-laser)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed for levels; with each printer's address, for its "
                         "serial, UUID and MAC")
    ap.add_argument("--community", default="public", help="SNMP read community")
    ap.add_argument("--write-community", default="private", help="SNMP write community")
    ap.add_argument("--v3-user", action="append", default=[], metavar="NAME:AUTHKEY:PRIVKEY",
                    help="SNMPv3 user (SHA/AES-128 authPriv); SETs then need v3 authPriv")
    ap.add_argument("--contract-root", default="1.3.6.1.4.1.32473.1",
                    help="OID of the contract MIB's root (default RFC 5612 documentation number)")
    ap.add_argument("--sleep-delay", type=float, default=0.8,
                    help="seconds a sleeping printer takes to answer")
    ap.add_argument("--no-ipp", action="store_true", help="SNMP only")
    ap.add_argument("--mdns", action="store_true",
                    help="advertise _ipp._tcp and _pdl-datastream._tcp over mDNS")
    ap.add_argument("--mdns-interface", default="127.0.0.1",
                    help="IPv4 address of the one interface mDNS uses (default loopback; "
                         "others only inside a network namespace)")
    ap.add_argument("--control-host", default="127.0.0.1")
    ap.add_argument("--control-port", type=int, default=8631,
                    help="HTTP control API port (0 = off)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.count < 1:
        ap.error("--count must be at least 1")
    # Off loopback only inside a network namespace of its own (ip netns exec), never on the
    # machine's real interfaces.
    private = in_private_netns()
    try:
        if not ipaddress.IPv4Address(args.first_ip).is_loopback and not private:
            ap.error("--first-ip must be a loopback address (127.0.0.0/8) unless printgw-sim "
                     "runs inside a network namespace (ip netns exec NS printgw-sim ...)")
        mdns_ip = ipaddress.IPv4Address(args.mdns_interface)
    except ipaddress.AddressValueError as exc:
        ap.error(str(exc))
    if mdns_ip.is_unspecified:
        ap.error("--mdns-interface must name one interface's address, never all interfaces")
    if not mdns_ip.is_loopback and not private:
        ap.error("--mdns-interface must be a loopback address unless printgw-sim runs inside a "
                 "network namespace (ip netns exec NS printgw-sim ...)")
    users = []
    for spec in args.v3_user:
        parts = spec.split(":")
        if len(parts) != 3 or min(len(parts[1]), len(parts[2])) < 8:
            ap.error("--v3-user NAME:AUTHKEY:PRIVKEY (keys at least 8 characters)")
        users.append(V3User(*parts))
    args.v3_users = users
    return args


async def run(args: argparse.Namespace, ready: asyncio.Event | None = None) -> None:
    profiles = ([args.profile] if args.profile else
                (args.mix or "color-mfp,mono-laser,inkjet,legacy-laser").split(","))
    fleet = Fleet(FleetConfig(
        count=args.count, first_ip=args.first_ip, snmp_port=args.snmp_port,
        ipp_port=args.ipp_port, profiles=[p.strip() for p in profiles if p.strip()],
        seed=args.seed, read_community=args.community, write_community=args.write_community,
        v3_users=args.v3_users, contract_root=args.contract_root, sleep_delay=args.sleep_delay,
        ipp=not args.no_ipp))
    await fleet.start()
    cleanups = [fleet.stop]
    try:
        if args.control_port:
            from simulator.control_api import start_control_api
            runner = await start_control_api(fleet, args.control_host, args.control_port)
            cleanups.append(runner.cleanup)
        if args.mdns:
            from simulator.mdns import Advertiser
            adv = Advertiser(args.mdns_interface)
            await adv.start(fleet.printers)
            cleanups.append(adv.close)
        first, last = fleet.printers[0], fleet.printers[-1]
        print(f"printgw-sim: {len(fleet.printers)} printers {first.ip}..{last.ip} "
              f"snmp/{args.snmp_port} ipp/{args.ipp_port}"
              + (f"; control API http://{args.control_host}:{args.control_port}/printers"
                 if args.control_port else ""), flush=True)
        if ready is not None:
            ready.set()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        for fn in reversed(cleanups):
            await fn()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        asyncio.run(run(args))
    except OSError as exc:
        print(f"printgw-sim: {exc} (ports below 1024 need root; try --snmp-port/--ipp-port)",
              file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"printgw-sim: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
