"""The config's value types beyond pydantic's own: durations ("90s", "24h"), networks, http(s)
URLs, the region and time-zone patterns, and the base of every section (unknown keys refused)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import zoneinfo
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def _duration(value: Any) -> Any:
    """Seconds as a number, or text such as "90s", "15m", "24h", "7d"."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f'{value!r} is not a duration; write e.g. 30, "90s", "15m", "24h" '
                             'or "7d"')
        return float(match.group(1)) * _UNITS[match.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]


def _network(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an address or a network; write e.g. 192.168.1.0/24 "
                         "or 192.168.1.20") from None


Network = Annotated[ipaddress.IPv4Network | ipaddress.IPv6Network, BeforeValidator(_network)]


def http_url(value: str, what: str, example: str) -> str:
    """An absolute http(s) URL with a host, without a trailing slash.  Messages do not repeat
    the value: a proxy URL may carry a password (the cloud URL's is added by `_describe`)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} is not an http(s) URL; write e.g. {example}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError:
        raise ValueError(f"{what} has an invalid port; write e.g. {example}") from None
    if parts.query or parts.fragment:
        raise ValueError(f"{what} takes no query string or fragment; write e.g. {example}")
    return value.strip().rstrip("/")


REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)*$")
SHIPPING = re.compile(r"^[A-Z0-9]{2,8}$")
TIME_ZONE = re.compile(r"^(UTC|[A-Za-z_]+(/[A-Za-z0-9_+-]+)+)$")
"""The cloud document's `PrinterRegistration.time_zone` pattern: an IANA name such as Asia/Tokyo."""


def host_name() -> str:
    return (socket.gethostname() or "printgw")[:128]


def host_time_zone() -> str:
    """The IANA name of this machine's time zone ($TZ, /etc/timezone, /etc/localtime), else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    with contextlib.suppress(OSError):
        candidates.append(os.readlink("/etc/localtime").partition("zoneinfo/")[2])
    for name in candidates:
        if name and TIME_ZONE.match(name) and known_zone(name):
            return name
    return "UTC"


def known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True




class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
