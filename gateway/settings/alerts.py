"""`[alerts]`: local alerts on the events the gateway detects (`gateway/alerts/`, docs/alerts.md).

Three kinds of output, each a list of tables: `[[alerts.webhook]]` (signed JSON),
`[[alerts.email]]` (SMTP, STARTTLS by default) and `[[alerts.syslog]]` (RFC 5424 over UDP, or the
local socket).  Each output chooses its alerts (`events`, `severity`, `networks`, `serials`) and
has its own quiet hours and rate limit; `[alerts]` itself holds what is common (de-duplication,
back-off, expiry).  Secrets (the webhook's signing key, the SMTP password, a webhook URL with a
token in it) take the forms of every secret in the config (`gateway/settings/secrets.py`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gateway.settings.secrets import Secret, SecretFile, secret_text, take_from_file
from gateway.settings.values import Duration, HostName, Network, Section, TimeZone, http_url
from protocols.hosts import is_loopback_host

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
EventKind = Literal[
    "threshold-crossed", "supply-replaced", "supply-empty", "alert-raised", "alert-cleared",
    "state-changed", "contract-cartridge-installed", "contract-cartridge-removed",
    "contract-mode-changed", "device-unreachable", "device-back"]
Facility = Literal["kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp",
                   "cron", "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4",
                   "local5", "local6", "local7"]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class QuietHours(Section):
    """A daily window in which only critical alerts go out (`allow = "critical"`) or none
    (`allow = "none"`); what is held back goes out when the window ends."""

    start: str
    """"HH:MM", e.g. "22:00"."""
    end: str
    """"HH:MM", e.g. "07:00" (before `start`: the window spans midnight)."""
    allow: Literal["critical", "none"] = "critical"
    time_zone: TimeZone | None = None
    """The window's time zone; default: each device's own (`[[gateway.sites]]`, else
    `[gateway] time_zone`)."""

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError(f"{value!r} is not a time of day; write \"HH:MM\", e.g. \"22:00\"")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are the same time; remove quiet_hours or widen it")
        return self

    @staticmethod
    def minutes(clock: str) -> int:
        hours, minutes = clock.split(":")
        return int(hours) * 60 + int(minutes)


class AlertOutput(Section):
    """What every output has: which alerts it takes, its quiet hours and its rate limit."""

    name: str | None = Field(None, min_length=1, max_length=64)
    """For the log and the queue; default: `webhook-1`, `email-2`… by position."""
    events: list[EventKind] = Field(default_factory=list)
    """The event kinds to send; empty: all."""
    severity: Severity = "info"
    """The lowest severity to send."""
    networks: list[Network] = Field(default_factory=list)
    """Only devices in these networks (CIDRs or addresses); empty: every device."""
    serials: list[str] = Field(default_factory=list)
    """Only these devices (serial numbers); with `networks`, a device in either."""
    quiet_hours: QuietHours | None = None
    rate_per_hour: int = Field(60, ge=1, le=36_000)
    """Messages per hour in the long run (a token bucket); alerts beyond it are sent together
    in one summary message as soon as the bucket allows."""
    burst: int = Field(10, ge=1, le=1000)
    """Messages that may go out at once before `rate_per_hour` applies."""


class WebhookOutput(AlertOutput):
    """`[[alerts.webhook]]`: a JSON POST signed with HMAC-SHA256 (`Printgw-Signature`)."""

    url: str = Field(repr=False)
    """Where to POST; may be a secret (`{ file = "/path" }`): some services put a token in it.
    Never logged (the output's name is)."""
    secret: Secret | None = None
    secret_file: SecretFile | None = None
    """A file (chmod 600) holding the signing secret, in place of `secret`."""
    timeout: Duration = 10.0
    verify_tls: bool = True
    ca_file: Path | None = None

    @field_validator("url", mode="before")
    @classmethod
    def _url_source(cls, value: Any) -> Any:
        return secret_text(value) if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _secret(self) -> WebhookOutput:
        """Checked here, not on the field, so that a mistake's message does not repeat the URL
        (it may hold a token)."""
        self.__dict__["url"] = http_url(self.url, "the webhook URL",
                                        "https://hooks.example.com/printgw")
        take_from_file(self, "secret")
        if self.secret is None:
            raise ValueError("a webhook is signed: set secret_file = \"/path\" (a file, chmod "
                             "600, holding a random secret the receiver knows too)")
        if len(self.secret.get_secret_value()) < 16:
            raise ValueError("the webhook secret is shorter than 16 characters; use a random "
                             "one, e.g. from `openssl rand -hex 32`")
        return self


class EmailOutput(AlertOutput):
    """`[[alerts.email]]`: a mail per alert through an SMTP server."""

    host: HostName
    port: int | None = Field(None, ge=1, le=65535)
    """Default: 587 for `starttls`, 465 for `tls`, 25 for `none`."""
    security: Literal["starttls", "tls", "none"] = "starttls"
    """`starttls` (required, not opportunistic), `tls` (implicit TLS, "SMTPS"), or `none`: only
    to a mail relay on this machine (a loopback address)."""
    username: str | None = None
    password: Secret | None = None
    password_file: SecretFile | None = None
    sender: str
    """The From address, e.g. "printgw@example.com"."""
    to: list[str] = Field(min_length=1)
    timeout: Duration = 30.0
    verify_tls: bool = True
    ca_file: Path | None = None

    @property
    def smtp_port(self) -> int:
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @field_validator("to")
    @classmethod
    def _to(cls, values: list[str]) -> list[str]:
        return [_address(value) for value in values]

    @model_validator(mode="after")
    def _login(self) -> EmailOutput:
        take_from_file(self, "password")
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password_file (or neither, for a server "
                             "that needs no login)")
        if self.security == "none" and not is_loopback_host(self.host):
            raise ValueError("security = \"none\" sends mail (and any password) in clear: only "
                             "to a relay on this machine; use \"starttls\" or \"tls\"")
        return self


class SyslogOutput(AlertOutput):
    """`[[alerts.syslog]]`: one line per alert to a syslog server over UDP (`host`), or to the
    local syslog socket (`socket`, default /dev/log)."""

    host: HostName | None = None
    port: int = Field(514, ge=1, le=65535)
    socket: Path | None = None
    facility: Facility = "daemon"
    format: Literal["rfc5424", "rfc3164"] | None = None
    """Default: RFC 5424 over UDP; the local socket gets what syslog(3) sends (RFC 3164 style),
    which journald and rsyslog read on /dev/log."""
    app_name: str = Field("printgw", pattern=r"^[!-~]{1,48}$")

    @property
    def line_format(self) -> str:
        return self.format or ("rfc5424" if self.host is not None else "rfc3164")

    @property
    def socket_path(self) -> Path:
        return self.socket or Path("/dev/log")

    @model_validator(mode="after")
    def _one_destination(self) -> SyslogOutput:
        if self.host is not None and self.socket is not None:
            raise ValueError("set host (UDP) or socket (local), not both")
        return self


class AlertSettings(Section):
    """`[alerts]`: what every output shares, and the outputs."""

    dedup_window: Duration = 6 * 3600.0
    """The same event kind for the same device and supply (or alert, threshold, state) is not
    sent again within this long."""
    unreachable_after: Duration | None = None
    """`device-unreachable` once the device has not answered for this long; default: at the
    first reading it does not answer."""
    retry_max: Duration = 600.0
    """Back-off of an output that fails: 5 s, doubling up to this."""
    expire_after: Duration = 7 * 86400.0
    """An alert not delivered by then is dropped (logged as an error, with its text)."""
    webhook: list[WebhookOutput] = Field(default_factory=list)
    email: list[EmailOutput] = Field(default_factory=list)
    syslog: list[SyslogOutput] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names(self) -> AlertSettings:
        seen: set[str] = set()
        for kind, outputs in (("webhook", self.webhook), ("email", self.email),
                              ("syslog", self.syslog)):
            for position, output in enumerate(outputs, start=1):
                if output.name is None:
                    output.__dict__["name"] = f"{kind}-{position}"
                if output.name in seen:
                    raise ValueError(f"two outputs are named {output.name!r}; give each its "
                                     "own name")
                seen.add(str(output.name))
        return self

    def outputs(self) -> list[AlertOutput]:
        return [*self.webhook, *self.email, *self.syslog]


def _address(value: str) -> str:
    if not _ADDRESS.match(value.strip()):
        raise ValueError(f"{value!r} is not a mail address; write e.g. \"it@example.com\"")
    return value.strip()

