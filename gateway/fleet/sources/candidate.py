"""The addresses the discovery sources found, with what is known before reading them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.settings.discovery import Credentials
from protocols.snmp.sweep import SweepHit

if TYPE_CHECKING:
    from protocols.mdns.service import MdnsService


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


Candidates = dict[str, Candidate]
"""The run's candidates by address (a print server's extra devices by address and name)."""
