"""Benchmark: statuses from the gateway's outbox to the reference cloud, for a fleet of N devices.

The reference cloud runs as its own process (`python -m cloud serve`, SQLite file, or PostgreSQL
with `--database URL`) so its CPU and the gateway's are counted apart.  N printers are registered,
contracted and activated; one real reading of a virtual printer (`color-mfp`), with levels and
counters varied per device, is projected onto the service's data types and queued for every
device; then the gateway's `OutboxSender` delivers the outbox.

Printed per round: statuses/s from the outbox into the cloud, requests, bytes per device per
periodic upload (compressed, as sent), gateway CPU ms per status, cloud CPU ms per status.  Then
the baseline of the same statuses sent one request per status, and the cloud's own ingest rate
(pre-built gzip batches posted by two connections at once).

    python bench/uplink.py [--devices 1000] [--rounds 3] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import gzip
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.device.model import DeviceStatus
from gateway.device.reader import DeviceReader, IppEndpoint
from gateway.store import Store
from gateway.uplink.data_types import project
from gateway.uplink.outbox import Outbox, new_entry
from gateway.uplink.sender import OutboxSender
from protocols.cloud.client import GZIP_THRESHOLD, CloudClient
from protocols.cloud.models import StatusEntry, statuses_json
from protocols.cloud.registration import (
    Activation,
    EnrolmentRequest,
    PrinterRegistration,
    TransmissionDataTypesReport,
)
from protocols.cloud.transport import canonical_json
from protocols.hosts import free_port
from protocols.snmp.model import SnmpTarget
from protocols.version import VERSION
from tests.support.sim_helpers import running_fleet

SERVICE = "monitoring"
DATA_TYPES = ["identity", "supplies.level", "supplies.kind", "supplies.color", "counters.total",
              "state", "alerts"]
OPERATOR_TOKEN = "pgwo_" + secrets.token_hex(16)
TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextlib.asynccontextmanager
async def cloud_process(database: str, workdir: Path) -> AsyncIterator[tuple[str, int]]:
    token_file = workdir / "operator-token"
    token_file.write_text(OPERATOR_TOKEN)
    token_file.chmod(0o600)
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cloud", "serve", "--database", database, "--port", str(port),
        "--operator-token-file", str(token_file), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.post(f"{url}/v1/connection-destination",
                                         json={"region": "jp"}) as response:
                        if response.status == 200:
                            break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the reference cloud did not start")
        yield url, proc.pid
    finally:
        proc.terminate()
        await proc.wait()


async def operator_call(http: aiohttp.ClientSession, method: str, url: str,
                        body: dict[str, Any] | None = None) -> Any:
    async with http.request(method, url, json=body,
                            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) as response:
        if response.status >= 300:
            raise RuntimeError(f"{method} {url}: {response.status} {await response.text()}")
        return await response.json()


async def gather_bounded(calls: list[Any], limit: int = 16) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Any) -> Any:
        async with semaphore:
            return await call

    return await asyncio.gather(*(one(c) for c in calls))


async def set_up_fleet(url: str, devices: int) -> tuple[CloudClient, list[str], str]:
    """Enrol, register `devices` printers, contract and activate the service for each."""
    async with aiohttp.ClientSession() as http:
        await operator_call(http, "PUT", f"{url}/v1/operator/services/{SERVICE}", {
            "service_outline": "Remote monitoring", "provider": "Bench",
            "data_types": DATA_TYPES})
        token = (await operator_call(http, "POST", f"{url}/v1/operator/enrolment-tokens",
                                     {"region": "jp"}))["enrolment_token"]
        client = CloudClient(url)
        credential = await client.enrol(EnrolmentRequest(token, "bench-gateway",
                                                         software_version=VERSION))
        gateway = client.with_token(credential.token)
        await client.close()
        registrations = await gather_bounded([gateway.register_printer(PrinterRegistration(
            serial=f"BENCH{i:06d}", product_name="ColorWorks MFP C5400", manufacturer="Acme",
            shipping_destination="JP", time_zone="Asia/Tokyo", device_type="mfp"))
            for i in range(devices)])
        printer_ids = [r.printer_id for r in registrations]
        apps = await gather_bounded([operator_call(
            http, "POST", f"{url}/v1/operator/printers/{p}/applications",
            {"service_id": SERVICE}) for p in printer_ids])
    await gather_bounded([gateway.notify_activation(p, [
        Activation(SERVICE, a["application_id"])])
        for p, a in zip(printer_ids, apps, strict=True)])
    await gather_bounded([gateway.report_transmission_data_types(
        p, TransmissionDataTypesReport(tuple(DATA_TYPES))) for p in printer_ids])
    return gateway, printer_ids, credential.token


async def one_reading() -> DeviceStatus:
    """A real reading of a virtual colour MFP (SNMP and IPP)."""
    async with running_fleet("127.0.70.1", 1, profiles=["color-mfp"]) as fleet, \
            DeviceReader() as reader:
        p = fleet.printers[0]
        status = await reader.read(p.ip, SnmpTarget(p.ip, p.snmp_port),
                                   IppEndpoint.for_host(p.ip, p.ipp_port))
    return status


def varied(reading: DeviceStatus, rng: random.Random, serial: str) -> DeviceStatus:
    """The reading as another device of the same model would give it."""
    out = copy.deepcopy(reading)
    out.identity.serial = serial
    out.counters.total = rng.randint(1000, 500_000)
    for supply in out.supplies:
        if supply.level_state == "known" and supply.max_capacity:
            supply.level_percent = rng.randint(1, 100)
            supply.raw_level = supply.max_capacity * supply.level_percent // 100
    return out


def batch_bytes(entries: list[StatusEntry], batch_size: int) -> int:
    """Request body bytes as `CloudClient.upload_statuses` sends them."""
    total = 0
    for start in range(0, len(entries), batch_size):
        body = canonical_json(statuses_json(entries[start:start + batch_size]))
        total += len(gzip.compress(body, mtime=0)) if len(body) > GZIP_THRESHOLD else len(body)
    return total


def queue_round(outbox: Outbox, printer_ids: list[str], reading: DeviceStatus,
                rng: random.Random) -> list[StatusEntry]:
    entries = [new_entry(p, reading.read_at, "periodic",
                         project(varied(reading, rng, f"BENCH{i:06d}"), DATA_TYPES))
               for i, p in enumerate(printer_ids)]
    outbox.put(entries)
    return entries


async def deliver(outbox: Outbox, client: CloudClient, batch_size: int,
                  cloud_pid: int) -> dict[str, float]:
    sender = OutboxSender(outbox, client, batch_size=batch_size)
    depth = outbox.depth()
    cpu, cloud_cpu, wall = time.process_time(), process_cpu(cloud_pid), time.perf_counter()
    report = await sender.flush()
    wall = time.perf_counter() - wall
    if report.accepted != depth or outbox.depth():
        raise RuntimeError(f"delivered {report.accepted} of {depth}: {report.error}")
    return {"statuses": depth, "seconds": wall, "requests": report.requests,
            "gateway_cpu": time.process_time() - cpu,
            "cloud_cpu": process_cpu(cloud_pid) - cloud_cpu}


async def cloud_ingest(url: str, token: str, printer_ids: list[str], reading: DeviceStatus,
                       rng: random.Random, cloud_pid: int) -> tuple[float, float, int]:
    """(statuses/s, cloud CPU ms per status, statuses) with pre-built gzip batches of 500,
    two connections posting at once: the cloud's own rate, without the gateway's work."""
    entries = [new_entry(p, reading.read_at, "periodic",
                         project(varied(reading, rng, f"BENCH{i:06d}"), DATA_TYPES))
               for i, p in enumerate(printer_ids)]
    bodies = [gzip.compress(canonical_json(statuses_json(entries[i:i + 500])), mtime=0)
              for i in range(0, len(entries), 500)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Content-Encoding": "gzip"}
    async with aiohttp.ClientSession() as http:
        async def post(body: bytes) -> None:
            async with http.post(f"{url}/v1/statuses", data=body,
                                 headers={**headers, "Idempotency-Key": str(uuid.uuid4())}
                                 ) as response:
                if response.status != 200:
                    raise RuntimeError(f"ingest: {response.status} {await response.text()}")
                await response.read()

        cloud_cpu, wall = process_cpu(cloud_pid), time.perf_counter()
        await gather_bounded([post(b) for b in bodies], limit=2)
        wall = time.perf_counter() - wall
    cpu = process_cpu(cloud_pid) - cloud_cpu
    return len(entries) / wall, cpu * 1000 / len(entries), len(entries)


async def main(args: argparse.Namespace) -> dict[str, float]:
    """Prints the figures; returns the medians (seconds and statuses/s for `args.devices`,
    bytes per device), the one-request-per-status rate, and the cloud's own ingest rate."""
    rng = random.Random(5)
    reading = await one_reading()
    with tempfile.TemporaryDirectory(prefix="printgw-bench-uplink-") as tmp:
        work = Path(tmp)
        database = args.database or f"sqlite+aiosqlite:///{work / 'cloud.db'}"
        async with cloud_process(database, work) as (url, cloud_pid):
            started = time.perf_counter()
            client, printer_ids, token = await set_up_fleet(url, args.devices)
            print(f"set-up: {args.devices} printers registered, contracted, activated and "
                  f"reported in {time.perf_counter() - started:.1f} s "
                  f"({'PostgreSQL' if 'postgres' in database else 'SQLite'} cloud)")
            store = Store.in_directory(work / "gateway")
            outbox = Outbox(store, max_entries=10 * args.devices)
            rounds, sizes = [], []
            for number in range(1, args.rounds + 1):
                put = time.perf_counter()
                entries = queue_round(outbox, printer_ids, reading, rng)
                put = time.perf_counter() - put
                sent = batch_bytes(entries, args.batch_size)
                r = await deliver(outbox, client, args.batch_size, cloud_pid)
                rounds.append(r["statuses"] / r["seconds"])
                sizes.append(sent / args.devices)
                n = r["statuses"]
                raw = len(canonical_json(entries[0].to_json()))
                print(f"round {number}: {n:.0f} statuses outbox → cloud in {r['seconds']:.2f} s"
                      f" = {n / r['seconds']:,.0f} statuses/s, {r['requests']:.0f} requests, "
                      f"{sent / args.devices:.0f} bytes/device (gzip; "
                      f"{raw} bytes raw), queueing {put * 1000:.0f} ms,"
                      f" gateway CPU {r['gateway_cpu'] * 1000 / n:.2f} ms/status, "
                      f"cloud CPU {r['cloud_cpu'] * 1000 / n:.2f} ms/status")
            print(f"median: {statistics.median(rounds):,.0f} statuses/s for {args.devices} "
                  f"devices")

            single = min(args.baseline, args.devices)
            queue_round(outbox, printer_ids[:single], reading, rng)
            r = await deliver(outbox, client, 1, cloud_pid)
            print(f"baseline, one request per status: {single} statuses in {r['seconds']:.2f} s "
                  f"= {single / r['seconds']:,.0f} statuses/s "
                  f"({statistics.median(rounds) / (single / r['seconds']):.1f}x slower than "
                  f"batches)")

            rate, cloud_ms, count = await cloud_ingest(url, token, printer_ids,
                                                       reading, rng, cloud_pid)
            print(f"cloud ingest (pre-built gzip batches of 500, 2 connections): {count} "
                  f"statuses at {rate:,.0f} statuses/s, {cloud_ms:.2f} ms cloud CPU/status")
            await client.close()
            store.close()
    median = statistics.median(rounds)
    return {"seconds": args.devices / median, "statuses_per_s": median,
            "bytes_per_device": statistics.median(sizes),
            "one_per_request_per_s": single / r["seconds"], "ingest_per_s": rate}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--baseline", type=int, default=200,
                        help="statuses sent one per request for the baseline")
    parser.add_argument("--database", help="the cloud's database URL (default: a SQLite file)")
    asyncio.run(main(parser.parse_args()))
