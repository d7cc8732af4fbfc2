"""The static hosts of `[discovery]`: configured by name or address, with an IPP URI or not."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from gateway.fleet.sources.candidate import Candidate, Candidates
from gateway.settings.schema import Config


async def add_static_hosts(config: Config, candidates: Candidates, errors: list[str]) -> int:
    """Add each static host at the address its name resolves to (IPv4 first); what cannot be
    resolved goes to `errors`.  Returns how many were excluded."""
    excluded = 0
    for host in config.discovery.static:
        address = _literal(host.host) or await _resolve(host.host, errors)
        if address is None:
            continue
        if config.excluded(address):
            excluded += 1
            continue
        candidate = candidates.setdefault(address, Candidate(address))
        candidate.sources.add("static")
        candidate.scope = host
        if host.ipp_uri:
            candidate.ipp_uri, candidate.ipp_source = host.ipp_uri, "static"
    return excluded


def _literal(host: str) -> str | None:
    """The address itself when `host` is one: no resolver (a thread each) for thousands of
    hosts listed by address."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


async def _resolve(host: str, errors: list[str]) -> str | None:
    """The address `host` resolves to (IPv4 first); None, and why in `errors`, when it does not."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError as exc:
        errors.append(f"static host {host}: cannot resolve it ({exc})")
        return None
    return str(sorted(infos, key=lambda i: i[0] != socket.AF_INET)[0][4][0])
