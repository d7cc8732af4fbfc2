"""Benchmark: poll cycles of a gateway with N printers in its inventory, against the virtual fleet.

The fleet (`printgw-sim`: N colour MFPs, SNMP and IPP) is one process; the gateway is another, a
`gateway.app.daemon.Gateway` whose inventory holds the N printers as a discovery records them, and
which runs `cycle()` a few times: read every device over SNMP and IPP, map the readings, queue
what they cause (no cloud configured).  Each cycle starts with the other's readings gone, as in
the daemon.  Printed: seconds per cycle (the first one opens a socket per printer), the gateway's
and the fleet's CPU per device, and the gateway process's peak RSS (VmHWM) next to its RSS
before the first cycle (interpreter, imports, inventory).

Baseline: the same gateway with pysnmp as the SNMP client (`SnmpClient(fast=False)`, the path
before issue 8).  `--snmp-only` reads no IPP (`[ipp] enabled = false`, as a gateway
of SNMP-only printers).  `gateway_process` runs the gateway against fleets started elsewhere
(`bench/scale.py`: several `printgw-sim` processes) and samples its open file descriptors.

    python bench/gateway_poll.py [--printers 1000] [--cycles 3] [--baseline] [--snmp-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/simulator.py would shadow the `simulator` package
sys.path[:] = [p for p in sys.path if p not in ("", str(Path(__file__).resolve().parent))]
sys.path.insert(0, str(ROOT))


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _gateway_cycles(addresses: list[str], snmp_port: int, cycles: int,
                          backend: str, snmp_only: bool = False) -> dict[str, object]:
    """In the gateway's process: the inventory, then `cycles` poll cycles."""
    from gateway.app.daemon import Gateway
    from gateway.app.gc_tuning import tune_for_polling
    from gateway.device.reader import DeviceReader
    from gateway.fleet.inventory import Sighting
    from gateway.settings.schema import Config
    from protocols.snmp.client import SnmpClient

    tune_for_polling()  # as `printgw run` does
    with tempfile.TemporaryDirectory(prefix="printgw-bench-gateway-") as tmp:
        config = Config.model_validate({
            "gateway": {"data_dir": tmp}, "snmp": {"port": snmp_port},
            "ipp": {"port": snmp_port + 1, "enabled": not snmp_only},  # off: SNMP alone
            "discovery": {"mdns": False},
            "status_page": {"enabled": False}})
        async with Gateway(config) as gateway:
            if backend == "pysnmp":
                gateway.reader = gateway.poller.reader = DeviceReader(SnmpClient(fast=False))
            for ip in addresses:
                gateway.inventory.record(Sighting(
                    address=ip, sources=frozenset({"snmp-sweep"}),
                    protocols=frozenset({"snmp", "ipp"}), snmp_port=snmp_port, snmp_version=2,
                    ipp_uri=f"ipp://{ip}:{snmp_port + 1}/ipp/print"))
            result: dict[str, object] = {"rss_before_mb": _status_mb("VmRSS")}
            runs = []
            for _ in range(cycles):
                cpu = time.process_time()
                report = await gateway.cycle(deliver=False)
                runs.append({"seconds": report.seconds, "read": report.read,
                             "unreachable": len(report.unreachable),
                             "cpu": time.process_time() - cpu})
            result["cycles"] = runs
            result["peak_rss_mb"] = _status_mb("VmHWM")
            result["pysnmp_loaded"] = gateway.reader.snmp.pysnmp_loaded
    return result


def open_fds(pid: int) -> int:
    """Open file descriptors of process `pid` now (0 once it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def gateway_process(ips: list[str], port: int, cycles: int, backend: str = "gufo",
                    snmp_only: bool = False, limit: float = 3600.0,
                    profile: Path | None = None) -> dict:
    """The gateway's process (`_gateway_cycles`) against a fleet already answering at `ips`
    (SNMP on `port`, IPP on the next); its figures, and `peak_fds`: its open file descriptors
    sampled every 0.2 s from here (the sampling costs the gateway no CPU).  Killed after
    `limit` seconds.  `profile`: py-spy records the process there (collapsed stacks)."""
    command = [sys.executable, __file__, "--child", backend, "--port", str(port),
               "--cycles", str(cycles), *(["--snmp-only"] if snmp_only else [])]
    with tempfile.TemporaryFile() as err, contextlib.ExitStack() as spy:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err, cwd=ROOT)
        assert proc.stdin is not None and proc.stdout is not None
        if profile is not None:
            spy.enter_context(py_spy(proc.pid, profile))
        proc.stdin.write(json.dumps(ips).encode())
        proc.stdin.close()
        peak, end = 0, time.monotonic() + limit
        while proc.poll() is None:  # the child prints its figures only when it is done
            if time.monotonic() > end:
                proc.kill()
                proc.wait()
                raise SystemExit(f"the gateway did not finish within {limit:.0f} s")
            peak = max(peak, open_fds(proc.pid))
            time.sleep(0.2)
        out = proc.stdout.read()
        proc.stdout.close()
        if proc.returncode:
            err.seek(0)
            raise SystemExit(f"the gateway failed:\n{err.read().decode()[-3000:]}")
    return {**json.loads(out), "peak_fds": peak}


@contextlib.contextmanager
def py_spy(pid: int, out: Path) -> Iterator[None]:
    """py-spy (installed in the virtualenv) recording process `pid` into `out` until it ends."""
    exe = Path(sys.executable).with_name("py-spy")
    spy = subprocess.Popen([str(exe), "record", "--pid", str(pid), "--rate", "50", "--format",
                            "raw", "--output", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        try:
            spy.wait(30)  # it stops and writes when the process ends
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def top_frames(profile: Path, count: int = 12) -> list[tuple[str, float]]:
    """The functions most often on top of the stack in a py-spy raw profile, all their lines
    together: (function (file), share of the samples)."""
    totals: dict[str, int] = {}
    for line in profile.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if stack and samples.isdigit():
            leaf = re.sub(r":\d+\)$", ")", stack.rsplit(";", 1)[-1])
            totals[leaf] = totals.get(leaf, 0) + int(samples)
    whole = sum(totals.values()) or 1
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:count]
    return [(frame, samples / whole) for frame, samples in ranked]


def summarise(child: dict, printers: int) -> dict[str, float]:
    """`first` and `seconds` (median of the later cycles) in s, `gateway_cpu_ms` per device and
    cycle (later cycles), `peak_rss_mb`, `rss_before_mb`, `read` (last cycle), `peak_fds`."""
    runs = child["cycles"]
    later = runs[1:] or runs
    return {"first": runs[0]["seconds"],
            "seconds": statistics.median(r["seconds"] for r in later),
            "gateway_cpu_ms": statistics.median(r["cpu"] for r in later) * 1000 / printers,
            "peak_rss_mb": child["peak_rss_mb"], "rss_before_mb": child["rss_before_mb"],
            "read": runs[-1]["read"], "pysnmp_loaded": child["pysnmp_loaded"],
            "peak_fds": child["peak_fds"], "all_seconds": sum(r["seconds"] for r in runs)}


def run(printers: int, first_ip: str, port: int, cycles: int,
        backends: tuple[str, ...] = ("gufo",), snmp_only: bool = False
        ) -> dict[str, dict[str, float]]:
    """Start the fleet, run a gateway per backend against it; returns per backend the figures of
    `summarise` and `fleet_cpu_ms` (the fleet's CPU per device and cycle)."""
    from bench.simulator import cpu_seconds, fleet_process
    from simulator.fleet import addresses

    ips = addresses(first_ip, printers)
    results = {}
    with fleet_process(printers, first_ip, port, "color-mfp") as fleet:
        for backend in backends:
            fleet_cpu = cpu_seconds(fleet.pid)
            child = gateway_process(ips, port, cycles, backend, snmp_only)
            results[backend] = {
                **summarise(child, printers),
                "fleet_cpu_ms": (cpu_seconds(fleet.pid) - fleet_cpu) * 1000 / printers / cycles}
    return results


def report(printers: int, results: dict[str, dict[str, float]]) -> None:
    print(f"{printers} colour MFPs (SNMP + IPP), gateway and fleet in two processes")
    print(f"{'SNMP client':<14}{'cycle s':>9}{'first s':>9}{'read':>6}{'gw CPU ms/dev':>15}"
          f"{'fleet CPU ms/dev':>18}{'peak RSS MB':>13}{'RSS before':>12}{'fds':>7}")
    for backend, r in results.items():
        print(f"{backend:<14}{r['seconds']:>9.2f}{r['first']:>9.2f}{r['read']:>6.0f}"
              f"{r['gateway_cpu_ms']:>15.2f}{r['fleet_cpu_ms']:>18.2f}{r['peak_rss_mb']:>13.0f}"
              f"{r['rss_before_mb']:>12.0f}{r['peak_fds']:>7.0f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--printers", type=int, default=1000)
    ap.add_argument("--first-ip", default="127.2.0.1")
    ap.add_argument("--port", type=int, default=16300, help="SNMP port; IPP on the next one")
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--baseline", action="store_true", help="also with pysnmp (slow)")
    ap.add_argument("--snmp-only", action="store_true", help="read no IPP")
    ap.add_argument("--child", choices=("gufo", "pysnmp"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:  # the gateway's process: addresses on stdin, figures on stdout
        addresses = json.loads(sys.stdin.read())
        print(json.dumps(asyncio.run(_gateway_cycles(addresses, args.port, args.cycles,
                                                     args.child, args.snmp_only))))
        return 0
    backends = ("gufo", "pysnmp") if args.baseline else ("gufo",)
    report(args.printers, run(args.printers, args.first_ip, args.port, args.cycles, backends,
                              args.snmp_only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
