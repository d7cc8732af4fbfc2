"""A supply's forecast as a reading carries it (`DeviceStatus.forecasts`): when it runs out and
how many pages it has left.  Computed by `gateway.fleet.forecast` from the level history; a
plain value here so that the reading, the uplink's `supplies.forecast` data type and the status
page share one shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

Confidence = Literal["low", "medium", "high"]
Method = Literal["per-page", "per-day"]


@dataclass(frozen=True)
class SupplyForecast:
    """One supply's forecast, or why there is none (`reason`, every estimate None).

    For a filled receptacle (waste toner: `class` filled) "empty" is when it is full: its level
    is the remaining space, which falls as it fills, so the same numbers apply."""

    index: str
    """The supply's `Supply.index`."""
    days_to_empty: float | None = None
    pages_remaining: int | None = None
    """None without a page counter (the estimate is then per day only)."""
    empty_on: date | None = None
    """The day it runs out (in UTC), from the reading's time and `days_to_empty`."""
    confidence: Confidence | None = None
    method: Method | None = None
    """`per-page`: level per page printed, then pages per day; `per-day`: level per day alone."""
    basis_points: int = 0
    """History points since the last cartridge swap the forecast rests on."""
    basis_days: float = 0.0
    """Days of history those points span."""
    reason: str | None = None
    """Why there is no forecast: `too few points`, `too short a span`, `no consumption yet`,
    `level unknown` … (one line, for people)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "days_to_empty": self.days_to_empty,
            "pages_remaining": self.pages_remaining,
            "empty_on": None if self.empty_on is None else self.empty_on.isoformat(),
            "confidence": self.confidence,
            "method": self.method,
            "basis_points": self.basis_points,
            "basis_days": self.basis_days,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> SupplyForecast:
        empty_on = document.get("empty_on")
        return cls(index=document["index"], days_to_empty=document.get("days_to_empty"),
                   pages_remaining=document.get("pages_remaining"),
                   empty_on=None if empty_on is None else date.fromisoformat(empty_on),
                   confidence=document.get("confidence"), method=document.get("method"),
                   basis_points=document.get("basis_points", 0),
                   basis_days=document.get("basis_days", 0.0), reason=document.get("reason"))
