"""Benchmark: the reference cloud with 1, 2 and 4 worker processes on PostgreSQL (issue 21).

Light simulated gateways (aiohttp clients, no gateway daemons) against `printgw-cloud serve
--workers N` on a throwaway PostgreSQL cluster the bench starts (`tests/support/postgres.py`,
with fsync, synchronous commits and full-page writes on, as a server runs them; its data on the
temporary directory's disk), and the same run on a SQLite file with one worker as the baseline.
Per configuration:

- ingest: `--ingest-gateways` gateways of `--printers` printers each (enrolled, registered,
  contracted, activated and reported through the real flow: `bench/uplink.py`'s
  `set_up_fleet`) upload `--rounds` batches each, one entry per printer: a real reading of a
  virtual colour MFP projected as the gateway projects it, levels and counters varied,
  pre-built and gzipped as the gateway sends them, `--connections` requests at once.
  Statuses per second, and CPU per status of the cloud (the parent and every worker) and of
  PostgreSQL (the postmaster and its backends), read from /proc;
- push latency: an operator action (a meter schedule change: one `control-info-changed`) sent
  through one worker, until a gateway's push socket held by another worker (when there are
  several) receives it; median and p99 over `--changes` changes, one at a time.  Which worker
  holds a connection is read from /proc (the socket's inode in /proc/net/tcp, found among the
  workers' file descriptors), so it needs nothing from the cloud;
- memory per push socket: `--sockets` more gateways each open the push channel (64 at a time,
  each one read so that it answers the cloud's pings); the RSS of every cloud process once all
  of them got their `hello`, minus before, per socket; and the cloud CPU per socket opened.
  These gateways are written straight into the database with the cloud's own model, as
  enrolment makes them: through the API, 10,000 enrolments took 3 of the bench's 10 minutes.
  Client sockets come from 127.75.0.0/16 (`PER_SOURCE` per address, `bench/cloud_push.py`);
  RLIMIT_NOFILE is raised to its hard limit (a container may not allow more) for the bench and
  its children.

The fleet is set up once per database engine; on PostgreSQL in a template database which each
configuration copies (`CREATE DATABASE ... TEMPLATE`), so every worker count starts from the
same data.  Ratios are to one worker on PostgreSQL.  Everything runs on loopback and every
process started is stopped at the end (`tests/support/cloud_processes.py` bounds the stops);
after `--limit` seconds (1200) everything is stopped.  The default sizes take 4.5 minutes on the
quiet 2-core machine (9 when other work shares it), `--quick` 40 s.

`--profile DIR`: after the measurements, py-spy records the worker of one more 1-worker cloud on
a fresh copy of the PostgreSQL fleet while it ingests the same batches (it pauses the process
for each sample, so apart from the figures); the top frames are printed with their share of the
worker's CPU per status.

    python bench/cloud.py [--quick] [--workers 1,2,4] [--no-sqlite] [--sockets 10000]
                          [--ingest-gateways 25] [--printers 20] [--rounds 12] [--changes 300]
                          [--connections 32] [--limit 1200] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/cloud.py would shadow the `cloud` package: the bench modules come as `bench.*`
sys.path[:] = [p for p in sys.path if p not in ("", str(Path(__file__).resolve().parent))]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.cloud_push import Cloud, Sockets, hold_sockets, push_latency  # noqa: E402
from bench.gateway_poll import py_spy, top_frames  # noqa: E402
from bench.lines import Line, print_lines  # noqa: E402
from bench.proc_tree import (  # noqa: E402
    parent_of,
    process_tree,
    raise_fd_limit,
    tree_cpu,
)
from bench.uplink import (  # noqa: E402
    DATA_TYPES,
    OPERATOR_TOKEN,
    gather_bounded,
    one_reading,
    set_up_fleet,
    varied,
)
from cloud import auth, times  # noqa: E402
from cloud.db import Database, Gateway  # noqa: E402
from gateway.device.model import DeviceStatus  # noqa: E402
from gateway.uplink.data_types import project  # noqa: E402
from gateway.uplink.outbox import new_entry  # noqa: E402
from protocols.cloud.client import GZIP_THRESHOLD  # noqa: E402
from protocols.cloud.models import statuses_json  # noqa: E402
from protocols.cloud.transport import canonical_json  # noqa: E402
from protocols.version import VERSION  # noqa: E402
from tests.support.cloud_processes import cloud_processes  # noqa: E402
from tests.support.postgres import throwaway_cluster  # noqa: E402

TEMPLATE = "bench_fleet"


@dataclass(frozen=True)
class Sizes:
    ingest_gateways: int = 25
    printers: int = 20
    rounds: int = 12
    connections: int = 32
    changes: int = 300
    sockets: int = 10_000


QUICK = Sizes(ingest_gateways=6, printers=10, rounds=3, connections=8, changes=20, sockets=100)


@dataclass(frozen=True)
class Fleet:
    ingest: list[tuple[str, list[str]]]  # (gateway token, its printer IDs) per gateway
    sockets: list[str]  # tokens of the gateways that only hold a push socket


@dataclass
class Figures:
    label: str
    workers: int
    statuses: int
    per_second: float
    cloud_ms: float  # CPU per status: the parent and every worker
    database_ms: float | None  # PostgreSQL's processes (None on SQLite)
    client_ms: float  # this process, for scale: it shares the machine
    push: list[float]  # seconds per change
    across: bool  # the push socket on another worker than the operator's connection
    sockets: int
    opened: Sockets

    @property
    def kb_per_socket(self) -> float:
        return (self.opened.rss_after_mb - self.opened.rss_before_mb) * 1024 / self.sockets


def serves_workers() -> bool:
    """Whether `printgw-cloud serve` has `--workers` (issue 21)."""
    out = subprocess.run([sys.executable, "-m", "cloud", "serve", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False).stdout
    return "--workers" in out


# -- the cloud ---------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def serving(database: str, workers: int, work: Path, with_flag: bool
                  ) -> AsyncIterator[Cloud]:
    token_file = work / "operator-token"
    token_file.write_text(OPERATOR_TOKEN)
    token_file.chmod(0o600)
    extra = ["--operator-token-file", str(token_file)]
    if with_flag:
        extra += ["--workers", str(workers)]
    async with cloud_processes(database, 1, work, extra) as (cloud,):
        children = [p for p in process_tree(cloud.pid) if p != cloud.pid]
        yield Cloud(cloud.url, cloud.pid, children or [cloud.pid])


async def set_up(url: str, database: str, sizes: Sizes) -> Fleet:
    """The ingest gateways through the real flow; the socket-only gateways straight into the
    database, as `enrol_gateway` makes them (see the module's docstring)."""
    async def ingest_gateway() -> tuple[str, list[str]]:
        gateway, printer_ids, token = await set_up_fleet(url, sizes.printers)
        await gateway.close()
        return token, printer_ids

    ingest = await gather_bounded([ingest_gateway() for _ in range(sizes.ingest_gateways)], 4)
    tokens = [auth.new_token(auth.GATEWAY_PREFIX) for _ in range(sizes.sockets)]
    db = Database(database)
    try:
        async with db.write() as session:
            session.add_all(Gateway(
                id=str(uuid.uuid4()), name=f"bench-socket-{n}", software_version=VERSION,
                region="jp", token_hash=auth.token_hash(token), enrolled_at=times.now(),
                change_seq=0, pruned_through=0) for n, token in enumerate(tokens))
    finally:
        await db.close()
    return Fleet(ingest, tokens)


def upload_bodies(fleet: Fleet, reading: DeviceStatus, rounds: int, rng: random.Random
                  ) -> list[tuple[str, bytes]]:
    """(gateway token, request body) per batch: each gateway's printers' entries, gzipped as
    `CloudClient.upload_statuses` sends them."""
    bodies = []
    for _ in range(rounds):
        for token, printer_ids in fleet.ingest:
            entries = [new_entry(p, reading.read_at, "periodic", project(
                varied(reading, rng, f"BENCH{i:06d}"), DATA_TYPES))
                for i, p in enumerate(printer_ids)]
            body = canonical_json(statuses_json(entries))
            bodies.append((token, gzip.compress(body, mtime=0) if len(body) > GZIP_THRESHOLD
                           else body))
    return bodies


async def ingest(url: str, bodies: list[tuple[str, bytes]], connections: int) -> float:
    """Seconds to post every batch, `connections` at once; each entry must be accepted."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as http:
        async def post(token: str, body: bytes) -> int:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                       "Idempotency-Key": str(uuid.uuid4())}
            if body[:2] == b"\x1f\x8b":
                headers["Content-Encoding"] = "gzip"
            async with http.post(f"{url}/v1/statuses", data=body, headers=headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"ingest: {response.status} {await response.text()}")
                answer = await response.json()
            if answer["counts"]["accepted"] != len(answer["results"]):
                raise RuntimeError(f"ingest: not every entry accepted: {answer['counts']}")
            return len(answer["results"])

        started = time.perf_counter()
        await gather_bounded([post(token, body) for token, body in bodies], connections)
        return time.perf_counter() - started


# -- one configuration ---------------------------------------------------------------------------

async def measure(label: str, cloud: Cloud, fleet: Fleet, bodies: list[tuple[str, bytes]],
                  sizes: Sizes, postmaster: int | None) -> Figures:
    statuses = sum(len(printers) for _, printers in fleet.ingest) * sizes.rounds
    cpu, db_cpu, own = tree_cpu(cloud.root), postmaster and tree_cpu(postmaster), \
        time.process_time()
    seconds = await ingest(cloud.url, bodies, sizes.connections)
    cpu, own = tree_cpu(cloud.root) - cpu, time.process_time() - own
    db_ms = None if postmaster is None else (tree_cpu(postmaster) - db_cpu) * 1000 / statuses
    token, printer_ids = fleet.ingest[0]
    push, across = await push_latency(cloud, token, printer_ids[0], sizes.changes)
    sockets = await hold_sockets(cloud, fleet.sockets)
    figures = Figures(label, len(cloud.workers), statuses, statuses / seconds,
                      cpu * 1000 / statuses, db_ms, own * 1000 / statuses, push, across,
                      len(fleet.sockets), sockets)
    print(figure_line(figures), flush=True)
    return figures


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def figure_line(f: Figures) -> str:
    database = "" if f.database_ms is None else f", PostgreSQL {f.database_ms:.2f} ms"
    where = "another worker" if f.across else "the same worker"
    return (f"{f.label}: {f.statuses} statuses at {f.per_second:,.0f}/s, CPU per status: cloud "
            f"{f.cloud_ms:.2f} ms{database} (bench client {f.client_ms:.2f} ms); push from "
            f"{where}: median {statistics.median(f.push) * 1000:.1f} ms, p99 "
            f"{percentile(f.push, 0.99) * 1000:.1f} ms over {len(f.push)} changes; "
            f"{f.sockets} push sockets: {f.kb_per_socket:.1f} KB each (cloud RSS "
            f"{f.opened.rss_before_mb:.0f} MB before), opened in {f.opened.seconds:.1f} s, "
            f"cloud CPU {f.opened.cloud_ms:.2f} ms each")


# -- the runs ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    sizes: Sizes
    reading: DeviceStatus
    work: Path
    with_flag: bool  # `serve --workers` exists
    profile: Path | None


async def sqlite_run(run: Run) -> Figures:
    database = f"sqlite+aiosqlite:///{run.work / 'cloud.db'}"
    async with serving(database, 1, run.work, run.with_flag) as cloud:
        fleet = await timed_set_up(cloud.url, database, run.sizes, "SQLite")
        bodies = upload_bodies(fleet, run.reading, run.sizes.rounds, random.Random(21))
        return await measure("SQLite, 1 worker", cloud, fleet, bodies, run.sizes, None)


async def timed_set_up(url: str, database: str, sizes: Sizes, engine: str) -> Fleet:
    started = time.perf_counter()
    fleet = await set_up(url, database, sizes)
    print(f"set-up on {engine}: {len(fleet.ingest)} gateways of {sizes.printers} printers "
          f"(registered, contracted, activated), {len(fleet.sockets)} more gateways, in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return fleet


async def postgres_runs(run: Run, workers: list[int], cluster: str) -> list[Figures]:
    server = make_url(cluster)
    admin = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(
        hide_password=False))
    try:
        postmaster = parent_of(await admin.fetchval("SELECT pg_backend_pid()"))
        await admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
        template = server.set(database=TEMPLATE).render_as_string(hide_password=False)
        async with serving(template, 1, run.work, run.with_flag) as cloud:
            fleet = await timed_set_up(cloud.url, template, run.sizes, "PostgreSQL")
        bodies = upload_bodies(fleet, run.reading, run.sizes.rounds, random.Random(21))
        statuses = sum(len(p) for _, p in fleet.ingest) * run.sizes.rounds
        results = []
        for count in workers:
            name = f"bench_workers_{count}"
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
            database = server.set(database=name).render_as_string(hide_password=False)
            label = f"PostgreSQL, {count} worker{'s' if count > 1 else ''}"
            async with serving(database, count, run.work, run.with_flag) as cloud:
                results.append(await measure(label, cloud, fleet, bodies, run.sizes,
                                             postmaster))
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if run.profile:
            await admin.execute(f'CREATE DATABASE "bench_profile" TEMPLATE "{TEMPLATE}"')
            await profile_ingest(run, server.set(database="bench_profile").render_as_string(
                hide_password=False), bodies, statuses)
        return results
    finally:
        await admin.close()


async def profile_ingest(run: Run, database: str, bodies: list[tuple[str, bytes]],
                         statuses: int) -> None:
    """py-spy records the worker of a fresh 1-worker cloud while it ingests `bodies`; its top
    frames with the worker's CPU per status (py-spy writes when the worker ends)."""
    assert run.profile is not None
    out = run.profile / "cloud-ingest.txt"
    with contextlib.ExitStack() as spy:
        async with serving(database, 1, run.work, run.with_flag) as cloud:
            worker = cloud.workers[0]
            spy.enter_context(py_spy(worker, out))
            await asyncio.sleep(0.5)  # py-spy attaches
            cpu = tree_cpu(worker)
            await ingest(cloud.url, bodies, run.sizes.connections)
            per_status_ms = (tree_cpu(worker) - cpu) * 1000 / statuses
    print(f"\n== py-spy, one worker ingesting {statuses} statuses ({per_status_ms:.2f} ms CPU "
          f"per status under py-spy): top frames ({out})")
    for frame, share in top_frames(out, 15):
        print(f"{share * 100:5.1f} %  {share * per_status_ms * 1000:6.0f} us/status  {frame}")


def summary(results: list[Figures]) -> bool:
    """The table with ratios to one worker on PostgreSQL; the push target's lines."""
    base = next((f for f in results if f.database_ms is not None and f.workers == 1),
                results[0])
    print(f"\n== The reference cloud at scale (ratios to {base.label})")
    print(f"{'configuration':<26}{'statuses/s':>11}{'ratio':>7}{'cloud ms':>10}"
          f"{'PG ms':>7}{'push median':>13}{'p99':>8}  {'across':<7}{'KB/socket':>10}"
          f"{'ratio':>7}")
    for f in results:
        database = "-" if f.database_ms is None else f"{f.database_ms:.2f}"
        print(f"{f.label:<26}{f.per_second:>11,.0f}{f.per_second / base.per_second:>7.2f}"
              f"{f.cloud_ms:>10.2f}{database:>7}"
              f"{statistics.median(f.push) * 1000:>10.1f} ms{percentile(f.push, 0.99) * 1000:>5.0f}"
              f" ms  {'yes' if f.across else 'no':<7}{f.kb_per_socket:>10.1f}"
              f"{f.kb_per_socket / base.kb_per_socket:>7.2f}")
    base_p99 = percentile(base.push, 0.99)
    return print_lines("push latency, a change to a gateway's socket (issue 21: within 1 s)", [
        Line(f"p99, {f.label}", f"{percentile(f.push, 0.99) * 1000:.1f} ms "
             f"({'another' if f.across else 'the same'} worker)",
             f"{base_p99 * 1000:.1f} ms ({base.label})", percentile(f.push, 0.99) / base_p99,
             "<= 1 s", percentile(f.push, 0.99) <= 1.0)
        for f in results])


def sizes_of(args: argparse.Namespace) -> Sizes:
    given = {name: value for name, value in vars(args).items()
             if name in Sizes.__dataclass_fields__ and value is not None}
    return replace(QUICK if args.quick else Sizes(), **given)


async def main(args: argparse.Namespace) -> bool:
    started = time.perf_counter()
    limit = raise_fd_limit()
    sizes = sizes_of(args)
    with_flag = serves_workers()
    workers = [int(n) for n in args.workers.split(",") if n.strip()]
    if not with_flag and any(n > 1 for n in workers):
        print("printgw-cloud serve has no --workers yet: one worker only")
        workers = [1]
    print(f"sizes: {sizes}; open files limit {limit}; cloud on {os.cpu_count()} cores",
          flush=True)
    reading = await one_reading()
    async with asyncio.timeout(args.limit):
        results = await runs(args, sizes, reading, with_flag, workers)
    met = summary(results)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return met


async def runs(args: argparse.Namespace, sizes: Sizes, reading: DeviceStatus, with_flag: bool,
               workers: list[int]) -> list[Figures]:
    with tempfile.TemporaryDirectory(prefix="printgw-bench-cloud-") as tmp:
        run = Run(sizes, reading, Path(tmp), with_flag, args.profile)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        results = [] if args.no_sqlite else [await sqlite_run(run)]
        if workers:
            with throwaway_cluster(durable=True) as cluster:
                results += await postgres_runs(run, workers, cluster)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"small sizes: {QUICK}")
    parser.add_argument("--workers", default="1,2,4",
                        help="worker counts on PostgreSQL, comma-separated ('' for none)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite baseline")
    for name in Sizes.__dataclass_fields__:
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=None,
                            help=f"default {getattr(Sizes(), name)}")
    parser.add_argument("--limit", type=float, default=1200.0,
                        help="seconds before everything is stopped (default 1200)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="py-spy records a 1-worker cloud's ingest after the figures")
    sys.exit(0 if asyncio.run(main(parser.parse_args())) else 1)
