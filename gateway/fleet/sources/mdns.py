"""mDNS: the devices that advertise their print services, placed on candidate addresses."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import ifaddr

from gateway.fleet.sources.candidate import Candidate, Candidates
from gateway.settings.discovery import DiscoverySettings
from gateway.settings.schema import Config

if TYPE_CHECKING:
    from protocols.mdns.service import MdnsService


async def browse_services(settings: DiscoverySettings, errors: list[str]) -> list[MdnsService]:
    """The services advertised on the configured interfaces (none when mDNS is off); what
    stops the browsing goes to `errors`."""
    if not settings.mdns:
        return []
    # imported here: zeroconf (~3 MB) is needed only when mDNS discovery is on
    from protocols.mdns.browser import browse
    from protocols.mdns.interfaces import interface_addresses

    try:
        interfaces = (interface_addresses(settings.interfaces) if settings.interfaces
                      else all_interface_addresses())
    except ValueError as exc:
        errors.append(f"mDNS: {exc}")
        return []
    if not interfaces:
        errors.append("mDNS: no interface with an IPv4 address to browse on")
        return []
    return await browse(interfaces, settings.mdns_listen)


def add_service(config: Config, service: MdnsService, candidates: Candidates) -> bool:
    """Add `service` to the candidate it belongs to (`_place_service`); its IPP URI is the
    candidate's unless a configured one is.  True when some of its addresses are excluded."""
    addresses = [a for a in service.addresses if not config.excluded(a)]
    excluded = len(addresses) < len(service.addresses)
    if not addresses:
        return excluded
    key, address = _place_service(service, addresses, candidates)
    candidate = candidates.get(key)
    if candidate is None:
        candidate = candidates[key] = Candidate(address, ipp_only=key != address)
    candidate.sources.add("mdns")
    candidate.services.append(service)
    if candidate.scope is None:
        candidate.scope = config.scope_for(address)
    uri = service.ipp_uri_at(address)
    if uri is None or candidate.ipp_source == "static":  # what IT configured wins
        return excluded
    if candidate.ipp_uri is None or (uri.startswith("ipp:") and
                                     candidate.ipp_uri.startswith("ipps:")):
        candidate.ipp_uri, candidate.ipp_source = uri, "mdns"
    return excluded


def _place_service(service: MdnsService, addresses: list[str],
                   candidates: Candidates) -> tuple[str, str]:
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


def service_hints(services: list[MdnsService]) -> dict[str, str]:
    """What the advertisements say of the device (uuid, manufacturer, model, hostname): what a
    device that cannot be read is recorded with."""
    hints: dict[str, str] = {}
    for service in services:
        for name, value in (("uuid", service.uuid), ("manufacturer", service.manufacturer),
                            ("model", service.model or service.product),
                            ("hostname", (service.server or "").removesuffix(".local.") or None)):
            if value and name not in hints:
                hints[name] = value
    return hints


def all_interface_addresses() -> list[str]:
    """The IPv4 address of every interface except loopback: mDNS's default when none is set."""
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.IPv4Address(ip.ip).is_loopback:
                found.append(ip.ip)
    return found
