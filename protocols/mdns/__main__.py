"""`python -m protocols.mdns`: which printers advertise themselves over mDNS, on which interface.

    python -m protocols.mdns --interface eth0                  # a table after 5 seconds
    python -m protocols.mdns -i eth0 --json                    # the same as JSON
    python -m protocols.mdns -i 10.1.2.3 --follow --json       # events as JSON lines until ^C

Only the interfaces given are used (never all of them).  Besides the printer service types, the
AirPrint subtypes `_universal._sub._ipp(s)._tcp` are browsed, so `subtypes` shows AirPrint printers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Sequence

from zeroconf import IPVersion

from protocols.mdns.browser import MdnsBrowser
from protocols.mdns.service import (
    SERVICE_TYPES,
    UNIVERSAL_SUBTYPES,
    MdnsEvent,
    MdnsService,
    normalise_type,
)

_IP_VERSIONS = {"4": IPVersion.V4Only, "6": IPVersion.V6Only, "all": IPVersion.All}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m protocols.mdns",
        description="Browse DNS-SD printer services (IPP, IPPS, LPD, port 9100) on the given "
                    "interfaces and show what each printer advertises.")
    ap.add_argument("-i", "--interface", action="append", required=True,
                    metavar="IFACE_OR_ADDR",
                    help="interface name (eth0) or its IPv4 address; repeat for several")
    ap.add_argument("-d", "--duration", type=float, default=None, metavar="SECONDS",
                    help="how long to browse (default 5; with --follow: until interrupted)")
    ap.add_argument("-t", "--type", action="append", default=None, metavar="TYPE",
                    help="service type to browse, e.g. _ipp._tcp (repeatable; default: "
                         + ", ".join(t.removesuffix(".local.") for t in
                                     SERVICE_TYPES + UNIVERSAL_SUBTYPES) + ")")
    ap.add_argument("-f", "--follow", action="store_true",
                    help="print services as they are added, updated and removed")
    ap.add_argument("--json", action="store_true",
                    help="JSON output (with --follow: one JSON object per line)")
    ap.add_argument("--resolve-timeout", type=float, default=3.0, metavar="SECONDS")
    ap.add_argument("--ip-version", choices=sorted(_IP_VERSIONS), default="4",
                    help="mDNS over IPv4 (default), IPv6 or both")
    args = ap.parse_args(argv)
    if args.duration is not None and args.duration < 0:
        ap.error("--duration must not be negative")
    try:
        args.types = ([normalise_type(t) for t in args.type] if args.type
                      else list(SERVICE_TYPES + UNIVERSAL_SUBTYPES))
    except ValueError as exc:
        ap.error(str(exc))
    return args


def _line(service: MdnsService) -> str:
    where = f"{service.addresses[0]}:{service.port}" if service.addresses else f"?:{service.port}"
    extra = " ".join(f"{k}={v}" for k, v in (
        ("uuid", service.uuid), ("ty", service.make_and_model),
        ("subtypes", ",".join(service.subtypes))) if v)
    return f"{service.type.removesuffix('.local.'):<24} {where:<22} {service.instance}  {extra}"


def _print_event(event: MdnsEvent, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"time": round(time.time(), 3), **event.to_json()}), flush=True)
    else:
        print(f"{event.kind:<8} {_line(event.service)}", flush=True)


async def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    duration = args.duration if args.duration is not None else (None if args.follow else 5.0)
    browser = MdnsBrowser(args.interface, args.types, args.resolve_timeout,
                          _IP_VERSIONS[args.ip_version])
    async with browser:
        if args.follow:
            events = browser.events()

            async def follow() -> None:
                async for event in events:
                    _print_event(event, args.json)

            printer = asyncio.create_task(follow())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration)
        if not args.follow:
            await browser.wait_resolved(args.resolve_timeout)
            services = sorted(browser.services.values(), key=lambda s: (s.type, s.name))
    if args.follow:
        await printer  # ends once the browser is closed
    elif args.json:
        print(json.dumps([s.to_json() for s in services], indent=2))
    else:
        for service in services:
            print(_line(service))
        print(f"{len(services)} service(s)", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(run(args))
    except ValueError as exc:  # a bad interface: say which and what exists
        print(f"mdns: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"mdns: cannot open mDNS sockets: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
