"""One discovery run: mDNS, SNMP sweeps and static hosts, each device identified and recorded.

The three ways of finding devices give candidate addresses (with hints: which credentials
answered the sweep, which IPP URI mDNS advertised).  Each candidate is then read once over SNMP
and IPP by the same reader the poller uses, so the serial, printer-uuid and MAC it is recorded
under are the ones later polls will see.  The inventory merges what belongs to one device.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ifaddr

from gateway.device.model import DeviceStatus
from gateway.device.reader import DeviceReader, DeviceUnreachable, IppEndpoint
from gateway.fleet.inventory import Device, Inventory, Sighting
from gateway.settings.config import Config, Credentials, Subnet
from protocols.snmp.client import SnmpCredentials, SnmpTarget
from protocols.snmp.sweep import SweepHit, SweepProgress, sweep

if TYPE_CHECKING:
    from protocols.mdns.browser import MdnsService

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]
"""(phase, done, total): e.g. ("sweep 10.0.0.0/24", 120, 254), ("identify", 3, 50)."""

IDENTIFY_CONCURRENCY = 32


@dataclass
class Candidate:
    """An address something answered at, with what is known before reading it."""

    address: str
    sources: set[str] = field(default_factory=set)
    hit: SweepHit | None = None
    services: list[MdnsService] = field(default_factory=list)
    ipp_uri: str | None = None
    ipp_source: str | None = None
    """Where `ipp_uri` comes from: `static` (configured), `mdns` (advertised) or `guess`."""
    scope: Credentials | None = None
    ipp_only: bool = False
    """Another device's services share this address (a print server's queues): IPP only."""


@dataclass
class Found:
    device: Device
    sighting: Sighting
    status: DeviceStatus | None
    """None when the device advertised itself but answered neither SNMP nor IPP."""


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
                 progress: ProgressCallback | None = None) -> None:
        self.config = config
        self.inventory = inventory
        self.reader = reader
        self.progress = progress or (lambda phase, done, total: None)

    async def run(self) -> DiscoveryReport:
        report = DiscoveryReport()
        started = time.time()
        mdns = asyncio.ensure_future(self._browse(report))
        try:
            candidates: dict[str, Candidate] = {}
            for subnet in self.config.discovery.subnets:
                await self._sweep_subnet(subnet, candidates, report)
            await self._add_static(candidates, report)
            for service in await mdns:
                self._add_service(service, candidates, report)
        finally:
            mdns.cancel()
        await self._probe_unswept(candidates)
        found = await self._identify(list(candidates.values()), report)
        report.found = found
        self.inventory.end_run(started, [f.device.id for f in found])
        report.missing = self.inventory.mark_missing(self.config.discovery.missing_after)
        report.seconds = time.time() - started
        return report

    # -- finding candidates ----------------------------------------------------------------------

    async def _browse(self, report: DiscoveryReport) -> list[MdnsService]:
        settings = self.config.discovery
        if not settings.mdns:
            return []
        # imported here: zeroconf (~3 MB) is needed only when mDNS discovery is on
        from protocols.mdns.browser import browse, interface_addresses

        try:
            interfaces = (interface_addresses(settings.interfaces) if settings.interfaces
                          else all_interface_addresses())
        except ValueError as exc:
            report.errors.append(f"mDNS: {exc}")
            return []
        if not interfaces:
            report.errors.append("mDNS: no interface with an IPv4 address to browse on")
            return []
        services = await browse(interfaces, settings.mdns_listen)
        report.mdns_services = len(services)
        return services

    async def _sweep_subnet(self, subnet: Subnet, candidates: dict[str, Candidate],
                            report: DiscoveryReport) -> None:
        network = subnet.cidr
        hosts = [str(ip) for ip in network.hosts()] or [str(network.network_address)]
        addresses = [a for a in hosts if not self.config.excluded(a)]
        report.excluded += len(hosts) - len(addresses)
        phase = f"sweep {network}"
        hits = await self._sweep(addresses, self.config.credentials(subnet), phase)
        report.swept += len(addresses)
        report.answered += len(hits)
        for hit in hits:
            if hit.is_printer:
                candidate = candidates.setdefault(hit.address, Candidate(hit.address))
                candidate.sources.add("snmp-sweep")
                candidate.hit = hit
                candidate.scope = subnet

    async def _sweep(self, addresses: list[str], credentials: list[SnmpCredentials],
                     phase: str) -> list[SweepHit]:
        if not addresses or not credentials:
            return []
        settings = self.config.discovery.sweep

        def on_progress(p: SweepProgress) -> None:
            self.progress(phase, p.probed, p.total)

        return await sweep(addresses, credentials, port=self.config.snmp.port,
                           timeout=settings.timeout, retries=settings.retries, rate=settings.rate,
                           window=settings.window, progress=on_progress, client=self.reader.snmp)

    async def _add_static(self, candidates: dict[str, Candidate],
                          report: DiscoveryReport) -> None:
        loop = asyncio.get_running_loop()
        for host in self.config.discovery.static:
            try:
                infos = await loop.getaddrinfo(host.host, None, type=socket.SOCK_DGRAM)
            except OSError as exc:
                report.errors.append(f"static host {host.host}: cannot resolve it ({exc})")
                continue
            address = str(sorted(infos, key=lambda i: i[0] != socket.AF_INET)[0][4][0])
            if self.config.excluded(address):
                report.excluded += 1
                continue
            candidate = candidates.setdefault(address, Candidate(address))
            candidate.sources.add("static")
            candidate.scope = host
            if host.ipp_uri:
                candidate.ipp_uri, candidate.ipp_source = host.ipp_uri, "static"

    def _add_service(self, service: MdnsService, candidates: dict[str, Candidate],
                     report: DiscoveryReport) -> None:
        addresses = [a for a in service.addresses if not self.config.excluded(a)]
        if len(addresses) < len(service.addresses):
            report.excluded += 1
        if not addresses:
            return
        key, address = _place_service(service, addresses, candidates)
        candidate = candidates.get(key)
        if candidate is None:
            candidate = candidates[key] = Candidate(address, ipp_only=key != address)
        candidate.sources.add("mdns")
        candidate.services.append(service)
        if candidate.scope is None:
            candidate.scope = self.config.scope_for(address)
        uri = service.ipp_uri_at(address)
        if uri is None or candidate.ipp_source == "static":  # what IT configured wins
            return
        if candidate.ipp_uri is None or (uri.startswith("ipp:") and
                                         candidate.ipp_uri.startswith("ipps:")):
            candidate.ipp_uri, candidate.ipp_source = uri, "mdns"

    async def _probe_unswept(self, candidates: dict[str, Candidate]) -> None:
        """Which SNMP credentials, if any, answer at addresses found by mDNS or the static list."""
        by_scope: dict[int, tuple[Credentials | None, list[str]]] = {}
        for c in candidates.values():  # SNMP is read over IPv4 only
            if c.hit is None and not c.ipp_only and ":" not in c.address:
                by_scope.setdefault(id(c.scope), (c.scope, []))[1].append(c.address)
        for scope, addresses in by_scope.values():
            hits = await self._sweep(addresses, self.config.credentials(scope), "SNMP probe")
            for hit in hits:
                candidates[hit.address].hit = hit  # keyed by address: never an ipp_only one

    # -- identifying -----------------------------------------------------------------------------

    async def _identify(self, candidates: list[Candidate], report: DiscoveryReport,
                        ) -> list[Found]:
        found: list[Found] = []
        done = 0
        semaphore = asyncio.Semaphore(IDENTIFY_CONCURRENCY)
        self.progress("identify", 0, len(candidates))

        async def identify(candidate: Candidate) -> None:
            nonlocal done
            async with semaphore:
                status = await self._read(candidate)
            done += 1
            if status is None and candidate.hit is None and not candidate.services:
                report.errors.append(f"{candidate.address}: no answer over SNMP or IPP")
            else:  # it answered the sweep or advertised itself: a device, even unidentified
                sighting = _sighting(candidate, status)
                found.append(Found(self.inventory.record(sighting), sighting, status))
            self.progress("identify", done, len(candidates))

        await asyncio.gather(*(identify(c) for c in candidates))
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
            candidate.ipp_uri = IppEndpoint.for_host(candidate.address, ipp.port, ipp.path).uri
        endpoint = IppEndpoint(candidate.ipp_uri, ipp.verify_tls, ipp.timeout)
        try:
            return await self.reader.read(candidate.address, snmp, endpoint)
        except DeviceUnreachable as exc:
            log.info("%s: %s", candidate.address, exc)
            return None


def _place_service(service: MdnsService, addresses: list[str],
                   candidates: dict[str, Candidate]) -> tuple[str, str]:
    """(candidate key, address) for a service: one device may advertise several addresses, and
    one address may carry several devices' services (a print server).  Prefer an address already
    holding this device's services, then a free one, then one where only the sweep or the static
    list found something; else the service is a device of its own at its first address."""
    def holds_this_device(address: str) -> bool:
        c = candidates.get(address)
        if c is None or not c.services:
            return False
        known = {s.uuid for s in c.services if s.uuid}
        return not known or not service.uuid or service.uuid in known

    def free(address: str) -> bool:
        return address not in candidates

    def found_otherwise(address: str) -> bool:
        return not candidates[address].services

    for test in (holds_this_device, free, found_otherwise):
        for address in addresses:
            if test(address):
                return address, address
    return f"{addresses[0]} {service.uuid or service.name}", addresses[0]


def _sighting(candidate: Candidate, status: DeviceStatus | None) -> Sighting:
    """What the reading (or, failing that, the mDNS advertisement) says about the device."""
    hints = _hints(candidate.services)
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


def _hints(services: list[MdnsService]) -> dict[str, str]:
    hints: dict[str, str] = {}
    for service in services:
        for name, value in (("uuid", service.uuid), ("manufacturer", service.manufacturer),
                            ("model", service.model or service.product),
                            ("hostname", (service.server or "").removesuffix(".local.") or None)):
            if value and name not in hints:
                hints[name] = value
    return hints


def _address_order(address: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(address)
    return ip.version, int(ip)


def all_interface_addresses() -> list[str]:
    """The IPv4 address of every interface except loopback: mDNS's default when none is set."""
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.IPv4Address(ip.ip).is_loopback:
                found.append(ip.ip)
    return found
