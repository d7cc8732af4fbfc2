"""Time as the protocol writes it: RFC 3339 `date-time` strings in UTC with `Z`, the one way
every part of printgw (gateway, reference cloud, tests) puts a moment on the wire or in a log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

Precision = Literal["auto", "seconds", "milliseconds"]
"""`auto`: microseconds only when there are any (`datetime.isoformat`'s default)."""


def rfc3339(moment: datetime | float, precision: Precision = "auto") -> str:
    """`2025-07-01T12:00:00Z`: an aware datetime, or seconds since the epoch, in UTC."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat(timespec=precision).replace("+00:00", "Z")
