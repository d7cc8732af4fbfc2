"""What can go wrong talking to the cloud, as three kinds of `CloudError`, because the caller acts
on the kind, not on the cause:

- `CloudUnavailable`: try again later (connection refused or reset, DNS, TLS, timeout, 429, 5xx);
  `retry_after` carries the cloud's `Retry-After` when it sent one.
- `CloudRejected`: the cloud refused this request (any other 4xx); retrying it unchanged will not
  help.  `problem` is the RFC 9457 body, `code` its type name (`validation-failed`…).
- `CloudProtocolError`: the answer is not what the document promises (not JSON, wrong content
  type, too large, a field of the wrong shape).

Messages never carry the bearer token: an aiohttp failure is summarised, never chained.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp


class CloudError(Exception):
    """Anything that went wrong talking to the cloud; `operation` is the document's operationId."""

    def __init__(self, operation: str, message: str) -> None:
        super().__init__(f"{operation}: {_one_line(message)}")
        self.operation = operation


class CloudUnavailable(CloudError):
    """The cloud could not be reached or asked to be left alone for now: retry later."""

    def __init__(self, operation: str, message: str, *, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(operation, message)
        self.retry_after = retry_after
        self.status = status


class CloudRejected(CloudError):
    """The cloud refused the request (a 4xx other than 429, or a push channel closed for good).

    `status` is the HTTP status (None for a push channel closed with 1008), `problem` the RFC 9457
    body when the answer carried one, `code` the problem type's name (`validation-failed`,
    `cursor-expired`…) when known.
    """

    def __init__(self, operation: str, message: str, *, status: int | None,
                 problem: dict[str, Any] | None = None, code: str | None = None) -> None:
        super().__init__(operation, message)
        self.status = status
        self.problem = problem
        self.code = code


class CloudProtocolError(CloudError):
    """The cloud answered something the document does not allow."""



def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: delay-seconds or an HTTP-date; None when absent or
    unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _one_line(text: str) -> str:
    return " ".join(text.split())


def shorten(text: str, limit: int = 200) -> str:
    text = _one_line(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"



def transport_error(operation: str, exc: BaseException, host: str,
                     timeout: float) -> CloudUnavailable:
    """An aiohttp/OS failure as `CloudUnavailable`, with a message saying what failed.

    The cause is summarised in the message and must not be chained (nor left as the context):
    aiohttp's response errors keep the request headers, and with them the bearer token.
    """
    if isinstance(exc, TimeoutError):
        message = f"no answer from {host} within {timeout:g} s"
    elif isinstance(exc, aiohttp.ClientConnectorCertificateError):
        message = (f"the TLS certificate of {host} is not trusted ({exc.certificate_error}); "
                   f"give its CA with ca_file")
    elif isinstance(exc, aiohttp.ClientSSLError):
        message = f"TLS with {host} failed: {exc.os_error}"
    elif isinstance(exc, aiohttp.ClientConnectorDNSError):
        message = f"cannot resolve {host}: {exc.os_error}"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        message = f"cannot connect to {host}: {exc.os_error.strerror or exc.os_error}"
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        message = f"{host} closed the connection without answering"
    elif isinstance(exc, aiohttp.ClientPayloadError):
        message = f"the answer from {host} broke off: {exc}"
    elif isinstance(exc, aiohttp.ClientResponseError):
        message = f"bad HTTP answer from {host}: {exc.status} {exc.message}"
    else:
        message = f"connection to {host} failed: {type(exc).__name__}: {exc}"
    return CloudUnavailable(operation, message)
