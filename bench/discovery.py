"""Benchmark: the SNMP sweep of a subnet, next to onesixtyone (a C SNMP sweeper) in the same run.

Starts a virtual fleet (default 200 printers spread over 127.0.64.0/22) as `printgw-sim`
processes, so that their CPU is not ours, then sweeps every host address of the CIDR with
`protocols.snmp.sweep` and prints: addresses, printers found, wall time, addresses/s, our CPU
per address, our peak RSS, and a /16 extrapolation.

Baseline: `onesixtyone -p PORT -w MS` over the same host list, port and community, paced at the
same packet rate (-w is the gap between packets in whole milliseconds).  It is not like for
like: onesixtyone sends one v1 GET of sysDescr per address, never retries, and waits a fixed
~5 s after the last packet; the sweep sends a GETNEXT of five columns, retries, and finishes
each address after its own timeouts.  Missing onesixtyone (Debian package `onesixtyone`) skips
the baseline with a message.

    python bench/discovery.py [--printers 200] [--cidr 127.0.64.0/22] [--timeout 1]
                              [--rate 1000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/simulator.py would shadow the `simulator` package that `python -m simulator` runs
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if p not in ("", str(Path(__file__).resolve().parent))]
sys.path.insert(0, str(ROOT))

from protocols.snmp.model import SnmpCredentials  # noqa: E402
from protocols.snmp.sweep import SweepProgress, sweep  # noqa: E402

MAX_FLEETS = 8


def fleet_layout(network: ipaddress.IPv4Network, printers: int) -> list[tuple[str, int]]:
    """(first address, count) per fleet: the printers in up to 8 runs spread over the network."""
    fleets = max(1, min(MAX_FLEETS, printers, network.num_addresses // 256))
    stride = network.num_addresses // fleets
    layout = []
    for k in range(fleets):
        count = printers // fleets + (k < printers % fleets)
        first = network.network_address + k * stride + 1
        layout.append((str(first), count))
    if max(count for _, count in layout) * 256 // 254 + 2 > stride:  # .0 and .255 are skipped
        raise SystemExit(f"{printers} printers do not fit in {network}")
    return layout


def start_fleets(layout: list[tuple[str, int]], port: int) -> list[subprocess.Popen[bytes]]:
    procs = []
    try:
        for first, count in layout:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "simulator", "--count", str(count), "--first-ip", first,
                 "--snmp-port", str(port), "--ipp-port", str(port + 1), "--control-port", "0",
                 "--no-ipp", "--mix", "color-mfp,mono-laser,inkjet,legacy-laser"],
                cwd=ROOT, stdout=subprocess.PIPE))
        for proc in procs:  # each prints one line once all its printers listen
            assert proc.stdout is not None
            if not proc.stdout.readline():
                raise SystemExit("printgw-sim did not start (port taken? try --port)")
    except BaseException:
        stop_fleets(procs)
        raise
    return procs


def stop_fleets(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(10)


def show_progress(state: SweepProgress) -> None:
    print(f"\r  swept {state.probed}/{state.total}, {state.answered} answered",
          end="" if state.probed < state.total else "\n", file=sys.stderr, flush=True)


def run_sweep(hosts: list[str], args: argparse.Namespace) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    rss_before = before.ru_maxrss / 1024
    wall = time.perf_counter()
    hits = asyncio.run(sweep(hosts, [SnmpCredentials(community=args.community)],
                             port=args.port, timeout=args.timeout, retries=args.retries,
                             rate=args.rate, window=args.window,
                             progress=show_progress if sys.stderr.isatty() else None))
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {"found": len(hits), "printers": sum(hit.is_printer for hit in hits), "wall": wall,
            "cpu": cpu, "rss": after.ru_maxrss / 1024, "rss_before": rss_before}


def run_onesixtyone(hosts: list[str], args: argparse.Namespace) -> dict[str, float] | None:
    exe = shutil.which("onesixtyone")
    if exe is None:
        print("baseline skipped: onesixtyone is not installed (apt-get install onesixtyone)")
        return None
    if len(hosts) > 65535:
        print("baseline skipped: onesixtyone takes at most 65,535 hosts")
        return None
    gap_ms = max(1, round(1000 / args.rate))
    with tempfile.TemporaryDirectory() as tmp:
        host_file, out_file = Path(tmp) / "hosts", Path(tmp) / "out"
        host_file.write_text("\n".join(hosts) + "\n")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        with out_file.open("w") as out:
            proc = subprocess.Popen([exe, "-i", str(host_file), "-p", str(args.port),
                                     "-w", str(gap_ms), args.community], stdout=out)
            rss = 0.0
            while proc.poll() is None:  # its own peak: ru_maxrss would count our pre-exec fork
                rss = max(rss, peak_rss_mb(proc.pid))
                time.sleep(0.05)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        text = out_file.read_text()
    found = {m.group(1) for m in re.finditer(r"^(\d+\.\d+\.\d+\.\d+) \[", text, re.MULTILINE)}
    return {"found": len(found), "wall": wall, "gap_ms": gap_ms, "rss": rss,
            "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime}


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a running process; 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else 0.0


def report(hosts: int, printers: int, ours: dict[str, float],
           theirs: dict[str, float] | None, args: argparse.Namespace) -> None:
    attempts = args.retries + 1
    print(f"sweep of {args.cidr}: {hosts} addresses, {printers} printers in the fleet; "
          f"timeout {args.timeout:g} s, retries {args.retries}, rate {args.rate:g}/s, "
          f"window {args.window}")
    print(f"{'':<26}{'found':>7}{'wall s':>9}{'addr/s':>9}{'CPU ms/addr':>13}{'peak RSS MB':>13}")
    print(f"{'printgw sweep':<26}{ours['found']:>7.0f}{ours['wall']:>9.2f}"
          f"{hosts / ours['wall']:>9.0f}{ours['cpu'] * 1000 / hosts:>13.3f}{ours['rss']:>13.0f}")
    print(f"  (printers among them: {ours['printers']:.0f}; RSS before the sweep "
          f"{ours['rss_before']:.0f} MB; our CPU {ours['cpu']:.2f} s = "
          f"{ours['cpu'] / ours['wall'] * 100:.0f} % of one core)")
    if theirs is not None:
        name = f"onesixtyone -w {theirs['gap_ms']:.0f}"
        print(f"{name:<26}{theirs['found']:>7.0f}{theirs['wall']:>9.2f}"
              f"{hosts / theirs['wall']:>9.0f}{theirs['cpu'] * 1000 / hosts:>13.3f}"
              f"{theirs['rss']:>13.0f}")
        print(f"ratio printgw / onesixtyone: wall {ours['wall'] / theirs['wall']:.2f}, "
              f"CPU {ours['cpu'] / max(theirs['cpu'], 1e-3):.1f}x "
              f"(onesixtyone CPU below the 1 ms clock tick counts as 1 ms)")
    n16 = 65536
    wall16 = max(n16 * attempts * args.timeout / args.window, n16 * attempts / args.rate)
    print(f"a /16 at these settings: ~{wall16:.0f} s wall if all silent "
          f"(max of addresses x attempts x timeout / window and packets / rate), "
          f"~{ours['cpu'] / hosts * n16:.1f} s CPU at this printer density")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--printers", type=int, default=200)
    ap.add_argument("--cidr", default="127.0.64.0/22", help="a loopback network to sweep")
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--rate", type=float, default=1000.0, help="packets per second")
    ap.add_argument("--window", type=int, default=512, help="addresses in flight")
    ap.add_argument("--port", type=int, default=16261, help="UDP port of the virtual agents")
    ap.add_argument("--community", default="public")
    ap.add_argument("--quick", action="store_true",
                    help="50 printers in 127.0.64.0/24, timeout 0.5 s: a few seconds")
    args = ap.parse_args()
    if args.quick:
        args.printers, args.cidr, args.timeout = 50, "127.0.64.0/24", 0.5
    network = ipaddress.IPv4Network(args.cidr)
    if not network.is_loopback:
        ap.error("--cidr must be inside 127.0.0.0/8: the virtual fleet lives on loopback")
    if args.printers < 1 or args.timeout <= 0 or args.rate <= 0 or args.window < 1:
        ap.error("--printers, --timeout, --rate and --window must be positive")
    hosts = [str(ip) for ip in network.hosts()]

    t0 = time.perf_counter()
    fleets = start_fleets(fleet_layout(network, args.printers), args.port)
    try:
        print(f"fleet of {args.printers} in {len(fleets)} printgw-sim processes started in "
              f"{time.perf_counter() - t0:.1f} s")
        ours = run_sweep(hosts, args)
        theirs = run_onesixtyone(hosts, args)
    finally:
        stop_fleets(fleets)
    report(len(hosts), args.printers, ours, theirs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
