"""Benchmark: `printgw run --once` over 10,000 static hosts (issue 20: <= 30 s, <= 3 ms gateway
CPU per printer, <= 150 MB peak RSS).

The fleet is `bench/scale.py`'s: colour MFPs (SNMP + IPP) in `printgw-sim` processes of
`--per-sim` printers (2,500: four for 10,000) on consecutive addresses of 127.60.0.0/14.  A config
lists every printer as a static host (no mDNS, no subnet, no cloud, no status page; discovery's
defaults otherwise, so the SNMP probe runs at `[discovery.sweep] rate` = 1,000 packets/s), and
the real command line runs `printgw run --once` with it, in a fresh data directory each run:
discovery (the SNMP probe and each printer's reading, which is its poll) and the cycle.  Printed
per run: wall time, the gateway process's CPU (user + sys) per printer and peak RSS (from wait4's
resource usage of the child), printers read (from its summary line) and recorded as answering
SNMP (from its inventory), each `printgw-sim`'s share of a core.

The data directory is a temporary directory: `TMPDIR=/dev/shm` puts it on tmpfs, as the figures
in bench/README.md were taken.  Each run is killed after `--limit` seconds.  `--profile FILE`
adds a run that py-spy records into FILE (raw collapsed stacks; it pauses the process for each
sample, so that run's figures are not counted) and prints its top frames.

    TMPDIR=/dev/shm python bench/run_once.py [--printers 10000] [--per-sim 2500] [--runs 1]
                                             [--profile FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/simulator.py would shadow the `simulator` package: the bench modules come as `bench.*`
sys.path[:] = [p for p in sys.path if p not in ("", str(Path(__file__).resolve().parent))]
sys.path.insert(0, str(ROOT))

from bench.gateway_poll import py_spy, top_frames  # noqa: E402
from bench.scale import PORT, fleet_plan, running_fleet  # noqa: E402
from bench.simulator import cpu_seconds  # noqa: E402
from gateway.fleet.inventory import Inventory  # noqa: E402
from gateway.store import Store  # noqa: E402
from simulator.fleet import addresses  # noqa: E402

PER_SIM = 2_500
GOALS = {"seconds": 30.0, "cpu_ms": 3.0, "peak_rss_mb": 150.0}
SUMMARY = re.compile(r"printgw: (\d+)/(\d+) devices read")


@dataclass(frozen=True)
class OnceRun:
    """One `printgw run --once`: its wall time, the gateway process's resource usage."""

    printers: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    read: int
    over_snmp: int
    """Devices recorded as answering SNMP: a probe answer lost (late) would leave one out."""
    sim_shares: tuple[float, ...]

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds * 1000 / self.printers


def once_config(ips: list[str], port: int, data_dir: Path) -> str:
    """The config file: every address a static host, SNMP on `port` and IPP on the next."""
    lines = ["[gateway]", f"data_dir = {json.dumps(str(data_dir))}",
             "[snmp]", f"port = {port}",
             "[ipp]", f"port = {port + 1}",
             "[status_page]", "enabled = false",
             "[discovery]", "mdns = false"]
    for ip in ips:
        lines += ["[[discovery.static]]", f"host = {json.dumps(ip)}"]
    return "\n".join(lines) + "\n"


def run_once(ips: list[str], port: int, sims: list[subprocess.Popen[bytes]], limit: float,
             profile: Path | None = None) -> OnceRun:
    """`printgw run --once` over `ips` in a fresh data directory, killed after `limit` s."""
    with tempfile.TemporaryDirectory(prefix="printgw-bench-once-") as tmp:
        config, data = Path(tmp) / "printgw.toml", Path(tmp) / "data"
        config.write_text(once_config(ips, port, data))
        data.mkdir(mode=0o700)
        before = [cpu_seconds(p.pid) for p in sims]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's code, whatever is installed
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
                contextlib.ExitStack() as spy:
            started = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.app.cli", "run", "--once", "--config",
                 str(config)], stdout=out, stderr=err, cwd=ROOT, env=env)
            if profile is not None:
                spy.enter_context(py_spy(proc.pid, profile))
            status, usage = _wait(proc, started + limit)
            seconds = time.monotonic() - started
            out.seek(0)
            err.seek(0)
            output, errors = out.read().decode(), err.read().decode()
        if not status:
            with Store.in_directory(data) as store:
                over_snmp = sum("snmp" in d.protocols for d in Inventory(store).devices())
    if status:
        raise SystemExit(f"printgw run --once failed ({status}):\n{errors[-3000:]}")
    summary = SUMMARY.search(output)
    if summary is None:
        raise SystemExit(f"no summary line in the output of printgw run --once:\n{output}")
    shares = tuple((cpu_seconds(p.pid) - b) / seconds for p, b in zip(sims, before, strict=True))
    return OnceRun(len(ips), seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                   int(summary.group(1)), over_snmp, shares)


def _wait(proc: subprocess.Popen[bytes], deadline: float) -> tuple[int, os.struct_rusage]:
    """The child's exit code and resource usage (wait4: its own, not its children's)."""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
            return proc.returncode, usage
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise SystemExit("printgw run --once did not finish in time")
        time.sleep(0.05)


def report(run: OnceRun) -> None:
    print(f"  {run.seconds:.1f} s, {run.cpu_ms:.2f} ms CPU per printer "
          f"({run.cpu_seconds:.1f} s), peak RSS {run.peak_rss_mb:.0f} MB, "
          f"{run.read}/{run.printers} read ({run.over_snmp} over SNMP); printgw-sim share "
          "of a core: "
          + " ".join(f"{s * 100:.0f}%" for s in run.sim_shares), flush=True)


def verdict(runs: list[OnceRun]) -> bool:
    """Prints the medians against the goals; True when all are met and every printer read."""
    medians = {"seconds": statistics.median(r.seconds for r in runs),
               "cpu_ms": statistics.median(r.cpu_ms for r in runs),
               "peak_rss_mb": statistics.median(r.peak_rss_mb for r in runs)}
    all_read = all(r.read == r.over_snmp == r.printers for r in runs)
    passed = all_read and all(medians[k] <= goal for k, goal in GOALS.items())
    print(f"median of {len(runs)}: {medians['seconds']:.1f} s (goal <= {GOALS['seconds']:g}), "
          f"{medians['cpu_ms']:.2f} ms CPU per printer (<= {GOALS['cpu_ms']:g}), "
          f"{medians['peak_rss_mb']:.0f} MB (<= {GOALS['peak_rss_mb']:g}), "
          f"{'all read' if all_read else 'NOT ALL READ'}: {'pass' if passed else 'MISSED'}")
    return passed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--printers", type=int, default=10_000)
    ap.add_argument("--per-sim", type=int, default=PER_SIM, help="printers per printgw-sim")
    ap.add_argument("--port", type=int, default=PORT, help="SNMP port; IPP on the next one")
    ap.add_argument("--runs", type=int, default=1, help="runs against the same fleet")
    ap.add_argument("--limit", type=float, default=300.0, help="seconds per run at most")
    ap.add_argument("--profile", type=Path, default=None, metavar="FILE",
                    help="one more run, recorded by py-spy into FILE (raw collapsed stacks)")
    args = ap.parse_args()
    if not 1 <= args.printers <= 20_000 or not 1 <= args.runs <= 10:
        ap.error("printers 1..20,000, runs 1..10")
    plan = fleet_plan(args.printers, args.per_sim)
    ips = [ip for spec in plan for ip in addresses(spec.first_ip, spec.count)]
    t0 = time.monotonic()
    with running_fleet(plan, args.port) as sims:
        print(f"{len(ips):,} printers in {len(plan)} printgw-sim processes, started in "
              f"{time.monotonic() - t0:.0f} s; data directory under {tempfile.gettempdir()}",
              flush=True)
        runs = []
        for _ in range(args.runs):
            runs.append(run_once(ips, args.port, sims, args.limit))
            report(runs[-1])
        if args.profile is not None:
            print("one more run, profiled (not counted):")
            report(run_once(ips, args.port, sims, args.limit, args.profile))
    if args.profile is not None and args.profile.exists():
        print(f"py-spy {args.profile}, top frames (self time):")
        for frame, share in top_frames(args.profile):
            print(f"  {share * 100:5.1f} %  {frame}")
    return 0 if verdict(runs) else 1


if __name__ == "__main__":
    sys.exit(main())
