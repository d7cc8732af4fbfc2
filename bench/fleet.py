"""Benchmark: every fleet-scale target of issue 8, one line each, with the baseline of the same run.

Targets (full run; `--quick` runs the same at a smaller scale in a few minutes):

- client CPU: the gateway's SNMP client CPU per full poll of a recorded colour printer (Sharp
  MX-3570N, 156 values) at most 2x that of easysnmp (net-snmp's C library) on the same agent:
  net-snmp's snmpd serving the recording (`bench/poll.py`);
- fleet poll: a gateway with 1,000 printers in its inventory reads them all, SNMP and IPP, in at
  most 5 s per poll cycle, gateway and virtual fleet on this machine; baseline: the same gateway
  on pysnmp (`bench/gateway_poll.py`);
- gateway RSS: that gateway process's peak RSS at most 80 MB;
- sweep: an SNMP sweep of a /16 (200 printers in it) within 5 minutes using at most one core;
  baseline: onesixtyone (`bench/discovery.py`; `--quick` sweeps a /20 and scales to a /16);
- uplink: 1,000 statuses from the outbox into the reference cloud within 1 s, bytes per device
  reported; baseline: one request per status (`bench/uplink.py`);
- simulator: one `printgw-sim` process answers at least 1,000 full polls/s (system scalars and
  the supplies, marker, colorant and alert tables: `bench/simulator.py`), driven by the gateway's
  SNMP client; baseline: snmpsim serving one recording.

Exits 1 when a target is missed.  Needs the `bench` extra (`pip install -e .[bench]`) and the
Debian packages snmpd, snmp (net-snmp's tools), onesixtyone, and libsnmp-dev to build easysnmp.
The virtual printers live on 127.1.0.0/16 (sweep), 127.2.0.0/22 (fleet poll), 127.2.8.0/22
(simulator) and 127.2.16.1 (client CPU).  To see where a process spends its time:
`py-spy record -o out.svg -- python bench/gateway_poll.py` (or `py-spy record --pid PID`).

`--scale` runs issue 20's targets instead (`bench/scale.py`: 1,000 to 10,000 printers, the
baselines easysnmp, gufo_snmp used synchronously and Prometheus snmp_exporter; it also needs the
Debian package prometheus-snmp-exporter and uses 127.60.0.0/14).

    python bench/fleet.py [--quick] [--scale] [--only client-cpu,fleet-poll,sweep,uplink,simulator]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/simulator.py would shadow the `simulator` package: the bench modules come as `bench.*`
sys.path[:] = [p for p in sys.path if p not in ("", str(Path(__file__).resolve().parent))]
sys.path.insert(0, str(ROOT))

from bench import discovery as sweep_bench  # noqa: E402
from bench import gateway_poll, poll  # noqa: E402
from bench import scale as scale_bench  # noqa: E402
from bench import simulator as sim_bench  # noqa: E402
from bench import uplink as uplink_bench  # noqa: E402
from bench.lines import Line, print_lines  # noqa: E402
from protocols.snmp.client import SnmpClient  # noqa: E402
from protocols.snmp.model import SnmpCredentials, SnmpError, SnmpTarget  # noqa: E402
from simulator import ber  # noqa: E402
from simulator.fleet import addresses  # noqa: E402
from tests.support.paths import SNMP_FIXTURES  # noqa: E402

SCALE = {
    False: {"printers": 1000, "cidr": "127.1.0.0/16", "devices": 1000, "polls": 200,
            "seconds": 15.0},
    True: {"printers": 200, "cidr": "127.1.0.0/20", "devices": 200, "polls": 50,
           "seconds": 5.0},
}


def client_cpu(quick: bool) -> list[Line]:
    polls = SCALE[quick]["polls"]
    recording = SNMP_FIXTURES / "sharp.snmprec"
    with tempfile.TemporaryDirectory() as tmp, \
            poll.snmpd(recording, Path(tmp), "127.2.16.1") as (host, port):
        target = SnmpTarget(host, port, SnmpCredentials(community="public"))
        plan = poll.poll_plan(target)
        ours = poll.bench_printgw(target, polls, 5)
        mapped = poll.bench_printgw(target, polls, 5, mapping=True)
        old = poll.bench_printgw(target, max(1, polls // 10), 3, fast=False)
        theirs = poll.bench_easysnmp(host, port, "public", plan, polls, 5)
    ratio = ours.cpu_ms / theirs.cpu_ms
    return [Line("client CPU / SNMP poll",
                 f"{ours.cpu_ms:.2f} ms ({mapped.cpu_ms:.2f} with mapping; pysnmp "
                 f"{old.cpu_ms:.1f})", f"easysnmp {theirs.cpu_ms:.2f} ms", ratio,
                 "<= 2x easysnmp", ratio <= 2.0)]


def fleet_poll(quick: bool) -> list[Line]:
    printers = SCALE[quick]["printers"]
    limit = 5.0 * printers / 1000
    ours = gateway_poll.run(printers, "127.2.0.1", 16300, 3)["gufo"]
    old = gateway_poll.run(printers, "127.2.0.1", 16300, 2, ("pysnmp",))["pysnmp"]
    gateway_poll.report(printers, {"gufo": ours, "pysnmp": old})
    complete = ours["read"] == printers
    return [
        Line(f"poll of {printers} printers (SNMP+IPP)",
             f"{ours['seconds']:.2f} s/cycle (first {ours['first']:.2f}; gw "
             f"{ours['gateway_cpu_ms']:.1f}, fleet {ours['fleet_cpu_ms']:.1f} ms CPU/device)",
             f"pysnmp {old['seconds']:.1f} s", ours["seconds"] / old["seconds"],
             f"<= {limit:g} s, all read", complete and ours["seconds"] <= limit),
        Line(f"gateway peak RSS, {printers} devices",
             f"{ours['peak_rss_mb']:.0f} MB ({ours['rss_before_mb']:.0f} before polling)",
             f"pysnmp {old['peak_rss_mb']:.0f} MB", ours["peak_rss_mb"] / old["peak_rss_mb"],
             "<= 80 MB", ours["peak_rss_mb"] <= 80),
    ]


def sweep(quick: bool) -> list[Line]:
    cidr = SCALE[quick]["cidr"]
    network = ipaddress.IPv4Network(cidr)
    hosts = [str(ip) for ip in network.hosts()]
    args = argparse.Namespace(community="public", port=16261, timeout=1.0, retries=1,
                              rate=1000.0, window=1024, cidr=cidr)
    fleets = sweep_bench.start_fleets(sweep_bench.fleet_layout(network, 200), args.port)
    try:
        ours = sweep_bench.run_sweep(hosts, args)
        theirs = sweep_bench.run_onesixtyone(hosts, args)
    finally:
        sweep_bench.stop_fleets(fleets)
    sweep_bench.report(len(hosts), 200, ours, theirs, args)
    scale = 65536 / len(hosts)
    wall, core = ours["wall"] * scale, ours["cpu"] / ours["wall"]
    their_wall = theirs["wall"] * scale if theirs else float("nan")
    per = "" if network.prefixlen == 16 else f" (from a /{network.prefixlen})"
    return [Line("SNMP sweep of a /16" + per,
                 f"{wall:.0f} s, {core * 100:.0f} % of a core, {ours['found']:.0f} found",
                 f"onesixtyone {their_wall:.0f} s" if theirs else "onesixtyone missing",
                 wall / their_wall if theirs else float("nan"), "<= 300 s, <= 1 core",
                 wall <= 300 and core <= 1.0 and ours["found"] >= 200)]


def uplink(quick: bool) -> list[Line]:
    devices = SCALE[quick]["devices"]
    limit = devices / 1000
    r = asyncio.run(uplink_bench.main(argparse.Namespace(
        devices=devices, rounds=3, batch_size=500, baseline=min(200, devices), database=None)))
    one_by_one = devices / r["one_per_request_per_s"]
    return [Line(f"uplink of {devices} statuses",
                 f"{r['seconds']:.2f} s, {r['bytes_per_device']:.0f} bytes/device",
                 f"one request per status {one_by_one:.1f} s", r["seconds"] / one_by_one,
                 f"<= {limit:g} s", r["seconds"] <= limit)]


@contextlib.asynccontextmanager
async def gufo_poller(client: SnmpClient) -> AsyncIterator[sim_bench.Poll]:
    """bench/simulator.py's full poll through the gateway's SNMP client."""
    scalars = [ber.oid_str(oid) for oid in sim_bench.SCALARS]
    tables = [ber.oid_str(oid) for oid in sim_bench.TABLES]

    async def full_poll(addr: tuple[str, int]) -> int | None:
        target = SnmpTarget(*addr)
        try:
            values = len(await client.get(target, scalars))
            for table in tables:
                values += len(await client.walk(target, table))
        except SnmpError:
            return None
        return values

    yield full_poll


def simulator(quick: bool) -> list[Line]:
    printers, seconds = SCALE[quick]["printers"], SCALE[quick]["seconds"]
    first, port = "127.2.8.1", 16310
    client = SnmpClient()
    try:
        with sim_bench.fleet_process(printers, first, port, "color-mfp") as proc:
            ours = sim_bench.measure("printgw-sim", proc.pid,
                                     [(ip, port) for ip in addresses(first, printers)],
                                     seconds, 64, lambda: gufo_poller(client))
    finally:
        client.close()
    theirs = None
    if shutil.which("snmpsim-command-responder"):
        with sim_bench.snmpsim_process(port, "127.2.8.250") as proc:
            theirs = sim_bench.measure("snmpsim, one recording", proc.pid,
                                       [("127.2.8.250", port)], min(seconds, 10), 8,
                                       lambda: sim_bench.ber_poller(b"public"))
    return [Line("polls/s answered by one printgw-sim",
                 f"{ours['polls_per_s']:,.0f} ({ours['agent_cpu_ms']:.2f} ms agent CPU/poll, "
                 f"{ours['failed']:.0f} failed)",
                 f"snmpsim {theirs['polls_per_s']:,.0f}" if theirs else "snmpsim missing",
                 ours["polls_per_s"] / theirs["polls_per_s"] if theirs else float("nan"),
                 ">= 1,000/s", ours["polls_per_s"] >= 1000 and not ours["failed"])]


def scale(quick: bool) -> list[Line]:
    """Issue 20: the same gateway and fleet from 1,000 to 10,000 printers (`bench/scale.py`)."""
    return scale_bench.run(scale_bench.QUICK_SIZES if quick else scale_bench.SIZES,
                           cycles=2 if quick else 3, polls=SCALE[quick]["polls"])


TARGETS: dict[str, Callable[[bool], list[Line]]] = {
    "client-cpu": client_cpu, "fleet-poll": fleet_poll, "sweep": sweep, "uplink": uplink,
    "simulator": simulator, "scale": scale}
EARLIER = [name for name in TARGETS if name != "scale"]
"""The targets of issue 8 and after: what `python bench/fleet.py` runs without `--scale`."""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="200 printers, a /20 swept, 200 statuses (with --scale: 1,000 and "
                         "3,000 printers): a few minutes")
    ap.add_argument("--scale", action="store_true",
                    help="issue 20's fleet from 1,000 to 10,000 printers (bench/scale.py) "
                         "instead of the earlier targets")
    ap.add_argument("--only", default=None,
                    help=f"comma-separated targets among {', '.join(TARGETS)}")
    args = ap.parse_args()
    chosen = ([name.strip() for name in args.only.split(",") if name.strip()] if args.only
              else ["scale"] if args.scale else EARLIER)
    unknown = set(chosen) - set(TARGETS)
    if unknown:
        ap.error(f"unknown targets: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    lines: list[Line] = []
    for name in chosen:
        print(f"\n== {name}", flush=True)
        lines += TARGETS[name](args.quick)
    title = (f"{'issue 20' if chosen == ['scale'] else 'fleet'} targets"
             f"{' (--quick)' if args.quick else ''}, {time.monotonic() - started:.0f} s")
    return 0 if print_lines(title, lines) else 1


if __name__ == "__main__":
    sys.exit(main())
