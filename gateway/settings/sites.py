"""`[[gateway.sites]]`: the time zone and shipping destination of the devices at one site.

A gateway can serve printers in several offices (other subnets, other countries, other time
zones); the registration (S0603) tells the cloud each device's own.  A rule names the devices by
`networks` (CIDRs or addresses) and/or `hosts` (addresses or host names), and sets `time_zone`
and/or `shipping_destination`.  For each of the two values the most specific matching rule that
sets it wins: a host entry before any network, a longer prefix before a shorter one; a device no
rule sets a value for gets `[gateway] time_zone` / `shipping_destination`.

Two rules setting the same value for the same network or host would make the winner depend on
their order: refused (`check_sites`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import Field, model_validator

from gateway.settings.values import HostName, Network, Section, ShippingDestination, TimeZone

SITE_KEYS = ("time_zone", "shipping_destination")
_HOST_SPECIFICITY = 256
"""A host entry is more specific than any network (an IPv6 prefix is at most 128 bits)."""


class SiteRule(Section):
    """One `[[gateway.sites]]` rule."""

    name: str | None = None
    """For messages and the registration's log line, e.g. "Osaka office"."""
    networks: list[Network] = Field(default_factory=list)
    hosts: list[HostName] = Field(default_factory=list)
    time_zone: TimeZone | None = None
    shipping_destination: ShippingDestination | None = None

    @model_validator(mode="after")
    def _complete(self) -> SiteRule:
        if not self.networks and not self.hosts:
            raise ValueError("a site names its devices: add `networks` (e.g. [\"10.2.0.0/16\"]) "
                             "or `hosts` (addresses or host names)")
        if self.time_zone is None and self.shipping_destination is None:
            raise ValueError("a site sets `time_zone` (e.g. \"Asia/Tokyo\") and/or "
                             "`shipping_destination` (e.g. \"JP\")")
        return self

    def specificity(self, addresses: Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address],
                    host_names: set[str]) -> int | None:
        """How closely the rule matches a device (higher: closer), None when it does not."""
        if any(host.lower() in host_names for host in self.hosts):
            return _HOST_SPECIFICITY
        prefixes = [network.prefixlen for network in self.networks
                    for address in addresses if address in network]
        return max(prefixes, default=None)

    @property
    def label(self) -> str:
        return self.name or ", ".join([*map(str, self.networks), *self.hosts])


@dataclass(frozen=True)
class Site:
    """What a device is registered with, and where each value came from (for the log)."""

    time_zone: str
    shipping_destination: str
    time_zone_from: str | None = None
    """The rule's label, None: `[gateway] time_zone`."""
    shipping_destination_from: str | None = None


def site_for(rules: Sequence[SiteRule], time_zone: str, shipping_destination: str,
             names: Iterable[str]) -> Site:
    """The site of a device known by `names` (its addresses and host names)."""
    names = [name for name in names if name]
    addresses = [address for address in map(_address, names) if address is not None]
    host_names = {name.lower() for name in names} | {str(a) for a in addresses}
    matching = sorted(((rank, index, rule) for index, rule in enumerate(rules)
                       if (rank := rule.specificity(addresses, host_names)) is not None),
                      key=lambda match: -match[0])
    chosen = {key: next((rule for _, _, rule in matching if getattr(rule, key) is not None), None)
              for key in SITE_KEYS}
    tz_rule, ship_rule = chosen["time_zone"], chosen["shipping_destination"]
    return Site(
        time_zone=tz_rule.time_zone if tz_rule and tz_rule.time_zone else time_zone,
        shipping_destination=(ship_rule.shipping_destination
                              if ship_rule and ship_rule.shipping_destination
                              else shipping_destination),
        time_zone_from=tz_rule.label if tz_rule else None,
        shipping_destination_from=ship_rule.label if ship_rule else None)


def check_sites(rules: Sequence[SiteRule]) -> None:
    """Refuse two rules that set the same value for the same network or host."""
    seen: dict[tuple[str, str], int] = {}
    for index, rule in enumerate(rules):
        scopes = [("networks", str(n)) for n in rule.networks] + \
                 [("hosts", h.lower()) for h in rule.hosts]
        for key in SITE_KEYS:
            if getattr(rule, key) is None:
                continue
            for list_name, scope in scopes:
                other = seen.setdefault((key, scope), index)
                if other != index:
                    raise ValueError(
                        f"gateway.sites[{index}].{list_name}: {scope} is also in "
                        f"gateway.sites[{other}], and both set {key}; keep one of them")


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None
