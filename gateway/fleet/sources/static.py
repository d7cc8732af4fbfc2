"""The static hosts of `[discovery]`: configured by name or address, with an IPP URI or not."""

from __future__ import annotations

import asyncio
import socket

from gateway.fleet.sources.candidate import Candidate, Candidates
from gateway.settings.schema import Config


async def add_static_hosts(config: Config, candidates: Candidates, errors: list[str]) -> int:
    """Add each static host at the address its name resolves to (IPv4 first); what cannot be
    resolved goes to `errors`.  Returns how many were excluded."""
    loop = asyncio.get_running_loop()
    excluded = 0
    for host in config.discovery.static:
        try:
            infos = await loop.getaddrinfo(host.host, None, type=socket.SOCK_DGRAM)
        except OSError as exc:
            errors.append(f"static host {host.host}: cannot resolve it ({exc})")
            continue
        address = str(sorted(infos, key=lambda i: i[0] != socket.AF_INET)[0][4][0])
        if config.excluded(address):
            excluded += 1
            continue
        candidate = candidates.setdefault(address, Candidate(address))
        candidate.sources.add("static")
        candidate.scope = host
        if host.ipp_uri:
            candidate.ipp_uri, candidate.ipp_source = host.ipp_uri, "static"
    return excluded
