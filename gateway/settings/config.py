"""The gateway's one config file (TOML), validated with pydantic into typed settings.

Every mistake is reported at once, each with the key it is about, the bad value and how to fix
it (`ConfigError.problems`).  Unknown keys are mistakes too (a misspelt key must not be silently
ignored).  Secrets — SNMP communities and keys, the cloud enrolment token — may be written in the
file, or taken from the environment (`{ env = "NAME" }`) or from a file (`{ file = "/path" }`, or
the `KEY_file = "/path"` form beside the key), and are never shown in messages or logs.  A secret
file must not be readable by group or others (`chmod 600`); `$VARIABLES` in its path are expanded,
so `"$CREDENTIALS_DIRECTORY/enrolment-token"` reads a systemd credential (`LoadCredential=`).

Every key has a default, so a file written for an older printgw stays valid.  Without
`[cloud] url` the gateway keeps no cloud link (it discovers and polls, and uploads nothing).
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import ipaddress
import itertools
import os
import re
import socket
import tomllib
import zoneinfo
from collections import deque
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from protocols.hosts import is_loopback_host
from protocols.snmp.client import AUTH_PROTOCOLS, PRIV_PROTOCOLS, SnmpCredentials


class ConfigError(Exception):
    """The config file cannot be used; `problems` lists every mistake found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n{lines}")


# -- value types -------------------------------------------------------------------------------

def _secret(value: Any) -> Any:
    """A literal string, `{ env = "NAME" }` or `{ file = "/path" }`."""
    if not isinstance(value, dict):
        return value
    if set(value) == {"env"}:
        name = value["env"]
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set; export it or write the "
                             "value in the file")
        return os.environ[name]
    if set(value) == {"file"}:
        return read_secret_file(value["file"])
    raise ValueError('write a secret as "text", { env = "NAME" } or { file = "/path" }')


def read_secret_file(name: Any) -> str:
    """The text of a secret file (surrounding white space removed), refused when group or others
    may read it: a secret in a file anyone on the machine can read is no secret."""
    if not isinstance(name, str):
        raise ValueError('write the path of a secret file in quotes, e.g. "/etc/printgw/secret"')
    path = Path(os.path.expandvars(name))
    try:
        with path.open() as file:
            mode = os.fstat(file.fileno()).st_mode
            if mode & 0o044:
                raise ValueError(f"the secret file {path} is readable by group or others (mode "
                                 f"{mode & 0o777:o}); run: chmod 600 {path}")
            return file.read().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the secret file {path}: {exc.strerror}; check the path "
                         "and that the gateway's user may read it") from None


def _secret_lines(name: Any) -> list[str]:
    """A secret file of several values: one per line; blank lines and `#` comments skipped."""
    lines = (line.strip() for line in read_secret_file(name).splitlines())
    return [line for line in lines if line and not line.startswith("#")]


Secret = Annotated[SecretStr, BeforeValidator(_secret)]
SecretFile = Annotated[SecretStr, BeforeValidator(read_secret_file)]
"""A `KEY_file` key: the path of a file holding the secret; after validation, the secret."""
SecretListFile = Annotated[list[SecretStr], BeforeValidator(_secret_lines)]
"""A `KEY_file` key for a list of secrets: one per line of the file."""


def _take_from_file(section: BaseModel, key: str) -> None:
    """`KEY_file` in place of `KEY`: the section's after-validators call this (both given is a
    mistake: which one wins would be a guess)."""
    from_file = getattr(section, f"{key}_file")
    if from_file is None:
        return
    if key in section.model_fields_set:
        raise ValueError(f"{key} and {key}_file are both set; keep one of them")
    section.__dict__[key] = from_file


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


def _http_url(value: str, what: str, example: str) -> str:
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


_REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)*$")
_SHIPPING = re.compile(r"^[A-Z0-9]{2,8}$")
_TIME_ZONE = re.compile(r"^(UTC|[A-Za-z_]+(/[A-Za-z0-9_+-]+)+)$")
"""The cloud document's `PrinterRegistration.time_zone` pattern: an IANA name such as Asia/Tokyo."""


def _host_name() -> str:
    return (socket.gethostname() or "printgw")[:128]


def host_time_zone() -> str:
    """The IANA name of this machine's time zone ($TZ, /etc/timezone, /etc/localtime), else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    with contextlib.suppress(OSError):
        candidates.append(os.readlink("/etc/localtime").partition("zoneinfo/")[2])
    for name in candidates:
        if name and _TIME_ZONE.match(name) and _known_zone(name):
            return name
    return "UTC"


def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- sections ----------------------------------------------------------------------------------

class V3User(_Section):
    """An SNMPv3 USM user (authPriv recommended)."""

    user: str | None = None
    """The user name; defaults to the table's name."""
    auth_protocol: str = "SHA"
    auth_key: Secret | None = None
    auth_key_file: SecretFile | None = None
    priv_protocol: str = "AES"
    priv_key: Secret | None = None
    priv_key_file: SecretFile | None = None
    context: str = ""

    @field_validator("auth_protocol", "priv_protocol")
    @classmethod
    def _protocol(cls, value: str, info: ValidationInfo) -> str:
        known = AUTH_PROTOCOLS if info.field_name == "auth_protocol" else PRIV_PROTOCOLS
        if value.upper() not in known:
            raise ValueError(f"unknown protocol {value!r}; use one of {', '.join(known)}")
        return value.upper()

    @field_validator("auth_key", "priv_key", "auth_key_file", "priv_key_file")
    @classmethod
    def _key_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("SNMPv3 keys must be at least 8 characters (RFC 3414); use a "
                             "longer passphrase")
        return value

    @model_validator(mode="after")
    def _usable(self) -> V3User:
        """The keys from their files; whatever else the SNMP client refuses (privacy without
        authentication)."""
        _take_from_file(self, "auth_key")
        _take_from_file(self, "priv_key")
        self.credentials("user")
        return self

    def credentials(self, name: str) -> SnmpCredentials:
        return SnmpCredentials(
            version=3, user=self.user or name, auth_protocol=self.auth_protocol.upper(),
            auth_key=self.auth_key.get_secret_value() if self.auth_key else None,
            priv_protocol=self.priv_protocol.upper(),
            priv_key=self.priv_key.get_secret_value() if self.priv_key else None,
            context=self.context)


class SnmpSettings(_Section):
    port: int = Field(161, ge=1, le=65535)
    communities: list[Secret] = Field(default_factory=lambda: [SecretStr("public")])
    """v2c communities tried in order, where a subnet or host names none of its own."""
    communities_file: SecretListFile | None = None
    """A file of communities, one per line, in place of `communities`."""
    v1: bool = False
    """Also try SNMPv1 with each community (old devices); doubles probes to silent addresses."""
    v3_users: dict[str, V3User] = Field(default_factory=dict)
    timeout: Duration = 2.0
    retries: int = Field(1, ge=0, le=5)

    @model_validator(mode="after")
    def _communities_file(self) -> SnmpSettings:
        _take_from_file(self, "communities")
        return self


class IppSettings(_Section):
    port: int = Field(631, ge=1, le=65535)
    path: str = "/ipp/print"
    """Resource path tried on devices found without mDNS (mDNS names its own path)."""
    verify_tls: bool = False
    """Printers mostly use self-signed certificates; turn on where they have real ones."""
    timeout: Duration = 5.0


class Credentials(_Section):
    """Which SNMP credentials to try, by reference to `[snmp]`."""

    communities: list[Secret] | None = None
    """v2c communities; default: `snmp.communities`."""
    communities_file: SecretListFile | None = None
    """A file of communities, one per line, in place of `communities`."""
    v3_users: list[str] | None = None
    """Names of `[snmp.v3_users.NAME]` tables; default: all of them."""

    @model_validator(mode="after")
    def _communities_file(self) -> Credentials:
        _take_from_file(self, "communities")
        return self


class Subnet(Credentials):
    cidr: Network

    @field_validator("cidr")
    @classmethod
    def _sweepable(cls, cidr: ipaddress.IPv4Network | ipaddress.IPv6Network,
                   ) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        if cidr.version == 4 and cidr.prefixlen < 16:
            raise ValueError(f"{cidr} has {cidr.num_addresses} addresses; sweep /16 or smaller "
                             "networks (list several if needed)")
        if cidr.version == 6:
            raise ValueError(f"{cidr}: IPv6 networks are not swept (too large); IPv6 printers "
                             "are found by mDNS or listed as static hosts")
        return cidr


class StaticHost(Credentials):
    host: str
    ipp_uri: str | None = None
    """The device's IPP URI when it is not ipp://HOST:631/ipp/print."""

    @field_validator("ipp_uri")
    @classmethod
    def _uri(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^ipps?://[^/]+(/.*)?$", value):
            raise ValueError(f"{value!r} is not an IPP URI; write e.g. "
                             "ipp://192.168.1.20:631/ipp/print")
        return value


class SweepSettings(_Section):
    timeout: Duration = 1.0
    retries: int = Field(1, ge=0, le=5)
    rate: float = Field(1000.0, gt=0)
    """Probe packets per second, at most."""
    window: int = Field(1024, ge=1, le=65536)
    """Addresses probed at once, at most."""


class DiscoverySettings(_Section):
    mdns: bool = True
    interfaces: list[str] = Field(default_factory=list)
    """Interfaces (names or IPv4 addresses) mDNS browses; empty: every non-loopback one."""
    mdns_listen: Duration = 5.0
    """Seconds a one-shot discovery listens for mDNS answers."""
    subnets: list[Subnet] = Field(default_factory=list)
    static: list[StaticHost] = Field(default_factory=list)
    exclude: list[Network] = Field(default_factory=list)
    """Addresses and networks never probed nor recorded, however they were found."""
    sweep: SweepSettings = SweepSettings()
    missing_after: Duration = 3 * 86400.0
    """A device not seen for this long is marked missing (never deleted)."""
    interval: Duration = 3600.0
    """`printgw run` discovers again this often."""


class GatewaySettings(_Section):
    data_dir: Path = Path("/var/lib/printgw")
    name: str = Field(default_factory=_host_name, min_length=1, max_length=128)
    """How the cloud operator sees this gateway (sent at enrolment); default: the host name."""
    region: str = "jp"
    """Installation region sent to the cloud's global entry point (S0601), lower case."""
    shipping_destination: str = "JP"
    """Market of the devices, sent at registration (S0603) where a device does not tell;
    default: the region's first part in upper case (`eu-west` → `EU`)."""
    time_zone: str = Field(default_factory=host_time_zone)
    """IANA time zone of the installation, sent at registration; default: the host's."""
    shutdown_grace: Duration = 10.0
    """On SIGTERM, readings and an upload under way get this long to finish (else they are
    dropped, to be done again after the restart) before `printgw run` exits."""

    @model_validator(mode="before")
    @classmethod
    def _shipping_from_region(cls, data: Any) -> Any:
        if isinstance(data, dict) and "shipping_destination" not in data:
            region = data.get("region", "jp")
            if isinstance(region, str) and _REGION.match(region):
                data = {**data, "shipping_destination": region.split("-")[0].upper()}
        return data

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value) or len(value) > 32:
            raise ValueError("write the region in lower case, e.g. \"jp\", \"us\" or \"eu-west\"")
        return value

    @field_validator("shipping_destination")
    @classmethod
    def _shipping(cls, value: str) -> str:
        if not _SHIPPING.match(value):
            raise ValueError("write a country (ISO 3166-1 alpha-2) or market code in upper case, "
                             "e.g. \"JP\" or \"EU\"")
        return value

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        if not _TIME_ZONE.match(value) or not _known_zone(value):
            raise ValueError("not a known IANA time zone; write e.g. \"Asia/Tokyo\" or \"UTC\"")
        return value


class CloudSettings(_Section):
    """The link to the information management server (SPEC §6)."""

    url: str | None = None
    """The cloud's global entry point (connection destination, S0601); no cloud link without it."""
    enrolment_token: Secret | None = None
    """The one-time token from the cloud operator; needed only until the gateway is enrolled."""
    enrolment_token_file: SecretFile | None = None
    """A file holding the enrolment token, in place of `enrolment_token`."""
    verify_tls: bool = True
    ca_file: Path | None = None
    """A CA certificate (PEM) to trust besides the system's, e.g. a company CA."""
    proxy: str | None = None
    """An HTTP proxy for the cloud connections, e.g. http://proxy.example.com:3128."""
    timeout: Duration = 30.0
    sync_interval: Duration = 86400.0
    """The periodic sync (FIG. 7: applications, activation, control information) this often."""
    push: bool = True
    """Keep a WebSocket open for the cloud's change notifications (FIG. 8)."""
    changes_poll_interval: Duration = 60.0
    """Poll the change stream this often while the WebSocket is down (or with push off)."""
    batch_size: int = Field(500, ge=1, le=500)
    """Status entries per upload request (the cloud takes at most 500)."""
    outbox_max_entries: int = Field(100_000, ge=1)
    """Entries kept for upload while the cloud is unreachable; beyond, the oldest periodic ones
    are dropped first."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = _http_url(value, "the cloud URL", "https://api.printgw.example")
        parts = urlsplit(url)
        if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
            raise ValueError("the cloud must be reached over https://; plain http:// is only "
                             "allowed to a loopback host (127.0.0.0/8, ::1, localhost)")
        return url

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _http_url(value, "the proxy", "http://proxy.example.com:3128")

    @field_validator("enrolment_token", "enrolment_token_file")
    @classmethod
    def _token_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 8 <= len(value.get_secret_value()) <= 256:
            raise ValueError("an enrolment token has 8 to 256 characters; copy it again from "
                             "the cloud operator")
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not os.access(value, os.R_OK):
            raise ValueError(f"cannot read {value}; give the path of a PEM certificate file")
        return value

    @model_validator(mode="after")
    def _token_file(self) -> CloudSettings:
        _take_from_file(self, "enrolment_token")
        return self


class PollSettings(_Section):
    """When each device is read (`gateway/fleet/schedule.py`)."""

    interval: Duration = 300.0
    """Time between two status readings of a device (each device on its own schedule, ±10 %)."""
    periodic_upload: Duration = 3600.0
    """A `periodic` upload this often per device, even when nothing happened."""
    concurrency: int = Field(32, ge=1, le=1024)
    """Devices read at once, at most."""
    unreachable_backoff_max: Duration = 3600.0
    """A device that does not answer is read again after twice the interval, doubling with each
    failure up to this; back to `interval` as soon as it answers."""
    sleep_backoff_max: Duration = 1800.0
    """A printer asleep (power save) is read less often in the same way, up to this, so that it
    is not woken needlessly; back to `interval` once it is awake."""


class ContractSettings(_Section):
    """Contract-mode commands from the cloud relayed to the printers as SNMP SETs (SPEC §7).

    Only the authenticated cloud link causes a SET (`gateway/commands/relay.py`).  Write
    credentials are separate from the read ones: `v3_user` (authPriv) for devices read over SNMPv3,
    `write_community` (v2c) for the others; either alone serves every device.
    """

    enabled: bool = True
    """Relay the cloud's commands; off, they are only logged (and expire in the cloud)."""
    write_community: Secret | None = None
    """The v2c community that may SET the contract MIB."""
    write_community_file: SecretFile | None = None
    """A file holding the write community, in place of `write_community`."""
    v3_user: str | None = None
    """A `[snmp.v3_users.NAME]` table with auth_key and priv_key (SETs need authPriv)."""
    retry_initial: Duration = 5.0
    """First wait before trying an unreachable device again; doubles up to `retry_max`."""
    retry_max: Duration = 300.0
    retry_for: Duration = 86400.0
    """Retries of an unreachable device stop at the command's deadline or after this long,
    whichever comes first; the command is then reported failed (`device-unreachable`)."""

    @model_validator(mode="after")
    def _write_community_file(self) -> ContractSettings:
        _take_from_file(self, "write_community")
        return self


class StatusPageSettings(_Section):
    """The local status page and `/metrics` (`gateway/local/status_page.py`), served by
    `printgw run`.

    Loopback by default: the page shows the fleet to whoever can reach it and has no login, so
    putting it on another address is a deliberate choice of the administrator.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    """The address to listen on; `0.0.0.0` or a LAN address exposes the page to the network."""
    port: int = Field(8631, ge=0, le=65535)
    """The TCP port (0: any free port, logged at start)."""


class LoggingSettings(_Section):
    """`printgw run`'s log on stderr (the journal under systemd); `--log-format` and
    `--log-level` override these."""

    format: Literal["text", "json"] = "text"
    """`text`: one line per record; `json`: one JSON object per line (time, level, logger,
    message and the record's fields)."""
    level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("format", "level", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class EventSettings(_Section):
    """What makes a reading an event worth an upload (SPEC §4, `gateway/uplink/events.py`)."""

    thresholds: list[int] = Field(default_factory=lambda: [20, 10, 5])
    """Supply levels (percent) whose downward crossing is an event; kept highest first."""
    level_jump: int = Field(30, ge=1, le=100)
    """A level rising by at least this many points means the supply was replaced."""

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, values: list[int]) -> list[int]:
        wrong = [v for v in values if not 1 <= v <= 99]
        if wrong:
            raise ValueError(f"thresholds are percentages from 1 to 99; remove {wrong}")
        return sorted(set(values), reverse=True)


_SERVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ServiceRule(_Section):
    """One `[[services.rule]]`: enable or disable services on a device or a model."""

    service: str = "*"
    """A service ID, or "*" for every service."""
    model: str | None = None
    """A glob on the device model (case-insensitive), e.g. "Apeos C*"."""
    serial: str | None = None
    """One device, by its exact serial number."""
    enabled: bool

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        if value != "*" and not _SERVICE_ID.match(value):
            raise ValueError('write a service ID (letters, digits, ".", "_", "-") or "*"')
        return value

    @field_validator("model", "serial")
    @classmethod
    def _not_blank(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty; leave the key out instead")
        if value is None or info.field_name == "serial":
            return None if value is None else value.strip()
        return " ".join(value.split())

    @model_validator(mode="after")
    def _scope(self) -> ServiceRule:
        if self.model is not None and self.serial is not None:
            raise ValueError("a rule names a serial or a model, not both (a serial rule already "
                             "means one device)")
        if self.model is None and self.serial is None and self.service == "*":
            raise ValueError('a rule for every service on every device is `services.default`; '
                             "name a service, a model or a serial")
        return self

    @property
    def level(self) -> int:
        """2 for a serial rule, 1 for a model rule, 0 for a fleet-wide rule."""
        return 2 if self.serial is not None else 1 if self.model is not None else 0


class ServicesSettings(_Section):
    """Support service enable settings (the patent's "support service valid setting").

    Which contracted services may run on which devices.  For a service on a device, the rule that
    decides is the most specific one that applies: a serial rule beats a model rule, which beats a
    fleet-wide rule (no serial, no model), which beats `default`; at the same level, a rule naming
    the service beats one for "*".  Two rules at the same level and specificity that can apply to
    the same device and service and disagree are a config error.
    """

    default: bool = True
    rule: list[ServiceRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_conflicts(self) -> ServicesSettings:
        problems = []
        for i, first in enumerate(self.rule):
            for j in range(i + 1, len(self.rule)):
                second = self.rule[j]
                if (first.level, first.service) != (second.level, second.service) \
                        or first.enabled == second.enabled:
                    continue
                overlap = _rules_overlap(first, second)
                if overlap is not None:
                    problems.append(f"rule[{i}] and rule[{j}] disagree on service "
                                    f"{first.service!r} for {overlap}; remove one or make one "
                                    "more specific")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _rules_overlap(first: ServiceRule, second: ServiceRule) -> str | None:
    """The devices two rules of one level both apply to (for a message), or None."""
    if first.serial is not None:
        return f"serial {first.serial!r}" if first.serial == second.serial else None
    if first.model is not None and second.model is not None:
        example = glob_common_match(first.model.casefold(), second.model.casefold())
        return None if example is None else f"models such as {example!r}"
    return "every device"


def _glob_tokens(pattern: str) -> list[tuple[str, frozenset[str], bool]]:
    """An fnmatch glob as tokens (kind, characters, negated): kind `*` (any run), `?` (any one
    character) or `set` (one character of the set, or not of it when negated)."""
    tokens: list[tuple[str, frozenset[str], bool]] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if not tokens or tokens[-1][0] != "*":
                tokens.append(("*", frozenset(), False))
        elif ch == "?":
            tokens.append(("?", frozenset(), False))
        elif ch == "[" and (end := _set_end(pattern, i)) != -1:
            negated = pattern[i + 1] == "!"
            body = pattern[i + 1 + negated:end]
            chars: set[str] = set()
            k = 0
            while k < len(body):
                if k + 2 < len(body) and body[k + 1] == "-":
                    chars.update(chr(c) for c in range(ord(body[k]), ord(body[k + 2]) + 1))
                    k += 3
                else:
                    chars.add(body[k])
                    k += 1
            tokens.append(("set", frozenset(chars), negated))
            i = end
        else:
            tokens.append(("set", frozenset(ch), False))
        i += 1
    return tokens


def _set_end(pattern: str, start: int) -> int:
    """Where the `[set]` opening at `start` closes, as fnmatch reads it (a `]` right after `[` or
    `[!` is a member), or -1 when it does not close (the `[` is then a plain character)."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "!":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    return pattern.find("]", i)


def _common_char(a: tuple[str, frozenset[str], bool], b: tuple[str, frozenset[str], bool],
                 ) -> str | None:
    """A character both single-character tokens accept, or None."""
    def accepts(token: tuple[str, frozenset[str], bool], ch: str) -> bool:
        kind, chars, negated = token
        return kind != "set" or (ch in chars) != negated

    members = a[1] | b[1]
    for ch in sorted(members):
        if accepts(a, ch) and accepts(b, ch):
            return ch
    # Any character in neither set is accepted alike by both tokens, so one of them tells.
    outsider = next(chr(c) for c in itertools.count(ord("a")) if chr(c) not in members)
    return outsider if accepts(a, outsider) and accepts(b, outsider) else None


def glob_common_match(first: str, second: str) -> str | None:
    """A string both fnmatch globs match (`*`, `?`, `[set]`, `[!set]`), or None when none does.

    A breadth-first search over the pair of positions in both patterns (the product of their
    automata), so the example found is a shortest one.
    """
    a, b = _glob_tokens(first), _glob_tokens(second)
    start = (0, 0)
    seen = {start: ""}
    queue = deque([start])
    while queue:
        i, j = queue.popleft()
        text = seen[(i, j)]
        if i == len(a) and j == len(b):
            return text
        moves: list[tuple[int, int, str]] = []
        if i < len(a) and a[i][0] == "*":
            moves.append((i + 1, j, ""))
        if j < len(b) and b[j][0] == "*":
            moves.append((i, j + 1, ""))
        if i < len(a) and j < len(b):
            ch = _common_char(a[i], b[j])
            if ch is not None:
                moves.append((i + (a[i][0] != "*"), j + (b[j][0] != "*"), ch))
        for ni, nj, ch in moves:
            if (ni, nj) not in seen and (ni, nj) != (i, j):
                seen[(ni, nj)] = text + ch
                queue.append((ni, nj))
    return None


def model_matches(pattern: str, model: str) -> bool:
    """A service rule's model glob against a device model, case-insensitively and with runs of
    spaces as one (devices pad their model names)."""
    return fnmatch.fnmatchcase(" ".join(model.split()).casefold(),
                               " ".join(pattern.split()).casefold())


class Config(_Section):
    gateway: GatewaySettings = GatewaySettings()
    snmp: SnmpSettings = SnmpSettings()
    ipp: IppSettings = IppSettings()
    discovery: DiscoverySettings = DiscoverySettings()
    cloud: CloudSettings = CloudSettings()
    poll: PollSettings = PollSettings()
    events: EventSettings = EventSettings()
    services: ServicesSettings = ServicesSettings()
    contract: ContractSettings = ContractSettings()
    status_page: StatusPageSettings = StatusPageSettings()
    logging: LoggingSettings = LoggingSettings()

    @model_validator(mode="after")
    def _v3_write_user(self) -> Config:
        """The contract's v3 user can SET.  (Names of undefined users are found by
        `parse_config` in the file itself, so that they are reported with every other
        mistake: this validator only runs when everything else is valid.)"""
        name = self.contract.v3_user
        user = self.snmp.v3_users.get(name) if name is not None else None
        if user is not None and (user.auth_key is None or user.priv_key is None):
            raise ValueError(f"contract.v3_user {name!r} needs auth_key and priv_key: SETs "
                             "are only sent with authentication and privacy (authPriv)")
        return self

    # -- what the settings mean ----------------------------------------------------------------

    def credentials(self, scope: Credentials | None = None) -> list[SnmpCredentials]:
        """The SNMP credentials to try for a subnet or host, in order: v2c (v1), then v3."""
        communities = self.snmp.communities
        users = list(self.snmp.v3_users)
        if scope is not None:
            communities = scope.communities if scope.communities is not None else communities
            users = scope.v3_users if scope.v3_users is not None else users
        versions = (2, 1) if self.snmp.v1 else (2,)
        result = [SnmpCredentials(version=v, community=c.get_secret_value())
                  for c in communities for v in versions]
        result += [self.snmp.v3_users[name].credentials(name) for name in users]
        return result

    def scope_for(self, address: str) -> Credentials | None:
        """The static entry or subnet an address belongs to (static first), if any."""
        for host in self.discovery.static:
            if host.host == address:
                return host
        ip = ipaddress.ip_address(address)
        for subnet in self.discovery.subnets:
            if ip in subnet.cidr:
                return subnet
        return None

    def excluded(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.discovery.exclude)


def parse_config(data: dict[str, Any], source: str = "config") -> Config:
    """Validate a config document; raise `ConfigError` naming every mistake."""
    problems = _undefined_v3_users(data)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors()] + problems
    if problems:
        raise ConfigError(source, problems)
    return config


def _undefined_v3_users(data: Any) -> list[str]:
    """Every reference to an `[snmp.v3_users.NAME]` table that is not defined, read from the
    document itself (whatever else is wrong in it)."""
    def table(parent: Any, key: str) -> dict[str, Any]:
        value = parent.get(key) if isinstance(parent, dict) else None
        return value if isinstance(value, dict) else {}

    known = set(table(table(data, "snmp"), "v3_users"))
    references: list[tuple[str, Any]] = []
    discovery = table(data, "discovery")
    for kind in ("subnets", "static"):
        rows = discovery.get(kind)
        for i, row in enumerate(rows if isinstance(rows, list) else []):
            names = row.get("v3_users") if isinstance(row, dict) else None
            references += [(f"discovery.{kind}[{i}].v3_users", name)
                           for name in (names if isinstance(names, list) else [])]
    references.append(("contract.v3_user", table(data, "contract").get("v3_user")))
    return [f"{where}: names {name!r}, which is not defined; add a [snmp.v3_users.{name}] table "
            "or remove the name" for where, name in references
            if isinstance(name, str) and name not in known]


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def read_toml(path: Path | str) -> dict[str, Any]:
    """The file's TOML as a dict, unvalidated; `ConfigError` when unreadable or not TOML."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [_toml_problem(str(exc))]) from None


def _toml_problem(message: str) -> str:
    """`line N, column M: not valid TOML: what` and how TOML is written.  (The line itself is not
    shown: it may hold a secret.)"""
    found = _TOML_POSITION.search(message)
    where = f"line {found.group(1)}, column {found.group(2)}: " if found else ""
    what = message[:found.start()] if found else message
    return (f"{where}not valid TOML: {what}; write tables as [name], values as key = value, "
            'text in "quotes" (https://toml.io)')


def load_config(path: Path | str) -> Config:
    """Read and validate a config file; raise `ConfigError` naming every mistake."""
    return parse_config(read_toml(path), str(path))


_FIXES = {
    "bool_parsing": "write true or false", "bool_type": "write true or false",
    "int_parsing": "write a whole number", "int_type": "write a whole number",
    "int_from_float": "write a whole number", "float_parsing": "write a number",
    "float_type": "write a number", "string_type": 'write text in "quotes"',
    "list_type": "write a list in [brackets]", "dict_type": "write a table",
    "model_type": "write a table ([section] or { key = value })", "missing": "add this key",
}
"""How to fix what pydantic's own messages only describe."""


def _describe(error: Any) -> str:
    loc = error["loc"]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    where = where.lstrip(".") or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key{_did_you_mean(loc)}"
    if error["type"] in _FIXES:
        message = f"{message}; {_FIXES[error['type']]}"
    value = error.get("input")
    if isinstance(value, dict) or error["type"] == "missing" or _is_secret_path(loc) \
            or repr(value) in message:  # the message names it already
        return f"{where}: {message}"
    return f"{where}: {message} (got {value!r})"


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    model: Any = Config
    skip_key = False
    for part in loc[:-1]:
        if isinstance(part, int) or skip_key:  # a list index, or the NAME of a dict of tables
            skip_key = False
            continue
        field = model.model_fields.get(part) if isinstance(model, type) else None
        if field is None:
            return ""
        skip_key = getattr(field.annotation, "__origin__", None) is dict
        model = _model_of(field.annotation)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    known = ", ".join(model.model_fields)
    return (f"; did you mean {close[0]!r}?" if close
            else f"; remove it, or use one of the known keys: {known}")


def _model_of(annotation: Any) -> Any:
    """The model class inside `list[Model]`, `dict[str, Model]`, `Model | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _is_secret_path(loc: tuple[Any, ...]) -> bool:
    return any(part in ("communities", "auth_key", "priv_key", "enrolment_token", "proxy",
                        "write_community")
               for part in loc)



def changed_keys(old: BaseModel, new: BaseModel, prefix: str = "") -> list[str]:
    """The dotted keys whose values differ between two configs (or sections), down to the keys of
    the sections; a list or a table of tables (`discovery.static`, `snmp.v3_users`) is one key.
    Names only: the values may be secrets."""
    changed = []
    for name in type(old).model_fields:
        before, after = getattr(old, name), getattr(new, name)
        if before == after:
            continue
        if isinstance(before, BaseModel) and type(before) is type(after):
            changed += changed_keys(before, after, f"{prefix}{name}.")
        else:
            changed.append(f"{prefix}{name}")
    return changed
