"""The gateway's one config file (TOML), validated with pydantic into typed settings.

Every mistake is reported at once, each with the key it is about, the bad value and how to fix
it (`ConfigError.problems`).  Unknown keys are mistakes too (a misspelt key must not be silently
ignored).  Secrets — SNMP communities and keys, the cloud enrolment token — may be written in the
file, or taken from the environment (`{ env = "NAME" }`) or from a file (`{ file = "/path" }`, or
the `KEY_file = "/path"` form beside the key), and are never shown in messages or logs.  A secret
file must not be readable by group or others (`chmod 600`); `$VARIABLES` in its path are expanded,
so `"$CREDENTIALS_DIRECTORY/enrolment-token"` reads a systemd credential (`LoadCredential=`).
`true`/`false` are refused where a number is expected, URLs written in the file must not hold a
password, and a CIDR must not have host bits (`gateway/settings/values.py`).  What the file alone
cannot tell — whether the data directory is usable, whether the file shows its secrets to other
users — is checked by `gateway/settings/checks.py`.

Every key has a default, so a file written for an older printgw stays valid — but for
`gateway.region` with `[cloud] url`: a gateway sent to the wrong region must not start silently,
so since issue 18 a file with a cloud names its region (`printgw check-config` says so).  Without
`[cloud] url` the gateway keeps no cloud link (it discovers and polls, and uploads nothing).
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from gateway.settings.alerts import AlertSettings
from gateway.settings.discovery import Credentials, DiscoverySettings, IppSettings, SnmpSettings
from gateway.settings.metrics import MetricsSettings
from gateway.settings.secrets import Secret, SecretFile, secret_text, take_from_file
from gateway.settings.services import ServicesSettings
from gateway.settings.sites import SiteRule, check_sites
from gateway.settings.values import (
    REGION,
    Duration,
    HostName,
    Section,
    ShippingDestination,
    TimeZone,
    host_name,
    host_time_zone,
    http_url,
)
from protocols.hosts import is_loopback_host
from protocols.snmp.model import SnmpCredentials


class GatewaySettings(Section):
    data_dir: Path = Path("/var/lib/printgw")
    name: str = Field(default_factory=host_name, min_length=1, max_length=128)
    """How the cloud operator sees this gateway (sent at enrolment); default: the host name."""
    region: str = "jp"
    """Installation region sent to the cloud's global entry point (S0601), lower case; required
    with `[cloud] url` (`Config._region_with_a_cloud`), the default only serves a gateway
    without a cloud (its shipping destination)."""
    shipping_destination: ShippingDestination = "JP"
    """Market of the devices, sent at registration (S0603) where a device does not tell;
    default: the region's first part in upper case (`eu-west` → `EU`)."""
    time_zone: TimeZone = Field(default_factory=host_time_zone)
    """IANA time zone of the installation, sent at registration; default: the host's."""
    sites: list[SiteRule] = Field(default_factory=list)
    """`[[gateway.sites]]`: time zone and shipping destination of the devices of a subnet or
    host, where they differ from the two above (`gateway/settings/sites.py`)."""
    shutdown_grace: Duration = 10.0
    """On SIGTERM, readings and an upload under way get this long to finish (else they are
    dropped, to be done again after the restart) before `printgw run` exits."""

    @model_validator(mode="before")
    @classmethod
    def _shipping_from_region(cls, data: Any) -> Any:
        if isinstance(data, dict) and "shipping_destination" not in data:
            region = data.get("region", "jp")
            if isinstance(region, str) and REGION.match(region):
                data = {**data, "shipping_destination": region.split("-")[0].upper()}
        return data

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not REGION.match(value) or len(value) > 32:
            raise ValueError("write the region in lower case, e.g. \"jp\", \"us\" or \"eu-west\"")
        return value

    @model_validator(mode="after")
    def _sites(self) -> GatewaySettings:
        check_sites(self.sites)
        return self


class CloudSettings(Section):
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
    proxy: str | None = Field(None, repr=False)
    """An HTTP proxy for the cloud connections, e.g. http://proxy.example.com:3128.  A proxy that
    needs a login takes it in the URL (`http://user:password@proxy:3128`), but only from a secret
    source — `{ env = "NAME" }`, `{ file = "/path" }` or `proxy_file` — never written in the
    config file itself, and the URL is never shown (its password is redacted from the logs)."""
    proxy_file: SecretFile | None = None
    """A file (chmod 600) holding the proxy URL, in place of `proxy`: for a proxy with a login."""
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
        url = http_url(value, "the cloud URL", "https://api.printgw.example",
                       credentials="the gateway authenticates with its enrolment token and the "
                                   "credential the cloud gives it: remove the \"user:password@\" "
                                   "part")
        parts = urlsplit(url)
        if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
            raise ValueError("the cloud must be reached over https://; plain http:// is only "
                             "allowed to a loopback host (127.0.0.0/8, ::1, localhost)")
        return url

    @field_validator("proxy", mode="before")
    @classmethod
    def _proxy(cls, value: object) -> object:
        """Inline: no login in the URL (the file would show the password to whoever reads it);
        from `{ env = "NAME" }` or `{ file = "/path" }`: a login is fine."""
        if isinstance(value, dict):
            return _proxy_url(secret_text(value), inline=False)
        return _proxy_url(value, inline=True) if isinstance(value, str) else value

    @field_validator("proxy_file")
    @classmethod
    def _proxy_from_file(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _proxy_url(value.get_secret_value(), inline=False)
        return value

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
        """Readable and holding certificates TLS can use (else the cloud link would fail at
        every connection, long after the config was accepted)."""
        if value is not None and not os.access(value, os.R_OK):
            raise ValueError(f"cannot read {value}; give the path of a PEM certificate file")
        if value is not None:
            try:
                ssl.create_default_context().load_verify_locations(cafile=str(value))
            except (OSError, ssl.SSLError):
                raise ValueError(f"{value} holds no usable certificate; give the path of a PEM "
                                 "certificate file (-----BEGIN CERTIFICATE-----)") from None
        return value

    @model_validator(mode="after")
    def _token_file(self) -> CloudSettings:
        take_from_file(self, "enrolment_token")
        if self.proxy_file is not None:
            if "proxy" in self.model_fields_set:
                raise ValueError("proxy and proxy_file are both set; keep one of them")
            self.__dict__["proxy"] = _proxy_url(self.proxy_file.get_secret_value(), inline=False)
        return self


_PROXY_EXAMPLE = "http://proxy.example.com:3128"


def _proxy_url(value: str, inline: bool) -> str:
    return http_url(value, "the proxy", _PROXY_EXAMPLE, credentials=(
        'for a proxy that needs a login, put the whole URL in a file only the gateway can read '
        '(chmod 600) and write proxy_file = "/path/to/file", or proxy = { env = "NAME" }')
                    if inline else None)


class PollSettings(Section):
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
    read_deadline: Duration = 30.0
    """One reading of one device (SNMP and IPP together, every credential tried) ends by then,
    whatever the device answers; what was not read by then is a problem of the reading.
    Discovery's identification of a device has the same deadline."""


class ContractSettings(Section):
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
        take_from_file(self, "write_community")
        return self


class StatusPageSettings(Section):
    """The local status page and `/metrics` (`gateway/local/status_page.py`), served by
    `printgw run`.

    Loopback by default: the page shows the fleet to whoever can reach it and has no login, so
    putting it on another address is a deliberate choice of the administrator.
    """

    enabled: bool = True
    host: HostName = "127.0.0.1"
    """The address (or host name) to listen on; `0.0.0.0` or a LAN address exposes the page to
    the network."""
    port: int = Field(8639, ge=0, le=65535)
    """The TCP port (0: any free port, logged at start).  Not 8631, the virtual fleet's control
    API (`printgw-sim`): both run on one machine for a demo or a test."""


class LoggingSettings(Section):
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


class EventSettings(Section):
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


def _given(section: Any, key: str) -> Any:
    """`key` of a section as given: a table of the document, or a section built in code."""
    if isinstance(section, dict):
        return section.get(key)
    if isinstance(section, Section) and key in section.model_fields_set:
        return getattr(section, key)
    return None


def _region_missing(data: Any) -> InitErrorDetails | None:
    """The error for a config with a cloud link and no `gateway.region`; None otherwise."""
    if not isinstance(data, dict) or not _given(data.get("cloud"), "url") \
            or _given(data.get("gateway"), "region") is not None:
        return None
    return InitErrorDetails(type=PydanticCustomError("missing", _REGION_REQUIRED),
                            loc=("gateway", "region"), input=data.get("gateway") or {})


_REGION_REQUIRED = (
    "required with [cloud] url: the region the cloud serves this installation from, as the "
    "cloud operator gives it, in lower case, e.g. region = \"jp\", \"us\" or \"eu-west\"")


def _line_errors(exc: ValidationError) -> list[InitErrorDetails]:
    """`exc`'s errors, each kept as it is (type, message, where, value)."""
    return [InitErrorDetails(type=PydanticCustomError(e["type"], e["msg"].replace("{", "{{")
                                                      .replace("}", "}}")),
                             loc=e["loc"], input=e["input"]) for e in exc.errors()]


def _with_errors(title: str, errors: list[InitErrorDetails]) -> ValidationError:
    return ValidationError.from_exception_data(title, errors)


class Config(Section):
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
    alerts: AlertSettings = AlertSettings()
    metrics: MetricsSettings = MetricsSettings()

    @model_validator(mode="wrap")
    @classmethod
    def _region_with_a_cloud(cls, data: Any, handler: ModelWrapValidatorHandler[Config],
                             ) -> Config:
        """`gateway.region` is required with `[cloud] url` (the default "jp" would send a
        gateway elsewhere silently), reported with every other mistake."""
        missing = _region_missing(data)
        try:
            config = handler(data)
        except ValidationError as exc:
            if not missing:
                raise
            raise _with_errors(exc.title, [*_line_errors(exc), missing]) from None
        if missing:
            raise _with_errors(cls.__name__, [missing])
        return config

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

    @cached_property
    def _static_by_host(self) -> dict[str, Credentials]:
        """The static entries by host, the first of each (a lookup per device read: a site of
        10,000 static hosts must not scan them all for each)."""
        by_host: dict[str, Credentials] = {}
        for host in self.discovery.static:
            by_host.setdefault(host.host, host)
        return by_host

    def scope_for(self, address: str) -> Credentials | None:
        """The static entry or subnet an address belongs to (static first), if any."""
        host = self._static_by_host.get(address)
        if host is not None:
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
