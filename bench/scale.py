"""Benchmark: the same gateway and virtual fleet at 1,000, 3,000, 5,000 and 10,000 colour MFPs.

Issue 20's targets, one line each with the baseline of the same run (`bench/lines.py`):

- 10,000 colour MFPs, SNMP + IPP: a cycle in <= 20 s, <= 1.5 ms gateway CPU per printer, peak
  RSS <= 120 MB, open file descriptors independent of N; cost per printer flat from the smallest
  to the largest N (within 15 %).  A `--quick` run (1,000 and 3,000) checks the cycle against
  the goal scaled to its largest N (20 s x N / 10,000) and the others as they are;
- the gateway's CPU per printer reading SNMP only (no IPP), at the smallest N, at most half of
  Prometheus snmp_exporter's scraping the same fleet with a module of the same Printer-MIB,
  HOST-RESOURCES-MIB and IF-MIB objects (`bench/snmp_exporter_printer.yml`), one scrape per
  printer per cycle, 32 at a time (the gateway's poll concurrency); its CPU read from
  /proc/PID/stat;
- the SNMP client's CPU per full poll of the Sharp recording served by net-snmp's snmpd at most
  2x that of gufo_snmp used synchronously (`bench/poll.py`), with easysnmp beside it.

The fleet is several `printgw-sim` processes of at most `--per-sim` printers (500: a process
must stay under 60 % of a core while the gateway reads it; each one's share of a core over the
cycles is printed, and the line fails above 60 %), on 127.60.0.0/14 (loopback: Linux answers on
all of 127/8 without configuration), SNMP and IPP on one port pair for all.  The gateway runs in
its own process as `bench/gateway_poll.py` runs it (inventory as a discovery records it, then
`--cycles` full cycles; the first one is reported apart, the others' median is the figure); its
file descriptors are sampled from outside, its RSS is its own VmHWM; "RSS per printer" is
(peak - RSS before the first cycle) / N.

Needs the `bench` extra (`pip install -e .[bench]`, for easysnmp and gufo_snmp) and the Debian
packages `snmpd` and `prometheus-snmp-exporter` (both only for benchmarks).  Every load is
bounded: each gateway process is stopped after `gateway_limit` seconds, each scrape after 30 s.
Runs alone or from `bench/fleet.py --scale`.

`--profile DIR` has py-spy record each gateway process (DIR/gateway-N.txt, collapsed stacks for
flame graphs; it pauses the process for each sample, so profile apart from the figures) and
prints its top frames.  The gateway's data directory is a temporary directory: `TMPDIR=/dev/shm`
puts it on tmpfs, where a commit's fsync costs neither CPU nor waiting.

    python bench/scale.py [--quick] [--sizes 1000,3000,5000,10000] [--cycles 3] [--per-sim 500]
                          [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/simulator.py would shadow the `simulator` package: the bench modules come as `bench.*`
sys.path[:] = [p for p in sys.path if p not in ("", str(Path(__file__).resolve().parent))]
sys.path.insert(0, str(ROOT))

from bench import gateway_poll, poll  # noqa: E402
from bench.lines import Line, print_lines  # noqa: E402
from bench.simulator import cpu_seconds, fleet_process  # noqa: E402
from protocols.hosts import free_port  # noqa: E402
from protocols.snmp.model import SnmpCredentials, SnmpTarget  # noqa: E402
from simulator.fleet import addresses  # noqa: E402
from tests.support.paths import SNMP_FIXTURES  # noqa: E402

SIZES = (1_000, 3_000, 5_000, 10_000)
QUICK_SIZES = (1_000, 3_000)
PER_SIM = 500
FLEET_NET = ipaddress.IPv4Network("127.60.0.0/14")
FIRST_IP = "127.60.0.1"
SNMPD_HOST = "127.63.255.1"
"""The client baseline's snmpd: in the bench's range, far above any fleet."""
PORT = 16600
EXPORTER_MODULE = Path(__file__).resolve().parent / "snmp_exporter_printer.yml"
SCRAPE_CONCURRENCY = 32
MAX_SIM_SHARE = 0.60


@dataclass(frozen=True)
class SimSpec:
    """One `printgw-sim` process of the fleet: `count` printers from `first_ip`."""

    first_ip: str
    count: int


def fleet_plan(printers: int, per_sim: int = PER_SIM, first_ip: str = FIRST_IP
               ) -> list[SimSpec]:
    """The fleet split into as few processes of at most `per_sim` printers as it takes, of equal
    size (within one), on consecutive addresses of 127.60.0.0/14."""
    if printers < 1 or per_sim < 1:
        raise ValueError("printers and per_sim must be at least 1")
    ips = addresses(first_ip, printers)
    if ipaddress.IPv4Address(ips[-1]) not in FLEET_NET:
        raise ValueError(f"{printers} printers from {first_ip} leave {FLEET_NET}")
    sims = math.ceil(printers / per_sim)
    plan, start = [], 0
    for k in range(sims):
        count = printers // sims + (k < printers % sims)
        plan.append(SimSpec(ips[start], count))
        start += count
    return plan


@contextlib.contextmanager
def running_fleet(plan: list[SimSpec], port: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The plan's `printgw-sim` processes (colour MFPs, SNMP and IPP), once all answer."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(fleet_process(spec.count, spec.first_ip, port, "color-mfp"))
               for spec in plan]


@dataclass
class SizeResult:
    """The gateway's figures at one fleet size (see `gateway_poll.summarise`)."""

    printers: int
    gateway: dict[str, float]
    sim_shares: list[float] = field(default_factory=list)
    """Each `printgw-sim` process's CPU over the cycles' wall time (1.0 = one core)."""

    @property
    def rss_per_printer_kb(self) -> float:
        g = self.gateway
        return (g["peak_rss_mb"] - g["rss_before_mb"]) * 1024 / self.printers


def gateway_limit(printers: int, cycles: int) -> float:
    """Seconds a gateway process may run: start-up, and 50 ms per printer and cycle."""
    return 120 + 0.05 * printers * cycles


def measure_gateway(plan: list[SimSpec], procs: list[subprocess.Popen[bytes]], port: int,
                    cycles: int, snmp_only: bool = False,
                    profile_dir: Path | None = None) -> SizeResult:
    """The gateway against the running fleet; with `profile_dir`, py-spy records it there and
    its top frames are printed."""
    ips = [ip for spec in plan for ip in addresses(spec.first_ip, spec.count)]
    profile = (profile_dir / f"gateway-{len(ips)}{'-snmp-only' if snmp_only else ''}.txt"
               if profile_dir else None)
    before = [cpu_seconds(p.pid) for p in procs]
    child = gateway_poll.gateway_process(ips, port, cycles, snmp_only=snmp_only,
                                         limit=gateway_limit(len(ips), cycles), profile=profile)
    if profile is not None and profile.exists():
        print(f"  py-spy {profile}, top frames (self time):")
        for frame, share in gateway_poll.top_frames(profile):
            print(f"  {share * 100:5.1f} %  {frame}")
    figures = gateway_poll.summarise(child, len(ips))
    wall = max(figures["all_seconds"], 1e-9)
    shares = [(cpu_seconds(p.pid) - b) / wall for p, b in zip(procs, before, strict=True)]
    return SizeResult(len(ips), figures, shares)


def report_size(label: str, r: SizeResult) -> None:
    g = r.gateway
    print(f"{label}: {r.printers} printers, {len(r.sim_shares)} printgw-sim processes")
    print(f"  cycle {g['seconds']:.2f} s (first {g['first']:.2f} s), read {g['read']:.0f}; "
          f"gateway {g['gateway_cpu_ms']:.2f} ms CPU per printer; peak RSS "
          f"{g['peak_rss_mb']:.0f} MB ({g['rss_before_mb']:.0f} before, "
          f"{r.rss_per_printer_kb:.1f} KB per printer); {g['peak_fds']:.0f} fds at peak")
    print("  printgw-sim CPU share of a core: "
          + " ".join(f"{s * 100:.0f}%" for s in r.sim_shares), flush=True)


# -- snmp_exporter --------------------------------------------------------------------------------

@contextlib.contextmanager
def snmp_exporter() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Prometheus snmp_exporter with the printer module on loopback: (process, base URL)."""
    exe = shutil.which("prometheus-snmp-exporter")
    if exe is None:
        raise SystemExit("prometheus-snmp-exporter is missing: apt-get install "
                         "prometheus-snmp-exporter")
    port = free_port("127.0.0.1")
    proc = subprocess.Popen([exe, f"--config.file={EXPORTER_MODULE}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(_wait_http(url + "/metrics", proc))
        yield proc, url
    finally:
        proc.terminate()
        proc.wait(10)


async def _wait_http(url: str, proc: subprocess.Popen[bytes], limit: float = 30.0) -> None:
    import aiohttp

    end = time.monotonic() + limit
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise SystemExit(f"snmp_exporter exited with {proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise SystemExit(f"snmp_exporter did not answer within {limit} s")


async def scrape_cycle(url: str, targets: list[str], concurrency: int) -> tuple[int, float]:
    """One scrape per target, `concurrency` at a time: (failed scrapes, seconds)."""
    import aiohttp

    failed = 0
    queue = iter(targets)
    timeout = aiohttp.ClientTimeout(total=30)

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal failed
        for target in queue:
            try:
                async with http.get(f"{url}/snmp", params={
                        "module": "printer_mib", "target": target}) as r:
                    body = await r.text()
                    failed += r.status != 200 or "prtMarkerSuppliesLevel{" not in body
            except (aiohttp.ClientError, TimeoutError):
                failed += 1

    t0 = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return failed, time.perf_counter() - t0


def measure_exporter(ips: list[str], port: int, cycles: int) -> dict[str, float]:
    """snmp_exporter scraping every printer once per cycle; the first cycle warms it up, the
    others are measured: `cpu_ms` per printer, `seconds` per cycle, `failed` scrapes."""
    targets = [f"{ip}:{port}" for ip in ips]
    with snmp_exporter() as (proc, url):
        asyncio.run(scrape_cycle(url, targets, SCRAPE_CONCURRENCY))
        cpu0, failed, walls = cpu_seconds(proc.pid), 0, []
        measured = max(1, cycles - 1)
        for _ in range(measured):
            bad, wall = asyncio.run(scrape_cycle(url, targets, SCRAPE_CONCURRENCY))
            failed += bad
            walls.append(wall)
        cpu = cpu_seconds(proc.pid) - cpu0
    return {"cpu_ms": cpu * 1000 / len(ips) / measured, "seconds": statistics.median(walls),
            "failed": failed}


# -- the SNMP client on one full poll ---------------------------------------------------------

def client_baselines(polls: int, rounds: int) -> dict[str, poll.Figure]:
    """One full poll of the Sharp recording (snmpd) by printgw's client, easysnmp and gufo_snmp
    used synchronously, the same objects each (`bench/poll.py`)."""
    with tempfile.TemporaryDirectory() as tmp, \
            poll.snmpd(SNMP_FIXTURES / "sharp.snmprec", Path(tmp), SNMPD_HOST) as (host, port):
        target = SnmpTarget(host, port, SnmpCredentials(community="public"))
        plan = poll.poll_plan(target)
        return {
            "printgw": poll.bench_printgw(target, polls, rounds),
            "easysnmp": poll.bench_easysnmp(host, port, "public", plan, polls, rounds),
            "gufo sync": poll.bench_gufo_sync(host, port, "public", plan, polls, rounds)}


# -- the targets ------------------------------------------------------------------------------

def size_lines(sizes: list[SizeResult]) -> list[Line]:
    small, large = sizes[0], sizes[-1]
    g, n = large.gateway, large.printers
    cycle_goal = 20.0 * n / 10_000
    lines = [
        Line(f"cycle, {n:,} printers (SNMP+IPP)",
             f"{g['seconds']:.1f} s (first {g['first']:.1f}), {g['read']:.0f} read", "", math.nan,
             f"<= {cycle_goal:g} s, all read",
             g["seconds"] <= cycle_goal and g["read"] == n),
        Line(f"gateway CPU per printer, {n:,}", f"{g['gateway_cpu_ms']:.2f} ms", "", math.nan,
             "<= 1.5 ms", g["gateway_cpu_ms"] <= 1.5),
        Line(f"gateway peak RSS, {n:,}",
             f"{g['peak_rss_mb']:.0f} MB ({large.rss_per_printer_kb:.1f} KB/printer)", "",
             math.nan, "<= 120 MB", g["peak_rss_mb"] <= 120),
    ]
    if len(sizes) > 1:
        fds_small, fds_large = small.gateway["peak_fds"], g["peak_fds"]
        cost = g["gateway_cpu_ms"] / small.gateway["gateway_cpu_ms"]
        lines += [
            Line(f"gateway fds, {small.printers:,} -> {n:,}", f"{fds_large:.0f}",
                 f"{fds_small:.0f} at {small.printers:,}", fds_large / max(1, fds_small),
                 "independent of N", fds_large <= 1.2 * fds_small + 16),
            Line(f"CPU per printer, {small.printers:,} -> {n:,}",
                 f"{g['gateway_cpu_ms']:.2f} ms", f"{small.gateway['gateway_cpu_ms']:.2f} ms",
                 cost, "flat within 15 %", cost <= 1.15),
        ]
    share = max(s for r in sizes for s in r.sim_shares)
    lines.append(Line("printgw-sim CPU share, busiest", f"{share * 100:.0f} % of a core", "",
                      math.nan, f"<= {MAX_SIM_SHARE * 100:.0f} %", share <= MAX_SIM_SHARE))
    return lines


def exporter_line(snmp_only: SizeResult, exporter: dict[str, float]) -> Line:
    ours, theirs = snmp_only.gateway["gateway_cpu_ms"], exporter["cpu_ms"]
    return Line(f"SNMP-only CPU/printer, {snmp_only.printers:,}", f"{ours:.2f} ms",
                f"snmp_exporter {theirs:.2f} ms ({exporter['failed']:.0f} failed)",
                ours / theirs, "<= 0.5x snmp_exporter",
                ours <= 0.5 * theirs and not exporter["failed"])


def client_line(figures: dict[str, poll.Figure]) -> Line:
    ours, easy, sync = figures["printgw"], figures["easysnmp"], figures["gufo sync"]
    return Line("client CPU / full SNMP poll", f"{ours.cpu_ms:.2f} ms",
                f"gufo sync {sync.cpu_ms:.2f}; easysnmp {easy.cpu_ms:.2f}",
                ours.cpu_ms / sync.cpu_ms, "<= 2x gufo sync", ours.cpu_ms <= 2 * sync.cpu_ms)


def run(sizes: tuple[int, ...], cycles: int = 3, per_sim: int = PER_SIM, port: int = PORT,
        polls: int = 200, rounds: int = 5, profile_dir: Path | None = None) -> list[Line]:
    """Every size (SNMP + IPP), then at the smallest the gateway SNMP only and snmp_exporter on
    the same fleet, then the client baselines; prints as it goes and returns the lines."""
    results: list[SizeResult] = []
    snmp_only, exporter = None, None
    for printers in sorted(sizes):
        plan = fleet_plan(printers, per_sim)
        t0 = time.monotonic()
        with running_fleet(plan, port) as procs:
            print(f"\n{printers:,} printers in {len(plan)} printgw-sim processes, started in "
                  f"{time.monotonic() - t0:.0f} s", flush=True)
            results.append(measure_gateway(plan, procs, port, cycles,
                                           profile_dir=profile_dir))
            report_size("SNMP + IPP", results[-1])
            if snmp_only is None:
                snmp_only = measure_gateway(plan, procs, port, cycles, True, profile_dir)
                report_size("SNMP only", snmp_only)
                ips = [ip for spec in plan for ip in addresses(spec.first_ip, spec.count)]
                exporter = measure_exporter(ips, port, cycles)
                print(f"snmp_exporter: {exporter['cpu_ms']:.2f} ms CPU per printer, "
                      f"{exporter['seconds']:.2f} s per cycle, {exporter['failed']:.0f} failed",
                      flush=True)
    assert snmp_only is not None and exporter is not None
    figures = client_baselines(polls, rounds)
    print("client CPU per full poll: " + ", ".join(
        f"{name} {f.cpu_ms:.2f} ms" for name, f in figures.items()))
    return [*size_lines(results), exporter_line(snmp_only, exporter), client_line(figures)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 and 3,000 printers, 2 cycles")
    ap.add_argument("--sizes", default=None, help="comma-separated fleet sizes")
    ap.add_argument("--cycles", type=int, default=None, help="cycles per gateway (3; quick 2)")
    ap.add_argument("--per-sim", type=int, default=PER_SIM, help="printers per printgw-sim")
    ap.add_argument("--port", type=int, default=PORT, help="SNMP port; IPP on the next one")
    ap.add_argument("--profile", type=Path, default=None, metavar="DIR",
                    help="py-spy records each gateway process into DIR (collapsed stacks)")
    args = ap.parse_args()
    sizes = (tuple(int(s) for s in args.sizes.split(",")) if args.sizes
             else QUICK_SIZES if args.quick else SIZES)
    cycles = args.cycles or (2 if args.quick else 3)
    if not all(1 <= s <= 20_000 for s in sizes) or not 2 <= cycles <= 10:
        ap.error("sizes 1..20,000, cycles 2..10")
    started = time.monotonic()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    lines = run(sizes, cycles, args.per_sim, args.port, polls=50 if args.quick else 200,
                profile_dir=args.profile)
    title = (f"issue 20 targets{' (--quick)' if args.quick else ''}, "
             f"{time.monotonic() - started:.0f} s")
    return 0 if print_lines(title, lines) else 1


if __name__ == "__main__":
    sys.exit(main())
