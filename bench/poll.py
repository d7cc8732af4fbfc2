"""Benchmark: client CPU for one full poll of a recorded printer, our client next to C baselines.

One printer's recording is served on loopback, by default by net-snmp's `snmpd` (Debian package
`snmpd`) from a generated configuration of `override` directives, one per recorded object:
snmpd spends ~0.7 ms CPU per poll where snmpsim spends ~19 ms, so it does not get in the
clients' way.  `override` knows no IpAddress, TimeTicks or Counter64: IpAddress values are served
as their 4 octets, TimeTicks as Gauge32 (same number), Counter64 objects are left out.
`--agent snmpsim` serves the recording with snmpsim instead, types exact.

The same objects (the system scalars, every subtree `read_printer` walks for the recording's
vendor, the vendor objects: `printer.reading_plan`) are read N times, sequentially, by:

- printgw: `read_printer` on the fast path (the gateway's: shared socket, own codec, several
  subtrees per GETBULK), without and with the mapping onto `DeviceStatus`, and on pysnmp 7 only
  (`SnmpClient(fast=False)`, the path before issue 8);
- gufo_snmp used synchronously: its blocking `SnmpSession` (`get_many`, one `getbulk` walk per
  subtree, max-repetitions 25): its Rust codec and socket with no event loop, the floor of a
  Python client;
- easysnmp: the C net-snmp binding (pip package `easysnmp`, built against Debian `libsnmp-dev`),
  one `bulkwalk` per subtree, max-repetitions 25;
- net-snmp's CLI tools: `snmpget` + one `snmpbulkwalk` per subtree, as processes.

Printed: client CPU ms per poll (median of the rounds) and polls/s, the ratios to gufo_snmp used
synchronously and to easysnmp, and the values each read (the baselines count absent objects).

    python bench/poll.py [--recording sharp] [--agent snmpd|snmpsim] [--polls 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.device.model import DeviceStatus
from gateway.device.snmp_mapping import apply_snmp
from protocols.hosts import free_port
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import SnmpCredentials, SnmpError, SnmpTarget
from protocols.snmp.printer import SYSTEM_SCALARS, read_printer, reading_plan
from tests.support.paths import SNMP_FIXTURES
from tests.support.snmpsim_agent import snmpsim

OVERRIDE_TYPES = {"2": "integer", "6": "object_id", "65": "counter", "66": "uinteger",
                  "67": "uinteger"}
"""snmprec type tag → snmpd `override` type, for the tags that are not octets."""


@dataclass(frozen=True)
class Plan:
    """What one poll reads: instance OIDs fetched (the system scalars first) and subtrees."""

    scalars: list[str]
    subtrees: tuple[str, ...]


@dataclass
class Figure:
    """One client's cost: CPU ms per poll (median of rounds), polls/s, values per poll."""

    cpu_ms: float
    polls_per_s: float
    values: int


def override_config(recording: Path) -> tuple[list[str], int]:
    """snmpd `override` lines serving a recording, and how many objects had to be left out."""
    lines, skipped = [], 0
    for line in recording.read_text().splitlines():
        oid, tag, value = line.split("|", 2)
        if tag in ("4", "4x", "64"):
            raw = (bytes.fromhex(value) if tag == "4x" else value.encode() if tag == "4"
                   else ipaddress.IPv4Address(value).packed)
            lines.append(f"override .{oid} octet_str " + (f"0x{raw.hex()}" if raw else '""'))
        elif tag in OVERRIDE_TYPES:
            lines.append(f"override .{oid} {OVERRIDE_TYPES[tag]} {value}")
        else:
            skipped += 1
    return lines, skipped


@contextlib.contextmanager
def snmpd(recording: Path, workdir: Path, host: str = "127.0.0.1",
          community: str = "public") -> Iterator[tuple[str, int]]:
    """net-snmp's snmpd serving `recording` (only the `override` module: no MIB of its own but
    what the SNMP engine needs); yields (host, port) once it answers."""
    exe = shutil.which("snmpd") or "/usr/sbin/snmpd"
    if not Path(exe).exists():
        raise SystemExit("snmpd is missing: apt-get install snmpd (or use --agent snmpsim)")
    port = free_port(host, tcp=False, udp=True)
    lines, _ = override_config(recording)
    config = workdir / "snmpd.conf"
    config.write_text(f"agentAddress udp:{host}:{port}\nrocommunity {community} 127.0.0.0/8\n"
                      + "\n".join(lines) + "\n")
    env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(workdir)}
    with (workdir / "snmpd.log").open("w") as log:
        proc = subprocess.Popen([exe, "-f", "-Lo", "-C", "-c", str(config), "-I",
                                 "override,vacm_conf,vacm_vars"], stdout=log, stderr=log, env=env)
    try:
        asyncio.run(_wait_for_agent(SnmpTarget(host, port, SnmpCredentials(community=community),
                                               timeout=0.5, retries=0), proc))
        yield host, port
    finally:
        proc.terminate()
        proc.wait(10)


async def _wait_for_agent(target: SnmpTarget, proc: subprocess.Popen[bytes]) -> None:
    async with SnmpClient() as client:
        for _ in range(60):
            if proc.poll() is not None:
                raise SystemExit(f"snmpd exited with {proc.returncode}")
            with contextlib.suppress(SnmpError):
                await client.get(target, SYSTEM_SCALARS[:1])
                return
    raise SystemExit("snmpd did not answer within 30 s")


def _figure(costs: list[float], rates: list[float], values: int) -> Figure:
    return Figure(statistics.median(costs), statistics.median(rates), values)


def _rounds(poll: Callable[[], int], polls: int, rounds: int,
            clock: Callable[[], float] = time.process_time) -> Figure:
    poll()  # warm: sockets, caches
    costs, rates, values = [], [], 0
    for _ in range(rounds):
        cpu, wall = clock(), time.perf_counter()
        for _ in range(polls):
            values = poll()
        costs.append((clock() - cpu) * 1000 / polls)
        rates.append(polls / (time.perf_counter() - wall))
    return _figure(costs, rates, values)


def bench_printgw(target: SnmpTarget, polls: int, rounds: int, fast: bool = True,
                  mapping: bool = False) -> Figure:
    """`read_printer` (and the mapping), sequentially, in one event loop."""

    async def run() -> Figure:
        client = SnmpClient(fast=fast)

        async def once() -> int:
            reading = await read_printer(client, target)
            if mapping:
                apply_snmp(DeviceStatus(host=target.host), reading)
            return len(reading.values)

        try:
            await once()  # warm: sockets, caches
            costs, rates, values = [], [], 0
            for _ in range(rounds):
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(polls):
                    values = await once()
                costs.append((time.process_time() - cpu) * 1000 / polls)
                rates.append(polls / (time.perf_counter() - wall))
            return _figure(costs, rates, values)
        finally:
            await client.aclose()

    return asyncio.run(run())


def poll_plan(target: SnmpTarget) -> Plan:
    """The objects `read_printer` reads from the target (its vendor's)."""
    async def read() -> Plan:
        async with SnmpClient() as client:
            vendor = (await read_printer(client, target)).vendor
        subtrees, scalars = reading_plan(vendor)
        return Plan(list(scalars), subtrees)
    return asyncio.run(read())


def bench_gufo_sync(host: str, port: int, community: str, plan: Plan, polls: int,
                    rounds: int) -> Figure:
    """The same requests through gufo_snmp's blocking session: no event loop, no checks."""
    from gufo.snmp.sync import SnmpSession

    system, vendor = plan.scalars[:len(SYSTEM_SCALARS)], plan.scalars[len(SYSTEM_SCALARS):]
    session = SnmpSession(host, port, community=community, timeout=2.0, max_repetitions=25)

    def once() -> int:
        values = len(session.get_many(system))
        for root in plan.subtrees:
            values += sum(1 for _ in session.getbulk(root, max_repetitions=25))
        if vendor:
            values += len(session.get_many(vendor))
        return values

    with session:
        return _rounds(once, polls, rounds)


def bench_easysnmp(host: str, port: int, community: str, plan: Plan, polls: int,
                   rounds: int) -> Figure:
    """The same requests through easysnmp (net-snmp's C library in this process)."""
    import easysnmp  # the bench extra: only here

    system, vendor = plan.scalars[:len(SYSTEM_SCALARS)], plan.scalars[len(SYSTEM_SCALARS):]
    session = easysnmp.Session(hostname=host, remote_port=port, version=2, community=community,
                               use_numeric=True, timeout=2, retries=1)

    def once() -> int:
        values = len(session.get(system))
        for root in plan.subtrees:
            values += len(session.bulkwalk(root, max_repetitions=25))
        if vendor:
            values += len(session.get(vendor))
        return values

    return _rounds(once, polls, rounds)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_netsnmp(host: str, port: int, community: str, plan: Plan, polls: int,
                  rounds: int) -> Figure:
    """The same requests through net-snmp's command-line tools, one process per request."""
    base = ["-v2c", "-c", community, "-t", "2", "-r", "1", "-On", f"{host}:{port}"]
    vendor = plan.scalars[len(SYSTEM_SCALARS):]
    commands = [["snmpget", *base, *SYSTEM_SCALARS]]
    commands += [["snmpbulkwalk", "-Cr25", *base, root] for root in plan.subtrees]
    if vendor:
        commands.append(["snmpget", *base, *vendor])

    def once() -> int:
        lines = 0
        for command in commands:
            out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
            lines += sum(1 for line in out.splitlines() if line.startswith("."))
        return lines

    return _rounds(once, polls, rounds, clock=children_cpu)


@contextlib.contextmanager
def agent(kind: str, recording: Path, workdir: Path, host: str) -> Iterator[tuple[str, int, str]]:
    """(host, port, community) of snmpd or snmpsim serving the recording."""
    if kind == "snmpd":
        with snmpd(recording, workdir, host) as (h, p):
            yield h, p, "public"
    else:
        name = recording.name.removesuffix(".snmprec")
        with snmpsim([recording], workdir, host) as (h, p):
            yield h, p, name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recording", default="sharp", help="recording name in shared/fixtures")
    parser.add_argument("--agent", choices=("snmpd", "snmpsim"), default="snmpd")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--polls", type=int, default=200, help="polls per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cli-polls", type=int, default=10,
                        help="polls per round with the CLI tools (a process per request)")
    args = parser.parse_args()

    recording = SNMP_FIXTURES / f"{args.recording}.snmprec"
    with tempfile.TemporaryDirectory() as tmp, \
            agent(args.agent, recording, Path(tmp), args.host) as (host, port, community):
        target = SnmpTarget(host, port, SnmpCredentials(community=community))
        plan = poll_plan(target)
        rows = [
            ("printgw read (fast path)", bench_printgw(target, args.polls, args.rounds)),
            ("printgw read + mapping", bench_printgw(target, args.polls, args.rounds,
                                                     mapping=True)),
            ("printgw read, pysnmp 7 only", bench_printgw(target, max(1, args.polls // 10),
                                                          args.rounds, fast=False)),
            ("gufo_snmp used synchronously", bench_gufo_sync(host, port, community, plan,
                                                             args.polls, args.rounds)),
            ("easysnmp (C net-snmp binding)", bench_easysnmp(host, port, community, plan,
                                                             args.polls, args.rounds)),
            ("net-snmp CLI tools", bench_netsnmp(host, port, community, plan,
                                                 args.cli_polls, args.rounds)),
        ]
    gufo, easy = rows[3][1].cpu_ms, rows[4][1].cpu_ms
    print(f"recording: {args.recording}, agent: {args.agent}, {args.rounds} rounds of "
          f"{args.polls} sequential polls ({max(1, args.polls // 10)} with pysnmp, "
          f"{args.cli_polls} with the CLI tools); {len(plan.subtrees)} subtrees, "
          f"{len(plan.scalars)} scalars")
    print(f"{'client':<32}{'CPU ms/poll':>12}{'polls/s':>10}{'/ gufo sync':>12}"
          f"{'/ easysnmp':>12}{'values':>8}")
    for name, figure in rows:
        print(f"{name:<32}{figure.cpu_ms:>12.2f}{figure.polls_per_s:>10.0f}"
              f"{figure.cpu_ms / gufo:>12.2f}{figure.cpu_ms / easy:>12.2f}{figure.values:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
