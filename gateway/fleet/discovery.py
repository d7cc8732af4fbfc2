"""One discovery run: mDNS, SNMP sweeps and static hosts, each device identified and recorded.

The three sources (`gateway.fleet.sources`) give candidate addresses (with hints: which
credentials answered the sweep, which IPP URI mDNS advertised).  Each candidate is then read once
over SNMP and IPP by the same reader the poller uses, so the serial, printer-uuid and MAC it is
recorded under are the ones later polls will see; that reading is the device's poll (`on_read`:
a cycle or the daemon takes it in), not followed by another.  A candidate is read as soon as its
SNMP credentials are known: the probe of the addresses no sweep covered (thousands of static
hosts take seconds at the sweep's rate) hands each one on as it answers or stays silent, so the
readings overlap the probe instead of waiting for its end.  Each identification ends by `[poll]
read_deadline`, as a poll does: one device that answers endlessly cannot hold up the run.  The
inventory merges what belongs to one device.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gateway.device.model import DeviceStatus
from gateway.device.reader import DeviceReader, DeviceUnreachable
from gateway.fleet.inventory import Device, Inventory, Sighting
from gateway.fleet.poller import default_ipp_uri, ipp_endpoint
from gateway.fleet.sources.candidate import Candidate, Candidates
from gateway.fleet.sources.mdns import add_service, browse_services, service_hints
from gateway.fleet.sources.static import add_static_hosts
from gateway.fleet.sources.sweep import ProgressCallback, SnmpSweep
from gateway.settings.schema import Config
from protocols.snmp.model import SnmpTarget

log = logging.getLogger(__name__)

IDENTIFY_CONCURRENCY = 32
RECORD_BATCH = 500
"""Sightings recorded per inventory transaction (one commit per batch, not per device), and
readings held before they are handed on."""


ReadingsCallback = Callable[[list[tuple[Device, DeviceStatus]]], Awaitable[None]]
"""Given the readings that identified devices, a batch at a time: the devices' polls."""


@dataclass
class Found:
    device: Device
    sighting: Sighting
    answered: bool
    """False when the device advertised itself but answered neither SNMP nor IPP."""


@dataclass
class DiscoveryReport:
    found: list[Found] = field(default_factory=list)
    swept: int = 0
    answered: int = 0
    """Addresses whose SNMP agent answered the sweep (printers or not)."""
    mdns_services: int = 0
    excluded: int = 0
    missing: list[Device] = field(default_factory=list)
    """Devices this run marked missing."""
    errors: list[str] = field(default_factory=list)
    """What could not be done (a name that does not resolve, an interface that does not exist)."""
    seconds: float = 0.0


class Discovery:
    """Runs discovery as configured and records what it finds in the inventory."""

    def __init__(self, config: Config, inventory: Inventory, reader: DeviceReader,
                 progress: ProgressCallback | None = None,
                 on_read: ReadingsCallback | None = None) -> None:
        self.config = config
        self.inventory = inventory
        self.reader = reader
        self.progress = progress or (lambda phase, done, total: None)
        self.on_read = on_read
        """Takes the readings that identified devices in as their polls (the daemon, a cycle),
        so they are not read again right away."""

    async def run(self) -> DiscoveryReport:
        report = DiscoveryReport()
        started = time.time()
        snmp = SnmpSweep(self.config, self.reader.snmp, self.progress)
        mdns = asyncio.ensure_future(browse_services(self.config.discovery, report.errors))
        try:
            candidates: Candidates = {}
            for subnet in self.config.discovery.subnets:
                tally = await snmp.sweep_subnet(subnet, candidates)
                report.swept += tally.swept
                report.answered += tally.answered
                report.excluded += tally.excluded
            report.excluded += await add_static_hosts(self.config, candidates, report.errors)
            services = await mdns
            report.mdns_services = len(services)
            for service in services:
                if add_service(self.config, service, candidates):
                    report.excluded += 1
        finally:
            mdns.cancel()
        found = await self._identify(candidates, snmp, report)
        report.found = found
        self.inventory.end_run(started, [f.device.id for f in found])
        report.missing = self.inventory.mark_missing(self.config.discovery.missing_after)
        report.seconds = time.time() - started
        return report

    # -- identifying -----------------------------------------------------------------------------

    async def _identify(self, candidates: Candidates, snmp: SnmpSweep, report: DiscoveryReport,
                        ) -> list[Found]:
        """Read every candidate, `IDENTIFY_CONCURRENCY` at once, each as soon as the probe of
        the unswept addresses hands it on (through a queue as short as the workers are many).
        What answered is recorded in the inventory `RECORD_BATCH` sightings a transaction, and
        the batch's readings handed to `on_read` at once: the run never holds more than a batch
        of readings."""
        found: list[Found] = []
        batch: list[tuple[Candidate, DeviceStatus | None]] = []
        ready: asyncio.Queue[Candidate | None] = asyncio.Queue(IDENTIFY_CONCURRENCY)
        done = 0
        self.progress("identify", 0, len(candidates))

        async def record() -> None:
            nonlocal batch
            taken, batch = batch, []
            if not taken:
                return
            sightings = [_sighting(candidate, status) for candidate, status in taken]
            devices = self.inventory.record_all(sightings)
            found.extend(Found(device, sighting, status is not None) for device, sighting, (
                _, status) in zip(devices, sightings, taken, strict=True))
            readings = [(device, status) for device, (_, status) in zip(devices, taken,
                                                                        strict=True)
                        if status is not None]
            if readings and self.on_read is not None:
                await self.on_read(readings)

        async def worker() -> None:
            nonlocal done
            while (candidate := await ready.get()) is not None:
                status = await self._read(candidate)
                done += 1
                if status is None and candidate.hit is None and not candidate.services:
                    report.errors.append(f"{candidate.address}: no answer over SNMP or IPP")
                else:  # it answered the sweep or advertised itself: a device, even unidentified
                    batch.append((candidate, status))
                    if len(batch) >= RECORD_BATCH:
                        await record()
                self.progress("identify", done, len(candidates))

        async def hand_on() -> None:
            await snmp.probe_unswept(candidates, ready.put)
            for _ in range(IDENTIFY_CONCURRENCY):
                await ready.put(None)  # no more candidates: each worker ends at one of these

        tasks = [asyncio.ensure_future(hand_on()),
                 *(asyncio.ensure_future(worker()) for _ in range(IDENTIFY_CONCURRENCY))]
        try:
            await asyncio.gather(*tasks)
        finally:  # one failed: the others stop too (none is left waiting on the queue)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await record()
        found.sort(key=lambda f: _address_order(f.sighting.address))
        return found

    async def _read(self, candidate: Candidate) -> DeviceStatus | None:
        snmp = None
        if candidate.hit is not None:
            snmp = SnmpTarget(candidate.address, candidate.hit.port, candidate.hit.credentials,
                              timeout=self.config.snmp.timeout, retries=self.config.snmp.retries)
        ipp = self.config.ipp
        if candidate.ipp_uri is None:
            candidate.ipp_source = "guess"
            candidate.ipp_uri = default_ipp_uri(ipp, candidate.address)
        endpoint = ipp_endpoint(ipp, candidate.ipp_uri)
        if snmp is None and endpoint is None:  # IPP off and no SNMP answer: nothing to read
            return None
        deadline = self.reader.deadline(self.config.poll.read_deadline)
        try:
            return await self.reader.read(candidate.address, snmp, endpoint, deadline)
        except DeviceUnreachable as exc:
            log.info("%s: %s", candidate.address, exc)
            return None


def _sighting(candidate: Candidate, status: DeviceStatus | None) -> Sighting:
    """What the reading (or, failing that, the mDNS advertisement) says about the device."""
    hints = service_hints(candidate.services)
    identity = status.identity if status is not None else None
    protocols = set()
    ipp_uri = None
    snmp_port = snmp_version = snmp_user = None
    if status is not None and status.reachable.get("snmp") and candidate.hit is not None:
        protocols.add("snmp")
        creds = candidate.hit.credentials
        snmp_port, snmp_version = candidate.hit.port, creds.version
        snmp_user = creds.user if creds.version == 3 else None
    if status is not None and status.reachable.get("ipp"):
        ipp_uri = candidate.ipp_uri
        protocols.add("ipps" if (ipp_uri or "").startswith("ipps:") else "ipp")
    elif candidate.ipp_source != "guess":
        ipp_uri = candidate.ipp_uri  # configured or advertised, though it did not answer now

    def pick(name: str) -> str | None:
        value = getattr(identity, name) if identity is not None else None
        return value or hints.get(name)

    return Sighting(
        address=candidate.address, sources=frozenset(candidate.sources),
        serial=pick("serial"), uuid=pick("uuid"), mac=pick("mac"),
        manufacturer=pick("manufacturer"), model=pick("model"), hostname=pick("hostname"),
        protocols=frozenset(protocols), ipp_uri=ipp_uri, snmp_port=snmp_port,
        snmp_version=snmp_version, snmp_user=snmp_user,
        services=tuple(sorted({s.name for s in candidate.services})))


def _address_order(address: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    return ip.version, int(ip)
