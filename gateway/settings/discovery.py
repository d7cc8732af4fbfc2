"""Where and how devices are found and read: `[snmp]` (communities, SNMPv3 users), `[ipp]` and
`[discovery]` (mDNS, subnets to sweep with their credentials, static hosts, exclusions)."""

from __future__ import annotations

import ipaddress
import re

from pydantic import (
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.settings.secrets import Secret, SecretFile, SecretListFile, take_from_file
from gateway.settings.values import (
    Duration,
    Network,
    Section,
)
from protocols.ipp.model import DEFAULT_MAX_RESPONSE_BYTES
from protocols.snmp.model import AUTH_PROTOCOLS, PRIV_PROTOCOLS, SnmpCredentials


class V3User(Section):
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
        take_from_file(self, "auth_key")
        take_from_file(self, "priv_key")
        self.credentials("user")
        return self

    def credentials(self, name: str) -> SnmpCredentials:
        return SnmpCredentials(
            version=3, user=self.user or name, auth_protocol=self.auth_protocol.upper(),
            auth_key=self.auth_key.get_secret_value() if self.auth_key else None,
            priv_protocol=self.priv_protocol.upper(),
            priv_key=self.priv_key.get_secret_value() if self.priv_key else None,
            context=self.context)


class SnmpSettings(Section):
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
        take_from_file(self, "communities")
        return self


class IppSettings(Section):
    enabled: bool = True
    """False: printers are read over SNMP only (printers without IPP, or IPP not allowed)."""
    port: int = Field(631, ge=1, le=65535)
    path: str = "/ipp/print"
    """Resource path tried on devices found without mDNS (mDNS names its own path)."""
    verify_tls: bool = False
    """Printers mostly use self-signed certificates; turn on where they have real ones."""
    timeout: Duration = 5.0
    max_response_bytes: int = Field(DEFAULT_MAX_RESPONSE_BYTES, ge=64 * 1024,
                                    le=256 * 1024 * 1024)
    """The largest IPP answer read (bytes); a larger one is cut off and reported in `problems`."""


class Credentials(Section):
    """Which SNMP credentials to try, by reference to `[snmp]`."""

    communities: list[Secret] | None = None
    """v2c communities; default: `snmp.communities`."""
    communities_file: SecretListFile | None = None
    """A file of communities, one per line, in place of `communities`."""
    v3_users: list[str] | None = None
    """Names of `[snmp.v3_users.NAME]` tables; default: all of them."""

    @model_validator(mode="after")
    def _communities_file(self) -> Credentials:
        take_from_file(self, "communities")
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


class SweepSettings(Section):
    timeout: Duration = 1.0
    retries: int = Field(1, ge=0, le=5)
    rate: float = Field(1000.0, gt=0)
    """Probe packets per second, at most."""
    window: int = Field(1024, ge=1, le=65536)
    """Addresses probed at once, at most."""


class DiscoverySettings(Section):
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
