"""What a virtual printer has counted: impressions by job function, colour and media size, duplex
sheets, and pages scanned — the truth its vendor counter objects (`simulator.vendor_counters`)
and IPP counters are served from."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from protocols.snmp.vendor_counters import Colour, Function, Meter, Size

JOB_FUNCTIONS: tuple[Function, ...] = ("print", "copy", "fax")
"""Job functions that print (a scan prints nothing)."""


@dataclass
class PageMeters:
    impressions: Counter[tuple[Function, Colour, Size]] = field(default_factory=Counter)
    duplex_sheets: Counter[Function] = field(default_factory=Counter)
    scanned: int = 0

    @classmethod
    def starting_at(cls, mono: int, color: int) -> PageMeters:
        """A printer's history before the simulation: everything printed on small media."""
        meters = cls()
        meters.impressions[("print", "mono", "small")] = mono
        meters.impressions[("print", "color", "small")] = color
        return meters

    def add(self, pages: int, function: Function, colour: Colour, size: Size,
            duplex: bool) -> None:
        """`pages` impressions printed; on both sides of a sheet when `duplex`."""
        self.impressions[(function, colour, size)] += pages
        if duplex:
            self.duplex_sheets[function] += (pages + 1) // 2

    def count(self, meter: Meter) -> int:
        """The value a counter object counting `meter` shows."""
        if meter.function == "scan":
            return self.scanned
        if meter.duplex:
            return sum(n for function, n in self.duplex_sheets.items()
                       if meter.function in (None, function))
        return sum(n for (function, colour, size), n in self.impressions.items()
                   if meter.function in (None, function) and meter.colour in (None, colour)
                   and meter.size in (None, size))
