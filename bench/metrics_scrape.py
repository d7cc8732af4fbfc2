"""Benchmark: one `/metrics` scrape of a gateway that knows a large fleet.

Each profile of the virtual fleet (`simulator.profiles`: colour MFP, mono laser, inkjet, legacy
laser, contract laser) is read once by the gateway's own reader; those real readings are then
written into a fresh store as the newest readings of `--devices` devices (round-robin, each with
its own serial and address), through the gateway's write path (`record_reading`).  Timed: the
registry's collection (on the event loop: it reads the store) and the text exposition (in a worker
thread), as `/metrics` does them (`gateway.local.metrics.exposition`), a few times over; printed:
the median of each and the worst whole scrape, the series and the size of the answer.

    python bench/metrics_scrape.py [--devices 1000] [--rounds 5]

Loopback addresses 127.0.133.1-5 (the virtual printers); it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import generate_latest

from gateway.device.model import DeviceStatus
from gateway.device.reader import DeviceReader, IppEndpoint
from gateway.fleet.inventory import Inventory, Sighting
from gateway.fleet.readings import record_reading
from gateway.local.live_view import FleetView
from gateway.local.metrics import Collected, GatewayMetrics
from gateway.settings.loading import parse_config
from gateway.store import Store
from protocols.hosts import free_port
from protocols.snmp.model import SnmpTarget
from simulator.fleet import Fleet, FleetConfig, addresses

PROFILES = ["color-mfp", "mono-laser", "inkjet", "legacy-laser", "contract-laser"]
FIRST_IP = "127.0.133.1"


async def read_profiles(first_ip: str = FIRST_IP,
                        profiles: Sequence[str] = PROFILES) -> list[DeviceStatus]:
    """One real reading of a virtual printer of each profile."""
    ips = addresses(first_ip, len(profiles))
    snmp_port, ipp_port = free_port(*ips, udp=True), free_port(*ips, udp=True)
    fleet = Fleet(FleetConfig(count=len(profiles), first_ip=first_ip, snmp_port=snmp_port,
                              ipp_port=ipp_port, profiles=list(profiles)))
    await fleet.start()
    reader = DeviceReader()
    try:
        return [await reader.read(ip, SnmpTarget(ip, snmp_port),
                                  IppEndpoint.for_host(ip, ipp_port)) for ip in ips]
    finally:
        await reader.close()
        await fleet.stop()


def write_fleet(store: Store, readings: Sequence[DeviceStatus], devices: int) -> list[int]:
    """`devices` devices in the store, the newest reading of each one of `readings` in turn
    (with the device's own serial and address); their row ids."""
    inventory = Inventory(store)
    ids = []
    for n in range(devices):
        address = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        status = DeviceStatus.from_json(readings[n % len(readings)].to_json())
        status.host = address
        status.identity.serial = f"BENCH{n:06d}"
        status.identity.hostname = f"printer-{n}"
        device = inventory.record(Sighting(
            address=address, sources=frozenset({"static"}), serial=status.identity.serial,
            model=status.identity.model, manufacturer=status.identity.manufacturer,
            hostname=status.identity.hostname, protocols=frozenset({"snmp", "ipp"})))
        ids.append(device.id)
        with store.transaction() as db:
            record_reading(db, device.id, status)
    return ids


@dataclass(frozen=True)
class Scrape:
    collect: list[float]
    """Seconds collecting, per round (the event loop waits for this part)."""
    format: list[float]
    """Seconds formatting the text, per round (in a worker thread)."""
    series: int
    size: int


def scrape(store: Store, rounds: int) -> Scrape:
    """The registry a daemon serves, reading `store`: collected and exposed `rounds` times."""
    metrics = GatewayMetrics()
    metrics.read_store(FleetView(store, parse_config({})))
    collect, format_ = [], []
    body = b""
    for _ in range(rounds):
        started = time.perf_counter()
        families = list(metrics.registry.collect())
        collected = time.perf_counter()
        body = generate_latest(Collected(families))
        collect.append(collected - started)
        format_.append(time.perf_counter() - collected)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return Scrape(collect, format_, series, len(body))


async def run(devices: int, rounds: int) -> Scrape:
    readings = await read_profiles()
    with tempfile.TemporaryDirectory() as tmp, Store.in_directory(Path(tmp)) as store:
        started = time.perf_counter()
        write_fleet(store, readings, devices)
        print(f"{devices} devices written in {time.perf_counter() - started:.1f} s")
        return scrape(store, rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.devices, args.rounds))
    worst = max(c + f for c, f in zip(result.collect, result.format, strict=True))
    print(f"scrape of {args.devices} devices: collect median "
          f"{statistics.median(result.collect):.3f} s, format median "
          f"{statistics.median(result.format):.3f} s, whole scrape worst {worst:.3f} s; "
          f"{result.series} series, {result.size / 1e6:.1f} MB of text")
    return 0


if __name__ == "__main__":
    sys.exit(main())
