"""Benchmark: one full poll of a recorded printer, our client next to net-snmp's CLI tools.

snmpsim serves one real printer's recording on loopback.  The same walks (the subtrees the
gateway reads) and GETs are done N times by:

- printgw: `read_printer` (pysnmp 7, one shared engine) and the mapping onto `DeviceStatus`;
- net-snmp: `snmpget` + one `snmpbulkwalk` per subtree, as command-line processes.

Printed: client CPU ms per full poll, polls/s (sequential, one at a time), and the ratio.
snmpsim itself costs far more CPU per poll than either client, so polls/s is bounded by the agent.

    python bench/poll.py [--recording sharp] [--polls 50]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.model import DeviceStatus
from gateway.snmp_mapping import apply_snmp
from protocols.snmp.client import SnmpClient, SnmpCredentials, SnmpTarget
from protocols.snmp.printer import (
    INTERFACE_SUBTREES,
    PRINTER_SUBTREES,
    SYSTEM_SCALARS,
    read_printer,
)
from tests.snmpsim_agent import SNMP_FIXTURES, snmpsim


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def bench_printgw(target: SnmpTarget, polls: int) -> tuple[float, float, int]:
    client = SnmpClient()
    try:
        await read_printer(client, target)  # warm: engine, transport, caches
        cpu, wall = time.process_time(), time.perf_counter()
        values = 0
        for _ in range(polls):
            reading = await read_printer(client, target)
            apply_snmp(DeviceStatus(host=target.host), reading)
            values = len(reading.values)
        return time.process_time() - cpu, time.perf_counter() - wall, values
    finally:
        client.close()


def bench_netsnmp(host: str, port: int, community: str, polls: int,
                  vendor_oids: list[str]) -> tuple[float, float, int]:
    base = ["-v2c", "-c", community, "-t", "2", "-r", "1", "-On", f"{host}:{port}"]
    commands = [["snmpget", *base, *SYSTEM_SCALARS]]
    commands += [["snmpbulkwalk", "-Cr25", *base, root]
                 for root in PRINTER_SUBTREES + INTERFACE_SUBTREES]
    if vendor_oids:
        commands.append(["snmpget", *base, *vendor_oids])
    cpu, wall = children_cpu(), time.perf_counter()
    lines = 0
    for _ in range(polls):
        lines = 0
        for command in commands:
            out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
            lines += sum(1 for line in out.splitlines() if line.startswith("."))
    return children_cpu() - cpu, time.perf_counter() - wall, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recording", default="sharp", help="recording name in shared/fixtures")
    parser.add_argument("--polls", type=int, default=50)
    args = parser.parse_args()

    recording = SNMP_FIXTURES / f"{args.recording}.snmprec"
    with tempfile.TemporaryDirectory() as workdir, snmpsim([recording], Path(workdir)) as (host,
                                                                                          port):
        target = SnmpTarget(host, port, SnmpCredentials(community=args.recording))
        ours_cpu, ours_wall, values = asyncio.run(bench_printgw(target, args.polls))
        reading_vendor = asyncio.run(_vendor_oids(target))
        theirs_cpu, theirs_wall, lines = bench_netsnmp(host, port, args.recording, args.polls,
                                                       reading_vendor)

    ours_ms = ours_cpu * 1000 / args.polls
    theirs_ms = theirs_cpu * 1000 / args.polls
    print(f"recording: {args.recording} ({values} values per poll by printgw, "
          f"{lines} by net-snmp), {args.polls} sequential polls, agent: snmpsim")
    print(f"{'client':<34}{'CPU ms/poll':>12}{'polls/s':>10}")
    print(f"{'printgw (pysnmp 7) read + mapping':<34}{ours_ms:>12.1f}"
          f"{args.polls / ours_wall:>10.1f}")
    print(f"{'net-snmp CLI (snmpget+snmpbulkwalk)':<34}{theirs_ms:>12.1f}"
          f"{args.polls / theirs_wall:>10.1f}")
    print(f"ratio printgw / net-snmp CPU: {ours_ms / theirs_ms:.2f}")
    return 0


async def _vendor_oids(target: SnmpTarget) -> list[str]:
    client = SnmpClient()
    try:
        return (await read_printer(client, target)).vendor.oids()
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
