"""One HTTP exchange with the cloud by `operationId`, and the reading of its answer.

`operation_request` is the one place that turns an operation of the document into a request: the
route (method and path) read from the document, path parameters quoted, the bearer token in the
`Authorization` header (and nowhere else), a JSON body serialised one way (`canonical_json`).  The
gateway's client, the demo's operator and the tests' checked API all call the cloud through it and
differ only in what they do with the answer.

Secure by default: `checked_url` accepts `https://` (`wss://`) only, plain `http://` (`ws://`) for
loopback test servers only; `ssl_context` verifies certificates.
"""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, NoReturn
from urllib.parse import quote, urlsplit

import aiohttp

from protocols.cloud import operations
from protocols.cloud.errors import (
    CloudProtocolError,
    CloudRejected,
    CloudUnavailable,
    parse_retry_after,
    shorten,
)
from protocols.cloud.validation import mismatch, response_validator, schema_validator
from protocols.hosts import is_loopback_host

log = logging.getLogger(__name__)

MiB = 1024 * 1024
DEFAULT_MAX_RESPONSE_BYTES = 8 * MiB
ERROR_BODY_LIMIT = 64 * 1024
"""An error answer's body is read up to this size for its problem details, then ignored."""


@contextlib.asynccontextmanager
async def operation_request(session: aiohttp.ClientSession, base_url: str, operation: str, *,
                            token: str | None = None, path: Mapping[str, str] | None = None,
                            query: Mapping[str, Any] | None = None, json_body: Any = None,
                            body: bytes | None = None, headers: Mapping[str, str] | None = None,
                            **options: Any) -> AsyncIterator[aiohttp.ClientResponse]:
    """The answer to `operation` of the document, sent to `base_url` over `session`.

    `json_body` is sent as `canonical_json`, `body` as it is (both as `application/json`);
    `headers` are sent last, so they can replace the defaults (the token's `Authorization`, the
    `Content-Type`).  `options` go to `aiohttp.ClientSession.request` (`ssl`, `proxy`,
    `timeout`…); redirects are never followed (the document has none, and a redirect could carry
    the request elsewhere).
    """
    method, template = operations()[operation]
    url = base_url + template.format(**{k: quote(str(v), safe="")
                                        for k, v in (path or {}).items()})
    sent: dict[str, str] = {"Authorization": f"Bearer {token}"} if token else {}
    if json_body is not None:
        body = canonical_json(json_body)
    if body is not None:
        sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    async with session.request(method, url, params={k: str(v) for k, v in (query or {}).items()},
                               data=body, headers=sent, allow_redirects=False,
                               **options) as response:
        yield response


async def read_answer(operation: str, response: aiohttp.ClientResponse,
                      max_bytes: int, read: Callable[[int, Any], Any] | None = None) -> Any:
    """The JSON body of a documented answer, checked against its schema; a `CloudError` for an
    error answer or one the document does not allow.

    `read(status, body)`, when given, checks the parsed body itself and gives the result (an
    answer read item by item: `protocols.cloud.changes`)."""
    status = response.status
    if status >= 400:
        await _raise_for_error(operation, response)
    validator = response_validator(operation, status)
    if validator is None:
        raise CloudProtocolError(operation, f"unexpected answer HTTP {status} "
                                            f"{response.reason or ''}".rstrip())
    if response.content_type != "application/json":
        raise CloudProtocolError(operation, f"the answer is {response.content_type!r}, "
                                            f"not application/json (HTTP {status})")
    raw = await read_limited(response, max_bytes)
    if raw is None:
        raise CloudProtocolError(operation, f"the answer is larger than {max_bytes} bytes")
    body = parse_json(operation, raw)
    if read is not None:
        return read(status, body)
    wrong = mismatch(validator, body)
    if wrong is not None:
        raise CloudProtocolError(operation, f"the answer does not match the document: {wrong}")
    return body


async def _raise_for_error(operation: str, response: aiohttp.ClientResponse) -> NoReturn:
    status = response.status
    problem = await _read_problem(response)
    description = _describe_error(status, response, problem)
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None:
            description += f" (retry after {retry_after:g} s)"
        raise CloudUnavailable(operation, f"the cloud is unavailable: {description}",
                               retry_after=retry_after, status=status)
    raise CloudRejected(operation, f"the cloud refused the request: {description}",
                        status=status, problem=problem, code=_problem_code(problem))


def canonical_json(value: Any) -> bytes:
    """The one serialisation of a request body: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")



def checked_url(url: str, *, secure: str, plain: str) -> str:
    """`url` if its scheme is `secure`, or `plain` on a loopback host; ValueError otherwise.

    A URL carrying credentials (`user:password@`) is refused; no message ever repeats them
    (`redacted`)."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise ValueError(f"the cloud URL {redacted(url)!r} cannot be read") from None
    if parts.username or parts.password:
        raise ValueError(f"the cloud URL {redacted(url)!r} must not carry credentials; "
                         "give the token instead")
    if not parts.hostname:
        raise ValueError(f"the cloud URL {redacted(url)!r} has no host")
    if not port_ok:
        raise ValueError(f"the cloud URL {redacted(url)!r} has no valid port")
    if parts.query or parts.fragment:
        raise ValueError(f"the cloud URL {redacted(url)!r} must not have a query or fragment")
    if parts.scheme == secure:
        return url
    if parts.scheme == plain:
        if is_loopback_host(parts.hostname):
            return url
        raise ValueError(f"refusing plain {plain}:// to {parts.hostname}: the cloud is reached "
                         f"over {secure}:// (plain {plain}:// is for loopback test servers only)")
    raise ValueError(f"the cloud URL {redacted(url)!r} must start with {secure}://")


def redacted(url: str) -> str:
    """`url` without the user information (`user:password@`) it may carry, and shortened."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    text = (scheme + sep if sep else "") + authority + slash + tail
    return shorten(text, 120)


def ssl_context(verify_tls: bool, ca_file: str | None) -> ssl.SSLContext | bool:
    if not verify_tls:
        log.warning("TLS certificate verification of the cloud is off")
        return False
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot use the CA file {ca_file}: {exc}") from exc
    return context


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2]


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def parse_json(operation: str, raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise CloudProtocolError(operation, f"the answer is not JSON: {shorten(str(exc))}"
                                 ) from None


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, or None as soon as it exceeds `limit` bytes (the rest is never read: the
    connection is closed)."""
    declared = response.content_length
    if declared is not None and declared > limit:
        response.close()
        return None
    body = bytearray()
    while chunk := await response.content.readany():
        body += chunk
        if len(body) > limit:
            response.close()
            return None
    return bytes(body)


async def _read_problem(response: aiohttp.ClientResponse) -> dict[str, Any] | None:
    """The RFC 9457 problem details of an error answer, when it carries valid ones."""
    if response.content_type not in ("application/problem+json", "application/json"):
        return None
    raw = await read_limited(response, ERROR_BODY_LIMIT)
    if raw is None:
        return None
    try:
        problem = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    if mismatch(schema_validator("Problem"), problem) is not None:
        return None
    return problem


def _problem_code(problem: Mapping[str, Any] | None) -> str | None:
    if problem is None:
        return None
    code = problem.get("code")
    if isinstance(code, str) and code:
        return code
    tail = str(problem["type"]).rstrip("/").rpartition("/")[2]
    return tail or None


def _describe_error(status: int, response: aiohttp.ClientResponse,
                    problem: Mapping[str, Any] | None) -> str:
    if problem is None:
        kind = response.content_type or "no content type"
        return f"HTTP {status} {response.reason or ''}".rstrip() + f" ({kind}, no problem details)"
    text = f"HTTP {status} {_problem_code(problem) or problem['title']}"
    if problem.get("detail"):
        text += f": {problem['detail']}"
    fields = [f"{e.get('pointer') or e.get('parameter') or e.get('header') or '?'}: "
              f"{e.get('detail')}" for e in problem.get("errors", [])[:5]]
    if fields:
        text += " (" + "; ".join(fields) + ")"
    return shorten(text, 400)

