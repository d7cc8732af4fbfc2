"""The SNMP sweep: which addresses of a subnet answer SNMP, and with which credentials.

The same probe then tells which credentials, if any, answer at the addresses the other sources
found (`probe_unswept`), handing on each candidate as soon as that is known, so that reading it
need not wait for the probe of thousands of others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.fleet.sources.candidate import Candidate, Candidates
from gateway.settings.discovery import Subnet
from gateway.settings.schema import Config
from protocols.snmp.client import SnmpClient
from protocols.snmp.model import SnmpCredentials
from protocols.snmp.sweep import ProbedCallback, SweepHit, SweepProgress, sweep

ProgressCallback = Callable[[str, int, int], None]
"""(phase, done, total): e.g. ("sweep 10.0.0.0/24", 120, 254), ("identify", 3, 50)."""

ReadyCallback = Callable[[Candidate], Awaitable[None]]
"""Given a candidate once its SNMP credentials are known (`Candidate.hit`, None: no answer)."""


@dataclass
class SubnetSweep:
    """What sweeping one subnet came to, for the run's report."""

    swept: int = 0
    answered: int = 0
    """Addresses whose SNMP agent answered (printers or not)."""
    excluded: int = 0


class SnmpSweep:
    """Sweeps with the `[discovery.sweep]` settings, reporting progress per phase."""

    def __init__(self, config: Config, client: SnmpClient, progress: ProgressCallback) -> None:
        self.config = config
        self.client = client
        self.progress = progress

    async def sweep_subnet(self, subnet: Subnet, candidates: Candidates) -> SubnetSweep:
        """Sweep `subnet` with its credentials; each printer that answers is a candidate."""
        network = subnet.cidr
        hosts = [str(ip) for ip in network.hosts()] or [str(network.network_address)]
        addresses = [a for a in hosts if not self.config.excluded(a)]
        hits = await self._sweep(addresses, self.config.credentials(subnet), f"sweep {network}")
        for hit in hits:
            if hit.is_printer:
                candidate = candidates.setdefault(hit.address, Candidate(hit.address))
                candidate.sources.add("snmp-sweep")
                candidate.hit = hit
                candidate.scope = subnet
        return SubnetSweep(swept=len(addresses), answered=len(hits),
                           excluded=len(hosts) - len(addresses))

    async def probe_unswept(self, candidates: Candidates, ready: ReadyCallback) -> None:
        """Which SNMP credentials, if any, answer at addresses found by mDNS or the static list.

        Every candidate is given to `ready` once: those not to probe (swept already, IPP only,
        IPv6, no credentials) alongside the probe, each probed one as soon as it answered or
        stayed silent through its retries.
        """
        # One probe per set of credentials, not per scope: every static host is a scope of its
        # own, and thousands of them mostly share the same credentials.
        scopes: dict[int, tuple[SnmpCredentials, ...]] = {}
        by_credentials: dict[tuple[SnmpCredentials, ...], list[str]] = {}
        unprobed: list[Candidate] = []
        for c in candidates.values():  # SNMP is read over IPv4 only
            if c.hit is None and not c.ipp_only and ":" not in c.address:
                if id(c.scope) not in scopes:
                    scopes[id(c.scope)] = tuple(self.config.credentials(c.scope))
                if scopes[id(c.scope)]:
                    by_credentials.setdefault(scopes[id(c.scope)], []).append(c.address)
                    continue
            unprobed.append(c)

        async def probed(address: str, hit: SweepHit | None) -> None:
            candidate = candidates[address]  # keyed by address: never an ipp_only one
            candidate.hit = hit
            await ready(candidate)

        async def hand_on_unprobed() -> None:
            for candidate in unprobed:
                await ready(candidate)

        handing_on = asyncio.ensure_future(hand_on_unprobed())
        try:
            for credentials, addresses in by_credentials.items():
                await self._sweep(addresses, list(credentials), "SNMP probe", probed)
            await handing_on
        finally:
            handing_on.cancel()

    async def _sweep(self, addresses: list[str], credentials: list[SnmpCredentials],
                     phase: str, on_probed: ProbedCallback | None = None) -> list[SweepHit]:
        if not addresses or not credentials:
            return []
        settings = self.config.discovery.sweep

        def on_progress(p: SweepProgress) -> None:
            self.progress(phase, p.probed, p.total)

        return await sweep(addresses, credentials, port=self.config.snmp.port,
                           timeout=settings.timeout, retries=settings.retries, rate=settings.rate,
                           window=settings.window, progress=on_progress, client=self.client,
                           on_probed=on_probed)
