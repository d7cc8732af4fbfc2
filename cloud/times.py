"""Time as the cloud keeps it: aware UTC datetimes inside, RFC 3339 strings with `Z` on the wire
(written by `protocols.cloud.times.rfc3339`, read by `parse`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE)


def now() -> datetime:
    return datetime.now(UTC)


def parse(text: str) -> datetime:
    """An RFC 3339 date-time as an aware UTC datetime; ValueError when it is not one (or when it
    cannot be expressed in UTC, e.g. year 9999 with a negative offset)."""
    if not _RFC3339.match(text):
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    try:
        return datetime.fromisoformat(text.upper()).astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"out of range: {text!r}") from exc
