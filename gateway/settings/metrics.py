"""`[metrics]`: an optional listener that serves only `/metrics`, apart from the status page
(`gateway/local/metrics_listener.py`), for a Prometheus server elsewhere on the network.

Off unless `listen` is set.  On loopback it may be open (a Prometheus on the same machine); on any
other address it must be protected by a bearer token, by TLS or by both, since the metrics name
every printer with its serial number and address: such a config is refused.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from pydantic import TypeAdapter, ValidationError, field_validator, model_validator

from gateway.settings.secrets import Secret, SecretFile, take_from_file
from gateway.settings.values import HostName, Section
from protocols.hosts import is_loopback_host

TOKEN_MIN_LENGTH = 16
_HOST = TypeAdapter(HostName)
_LISTEN_EXAMPLE = '"127.0.0.1:9631", "0.0.0.0:9631" or "[::1]:9631"'


def split_listen(text: str) -> tuple[str, int]:
    """`address:port` (an IPv6 address in brackets) → (host, port); `ValueError` naming the fix."""
    host, colon, port = text.strip().rpartition(":")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"write the address and the port, e.g. {_LISTEN_EXAMPLE}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets, e.g. \"[{host}]:{port}\"")
    try:
        host = _HOST.validate_python(host)
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    return host, int(port)


class MetricsSettings(Section):
    """The metrics-only listener."""

    listen: str | None = None
    """`address:port` to serve `/metrics` on, e.g. "0.0.0.0:9631"; unset: no listener (the
    status page's own `/metrics` stays)."""
    bearer_token: Secret | None = None
    """Scrapers must send `Authorization: Bearer TOKEN` (at least 16 characters)."""
    bearer_token_file: SecretFile | None = None
    """A file holding the token, in place of `bearer_token` (`chmod 600`)."""
    tls_certificate_file: Path | None = None
    """PEM certificate (chain) to serve HTTPS with; needs `tls_key_file`."""
    tls_key_file: Path | None = None
    """Its PEM private key; group or others may not read it (`chmod 600`)."""

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value

    @field_validator("tls_key_file")
    @classmethod
    def _key_private(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        try:
            mode = os.stat(value).st_mode
        except OSError as exc:
            raise ValueError(f"cannot read {value}: {exc.strerror}; give the path of a PEM "
                             "private key the gateway's user may read") from None
        if mode & 0o044:
            raise ValueError(f"the private key {value} is readable by group or others (mode "
                             f"{mode & 0o777:o}); run: chmod 600 {value}")
        return value

    @model_validator(mode="after")
    def _protected(self) -> MetricsSettings:
        take_from_file(self, "bearer_token")
        token = self.bearer_token
        if token is not None and len(token.get_secret_value()) < TOKEN_MIN_LENGTH:
            raise ValueError(f"metrics.bearer_token: the token has fewer than {TOKEN_MIN_LENGTH} "
                             "characters; make one with: openssl rand -hex 32")
        cert, key = self.tls_certificate_file, self.tls_key_file
        if (cert is None) != (key is None):
            raise ValueError("metrics: tls_certificate_file and tls_key_file go together; set "
                             "both (HTTPS) or neither")
        if cert is not None and key is not None:
            _check_pair(cert, key)
        if self.listen is None:
            if token is not None or cert is not None:
                raise ValueError("metrics: a bearer token or TLS is set but not `listen`; set "
                                 f"listen (e.g. {_LISTEN_EXAMPLE}) or remove them")
            return self
        host, _port = self.address
        if not is_loopback_host(host) and token is None and cert is None:
            raise ValueError(
                f"metrics.listen: {self.listen} is not a loopback address, and the metrics name "
                "every printer with its serial number and address: protect the listener with "
                "bearer_token_file (a file holding a token, chmod 600) and/or "
                "tls_certificate_file and tls_key_file, or listen on 127.0.0.1")
        return self

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of `listen` (which must be set)."""
        assert self.listen is not None
        return split_listen(self.listen)

    @property
    def tls(self) -> bool:
        return self.tls_certificate_file is not None


def _check_pair(cert: Path, key: Path) -> None:
    """The certificate and the key load together (else every scrape would fail later)."""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except OSError as exc:  # ssl.SSLError is one too
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise ValueError(f"metrics: cannot serve TLS with {cert} and {key} ({reason}); give a "
                         "PEM certificate and its private key") from None
