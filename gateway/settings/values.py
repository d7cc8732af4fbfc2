"""The config's value types beyond pydantic's own: durations ("90s", "24h"), networks, http(s)
URLs, host names, the region and time-zone patterns, and the base of every section (unknown keys
refused; `true`/`false` refused wherever a number is expected)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def _duration(value: Any) -> Any:
    """Seconds as a number, or text such as "90s", "15m", "24h", "7d" (not true or false)."""
    if isinstance(value, bool):
        raise ValueError('a boolean where a duration is expected; write seconds (e.g. 300) or '
                         'text such as "90s" or "5m"')
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f'{value!r} is not a duration; write e.g. 30, "90s", "15m", "24h" '
                             'or "7d"')
        return float(match.group(1)) * _UNITS[match.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]


def _network(value: Any) -> Any:
    """An address or a network in CIDR notation.  A CIDR with host bits (`192.168.1.5/24`) is
    refused, not silently widened: it may be a typo for the one address or for another network."""
    if not isinstance(value, str):
        return value
    try:
        loose = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an address or a network; write e.g. 192.168.1.0/24 "
                         "or 192.168.1.20") from None
    address = value.strip().partition("/")[0]
    if ipaddress.ip_address(address) != loose.network_address:
        raise ValueError(f"{value!r} has host bits set (the network {loose} starts at "
                         f"{loose.network_address}); write {str(loose)!r} for the network, or "
                         f"{address!r} for the one address")
    return loose


Network = Annotated[ipaddress.IPv4Network | ipaddress.IPv6Network, BeforeValidator(_network)]


def http_url(value: str, what: str, example: str, credentials: str | None = None) -> str:
    """An absolute http(s) URL with a host, without a trailing slash.  Messages do not repeat
    the value: a proxy URL may carry a password (the cloud URL's is added by `_describe`, with
    any user name and password masked).

    A URL holding a user name or password (`https://user:pw@host`) is refused unless
    `credentials` is None; `credentials` then says why and what to write instead.
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} is not an http(s) URL; write e.g. {example}")
    if credentials is not None and "@" in parts.netloc:
        raise ValueError(f"{what} holds a user name or password, which must not be written in "
                         f"the config file; {credentials}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError:
        raise ValueError(f"{what} has an invalid port; write e.g. {example}") from None
    if parts.query or parts.fragment:
        raise ValueError(f"{what} takes no query string or fragment; write e.g. {example}")
    return value.strip().rstrip("/")


_URL_CREDENTIALS = re.compile(r"(?<=://).*@")


def mask_url_credentials(text: str) -> str:
    """`text` with the user name and password of any URL in it masked (`https://***@host`)."""
    return _URL_CREDENTIALS.sub("***@", text) if "://" in text else text


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _host(value: str) -> str:
    """An IP address (v4 or v6, without brackets) or a well-formed DNS host name."""
    host = value.strip()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")
    if host.startswith("[") and host.endswith("]"):
        fix = f"write the IPv6 address without brackets: {host[1:-1]!r}"
    elif len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels) \
            and not labels[-1].isdigit():
        return host
    else:
        fix = 'write an IP address or a host name, e.g. "127.0.0.1", "::1", "0.0.0.0" or ' \
              '"gateway.example.com"'
    raise ValueError(f"{value!r} is neither an IP address nor a host name; {fix}")


HostName = Annotated[str, AfterValidator(_host)]
"""An IP address or a host name (letters, digits and hyphens, in dot-separated labels)."""


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


def _time_zone(value: str) -> str:
    if not TIME_ZONE.match(value) or not known_zone(value):
        raise ValueError("not a known IANA time zone; write e.g. \"Asia/Tokyo\" or \"UTC\"")
    return value


def _shipping(value: str) -> str:
    if not SHIPPING.match(value):
        raise ValueError("write a country (ISO 3166-1 alpha-2) or market code in upper case, "
                         "e.g. \"JP\" or \"EU\"")
    return value


TimeZone = Annotated[str, AfterValidator(_time_zone)]
"""An IANA time zone name this machine knows (`Asia/Tokyo`, `UTC`)."""
ShippingDestination = Annotated[str, AfterValidator(_shipping)]
"""A country (ISO 3166-1 alpha-2) or market code, upper case (`JP`, `EU`)."""


def _takes_number(annotation: Any) -> bool:
    """Whether a field's type is, or holds, an int or a float (and not a bool)."""
    if annotation is bool:
        return False
    if annotation in (int, float):
        return True
    return any(_takes_number(arg) for arg in get_args(annotation))


class Section(BaseModel):
    """The base of every section: unknown keys are refused, and so are `true` and `false` where
    a number is expected (pydantic would read them as 1 and 0: `poll.interval = true` would
    poll every printer every second)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is None or not _takes_number(field.annotation):
            return value
        items = value if isinstance(value, list) else [value]
        flags = [i for i, item in enumerate(items) if isinstance(item, bool)]
        if flags:
            where = (f" at position{'s' if len(flags) > 1 else ''} {', '.join(map(str, flags))}"
                     if isinstance(value, list) else "")
            fix = ('write a duration: seconds (e.g. 300) or text such as "90s" or "5m"'
                   if any(getattr(m, "func", None) is _duration for m in field.metadata)
                   else "write a number (true and false are only for on/off keys)")
            raise ValueError(f"a boolean{where} where a number is expected; {fix}")
        return value
