"""What SNMP clients and their callers share: targets, credentials, values, OIDs and errors.

Kept apart from `protocols.snmp.client` and its backends so that each backend, and every caller
that only names a target or its credentials, can use them without importing pysnmp.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SnmpValue = int | bytes | str | None
"""INTEGER, Counter, Gauge, TimeTicks → int; OCTET STRING → bytes; OID, IpAddress → str."""

AUTH_PROTOCOLS = {
    "MD5": "USM_AUTH_HMAC96_MD5",
    "SHA": "USM_AUTH_HMAC96_SHA",
    "SHA224": "USM_AUTH_HMAC128_SHA224",
    "SHA256": "USM_AUTH_HMAC192_SHA256",
    "SHA384": "USM_AUTH_HMAC256_SHA384",
    "SHA512": "USM_AUTH_HMAC384_SHA512",
}
"""SNMPv3 authentication protocols by name → pysnmp's name for them."""
PRIV_PROTOCOLS = {
    "DES": "USM_PRIV_CBC56_DES",
    "3DES": "USM_PRIV_CBC168_3DES",
    "AES": "USM_PRIV_CFB128_AES",
    "AES128": "USM_PRIV_CFB128_AES",
    "AES192": "USM_PRIV_CFB192_AES",
    "AES256": "USM_PRIV_CFB256_AES",
}
"""SNMPv3 privacy protocols by name → pysnmp's name for them."""


class SnmpError(Exception):
    """The agent answered with an error, or the request could not be made."""


class SnmpTimeout(SnmpError):
    """No answer within the timeout and retries: host down or silent, or wrong credentials."""


WalkEnd = Literal["loop", "rows", "time"]
"""Why a walk stopped early: the agent answered an OID that does not increase (`loop`), the walk
reached its row limit (`rows`) or its deadline (`time`)."""


class WalkStopped(SnmpError):
    """A walk that did not reach the end of its subtree: it looped, or hit its row limit or its
    deadline.  `values` holds what was read; they are `usable` after a loop (every value read
    before the agent went back is in order: many agents repeat an OID at the end of a table), not
    after a cut (the table is incomplete, perhaps endless)."""

    def __init__(self, message: str, reason: WalkEnd, values: dict[str, SnmpValue]) -> None:
        super().__init__(message)
        self.reason: WalkEnd = reason
        self.values = values

    @property
    def usable(self) -> bool:
        return self.reason == "loop"


@dataclass(frozen=True)
class SnmpCredentials:
    """How to talk to one agent.

    `context` selects an SNMP context: with SNMPv3 it is the contextName; with v1/v2c it is sent
    the way agents expect it, as community `COMMUNITY@CONTEXT` (HP keeps some data in `Jetdirect`).
    """

    version: Literal[1, 2, 3] = 2
    community: str = "public"
    user: str | None = None
    auth_protocol: str = "SHA"
    auth_key: str | None = None
    priv_protocol: str = "AES"
    priv_key: str | None = None
    context: str = ""

    def __post_init__(self) -> None:
        if self.version not in (1, 2, 3):
            raise ValueError(f"SNMP version must be 1, 2 or 3, not {self.version!r}")
        if self.version == 3:
            if not self.user:
                raise ValueError("SNMPv3 needs a user name")
            if self.auth_protocol.upper() not in AUTH_PROTOCOLS:
                raise ValueError(f"unknown SNMPv3 auth protocol {self.auth_protocol!r}; "
                                 f"use one of {', '.join(AUTH_PROTOCOLS)}")
            if self.priv_protocol.upper() not in PRIV_PROTOCOLS:
                raise ValueError(f"unknown SNMPv3 privacy protocol {self.priv_protocol!r}; "
                                 f"use one of {', '.join(PRIV_PROTOCOLS)}")
            if self.priv_key and not self.auth_key:
                raise ValueError("SNMPv3 privacy (priv_key) needs authentication (auth_key) too")
            for name, key in (("auth_key", self.auth_key), ("priv_key", self.priv_key)):
                if key is not None and len(key) < 8:
                    raise ValueError(f"SNMPv3 {name} must be at least 8 characters")

    @property
    def community_string(self) -> str:
        """The community as sent with v1/v2c: `COMMUNITY@CONTEXT` when a context is named."""
        return f"{self.community}@{self.context}" if self.context else self.community

    def with_context(self, context: str) -> SnmpCredentials:
        return SnmpCredentials(self.version, self.community, self.user, self.auth_protocol,
                               self.auth_key, self.priv_protocol, self.priv_key, context)

    def __repr__(self) -> str:  # never show secrets in logs or tracebacks
        who = f"user={self.user!r}" if self.version == 3 else "community=***"
        return f"SnmpCredentials(v{self.version}, {who}, context={self.context!r})"


@dataclass(frozen=True)
class SnmpTarget:
    host: str
    port: int = 161
    credentials: SnmpCredentials = SnmpCredentials()
    timeout: float = 2.0
    retries: int = 1


def walk_stopped(target: SnmpTarget, root: str, reason: WalkEnd, values: dict[str, SnmpValue],
                 went_back: tuple[str, str] | None = None) -> WalkStopped:
    """The `WalkStopped` of a walk of `root`, with a message people can act on; `went_back` is
    (the OID answered, the one before it) for a loop."""
    where = f"{target.host}:{target.port}: walk of {root}"
    if reason == "loop":
        oid, previous = went_back or ("?", "?")
        message = (f"{where} stopped: the agent answered {oid} after {previous} (an OID that "
                   f"does not increase); the {len(values)} values before it are kept")
    elif reason == "rows":
        message = (f"{where} stopped after {len(values)} values, its limit (an endless table?); "
                   "the table is not used")
    else:
        message = (f"{where} not finished by its deadline ({len(values)} values read); the "
                   "table is not used")
    return WalkStopped(message, reason, values)


def oid_tuple(oid: str) -> tuple[int, ...]:
    """`1.3.6.1` (or `.1.3.6.1`) → (1, 3, 6, 1): OIDs compare in MIB order as tuples."""
    return tuple(map(int, oid.strip(".").split(".")))


def oid_text(oid: tuple[int, ...]) -> str:
    """(1, 3, 6, 1) → `1.3.6.1`: the numeric OID strings values are keyed by."""
    return ".".join(map(str, oid))


# RFC 3416 error-status values, for messages people can act on.
TOO_BIG, NO_SUCH_NAME = 1, 2
_ERROR_STATUS = ("noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess",
                 "wrongType", "wrongLength", "wrongEncoding", "wrongValue", "noCreation",
                 "inconsistentValue", "resourceUnavailable", "commitFailed", "undoFailed",
                 "authorizationError", "notWritable", "inconsistentName")


def error_status_name(status: int) -> str:
    return _ERROR_STATUS[status] if 0 <= status < len(_ERROR_STATUS) else f"error-status {status}"
