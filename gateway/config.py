"""The gateway's one config file (TOML), validated with pydantic into typed settings.

Every mistake is reported at once, each with the key it is about, the bad value and how to fix
it (`ConfigError.problems`).  Unknown keys are mistakes too (a misspelt key must not be silently
ignored).  Secrets — SNMP communities and keys — may be written in the file, or taken from the
environment (`{ env = "NAME" }`) or from a file (`{ file = "/path" }`), and are never shown in
messages or logs.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

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
        path = Path(str(value["file"]))
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read the secret file {path}: {exc.strerror}") from exc
    raise ValueError('write a secret as "text", { env = "NAME" } or { file = "/path" }')


Secret = Annotated[SecretStr, BeforeValidator(_secret)]

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


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- sections ----------------------------------------------------------------------------------

class V3User(_Section):
    """An SNMPv3 USM user (authPriv recommended)."""

    user: str | None = None
    """The user name; defaults to the table's name."""
    auth_protocol: str = "SHA"
    auth_key: Secret | None = None
    priv_protocol: str = "AES"
    priv_key: Secret | None = None
    context: str = ""

    @field_validator("auth_protocol", "priv_protocol")
    @classmethod
    def _protocol(cls, value: str, info: ValidationInfo) -> str:
        known = AUTH_PROTOCOLS if info.field_name == "auth_protocol" else PRIV_PROTOCOLS
        if value.upper() not in known:
            raise ValueError(f"unknown protocol {value!r}; use one of {', '.join(known)}")
        return value.upper()

    @field_validator("auth_key", "priv_key")
    @classmethod
    def _key_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 8:
            raise ValueError("SNMPv3 keys must be at least 8 characters (RFC 3414)")
        return value

    @model_validator(mode="after")
    def _usable(self) -> V3User:
        """Whatever else the SNMP client refuses (privacy without authentication)."""
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
    v1: bool = False
    """Also try SNMPv1 with each community (old devices); doubles probes to silent addresses."""
    v3_users: dict[str, V3User] = Field(default_factory=dict)
    timeout: Duration = 2.0
    retries: int = Field(1, ge=0, le=5)


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
    v3_users: list[str] | None = None
    """Names of `[snmp.v3_users.NAME]` tables; default: all of them."""


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


class GatewaySettings(_Section):
    data_dir: Path = Path("/var/lib/printgw")


class Config(_Section):
    gateway: GatewaySettings = GatewaySettings()
    snmp: SnmpSettings = SnmpSettings()
    ipp: IppSettings = IppSettings()
    discovery: DiscoverySettings = DiscoverySettings()

    @model_validator(mode="after")
    def _v3_references(self) -> Config:
        known = set(self.snmp.v3_users)
        scopes = [(f"discovery.subnets[{i}]", s) for i, s in enumerate(self.discovery.subnets)]
        scopes += [(f"discovery.static[{i}]", s) for i, s in enumerate(self.discovery.static)]
        for where, scope in scopes:
            for name in scope.v3_users or ():
                if name not in known:
                    raise ValueError(f"{where}.v3_users names {name!r}, which is not defined; "
                                     f"add a [snmp.v3_users.{name}] table")
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
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_describe(error) for error in exc.errors()]) from None


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
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None


def load_config(path: Path | str) -> Config:
    """Read and validate a config file; raise `ConfigError` naming every mistake."""
    return parse_config(read_toml(path), str(path))


def _describe(error: Any) -> str:
    loc = error["loc"]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    where = where.lstrip(".") or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key{_did_you_mean(loc)}"
    value = error.get("input")
    if isinstance(value, dict) or error["type"] == "missing" or _is_secret_path(loc):
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
    return f"; did you mean {close[0]!r}?" if close else f"; known keys: {known}"


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
    return any(part in ("communities", "auth_key", "priv_key") for part in loc)

