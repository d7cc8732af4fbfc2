"""Which interfaces zeroconf is pinned to: named by the caller, never "all of them"."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import ifaddr
from zeroconf import IPVersion


def interface_addresses(names_or_addresses: Sequence[str]) -> list[str]:
    """The IPv4 address to pin zeroconf to for each interface name (`eth0`) or address.

    An address is kept as given (it must be configured on an interface, or be loopback); a name
    gives its interface's first IPv4 address (multicast group membership is per interface, so one
    address per interface is enough).  ValueError, naming the known interfaces, for an unknown
    name, an interface without IPv4, an address nobody has, or 0.0.0.0 (all interfaces).
    """
    adapters = ifaddr.get_adapters()
    owned = {ip.ip for a in adapters for ip in a.ips if isinstance(ip.ip, str)}
    out: list[str] = []
    for item in names_or_addresses:
        item = item.strip()
        try:
            ip = ipaddress.ip_address(item)
        except ValueError:
            ip = None
        if ip is not None:
            if ip.version != 4:
                raise ValueError(f"mDNS interface {item!r}: give an IPv4 address or a name")
            if ip.is_unspecified:
                raise ValueError("mDNS interface 0.0.0.0 means every interface: name one "
                                 "interface or give its address")
            if not ip.is_loopback and item not in owned:
                raise ValueError(f"no network interface has the address {item}")
            address = str(ip)
        else:
            adapter = next((a for a in adapters if item in (a.name, a.nice_name)), None)
            if adapter is None:
                known = ", ".join(sorted({a.nice_name for a in adapters})) or "none"
                raise ValueError(f"unknown network interface {item!r} (known: {known})")
            v4 = [ip.ip for ip in adapter.ips if isinstance(ip.ip, str)]
            if not v4:
                raise ValueError(f"network interface {item!r} has no IPv4 address")
            address = v4[0]
        if address not in out:
            out.append(address)
    return out


def _interface_indexes(names_or_addresses: Sequence[str]) -> list[int]:
    """IPv6 multicast is joined per interface index: the indexes of the named interfaces (or of
    the interfaces owning the given IPv4 addresses)."""
    wanted = set(interface_addresses(names_or_addresses)) | set(names_or_addresses)
    out = []
    for adapter in ifaddr.get_adapters():
        ips = {ip.ip for ip in adapter.ips if isinstance(ip.ip, str)}
        has_v6 = any(not isinstance(ip.ip, str) for ip in adapter.ips)
        if has_v6 and adapter.index is not None and (
                adapter.name in wanted or adapter.nice_name in wanted or ips & wanted):
            out.append(adapter.index)
    return out


def required_interfaces(names_or_addresses: Sequence[str] | str) -> list[str]:
    """The interfaces named (one name alone is one interface); ValueError for none at all."""
    if isinstance(names_or_addresses, str):
        names_or_addresses = [names_or_addresses]
    if not names_or_addresses:
        raise ValueError("mDNS needs at least one interface: it never browses on all of them")
    return list(names_or_addresses)


def zeroconf_interfaces(names_or_addresses: Sequence[str], ip_version: IPVersion) -> list[Any]:
    """zeroconf's `interfaces` argument for the interfaces named: their IPv4 addresses and, for
    IPv6, their indexes."""
    names_or_addresses = required_interfaces(names_or_addresses)
    specs: list[Any] = []
    if ip_version != IPVersion.V6Only:
        specs += interface_addresses(names_or_addresses)
    if ip_version != IPVersion.V4Only:
        indexes = _interface_indexes(names_or_addresses)
        if not indexes and ip_version == IPVersion.V6Only:
            raise ValueError(f"no IPv6 on the mDNS interfaces {list(names_or_addresses)}")
        specs += indexes
    return specs
