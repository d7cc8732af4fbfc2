"""The gateway's client for the cloud API written down in `openapi.yaml` beside this file.

One method per gateway operation of the document; each returns the answer's JSON body after
checking it against the operation's response schema, so the caller never sees a shape the document
does not allow.  Routes (method and path) are read from the document by `operationId` rather than
repeated here.

Errors are three kinds, all `CloudError`, because the caller acts on the kind, not on the cause:

- `CloudUnavailable`: try again later (connection refused or reset, DNS, TLS, timeout, 429, 5xx);
  `retry_after` carries the cloud's `Retry-After` when it sent one.
- `CloudRejected`: the cloud refused this request (any other 4xx); retrying it unchanged will not
  help.  `problem` is the RFC 9457 body, `code` its type name (`validation-failed`…).
- `CloudProtocolError`: the answer is not what the document promises (not JSON, wrong content
  type, too large, a field of the wrong shape).

Secure by default: `https://` and `wss://` only, certificates verified, plain `http://` accepted
for loopback test servers only.  The bearer token is sent in the `Authorization` header and
nowhere else: not in messages, logs or `repr`.  HTTP calls do not follow redirects (the document
has none, and a redirect could carry the request elsewhere).
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote, urlsplit

import aiohttp

from protocols.cloud import load_schema, operations
from protocols.hosts import is_loopback_host

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry

log = logging.getLogger(__name__)

try:
    PRINTGW_VERSION = version("printgw")
except PackageNotFoundError:  # a source tree that was never installed
    PRINTGW_VERSION = "0+unknown"

MiB = 1024 * 1024
DEFAULT_MAX_RESPONSE_BYTES = 8 * MiB
GZIP_THRESHOLD = 1024
"""Upload bodies larger than this many bytes are sent gzip-compressed."""
ERROR_BODY_LIMIT = 64 * 1024
"""An error answer's body is read up to this size for its problem details, then ignored."""
PUSH_SUBPROTOCOL = "printgw.v1"
DEFAULT_PUSH_HEARTBEAT = 20.0
"""Seconds of silence on the push channel before the client pings; no pong within half of that
closes the channel, so a dead link is noticed within 30 s."""

_SCHEMA_BASE = "urn:printgw:cloud-openapi"


# -- errors ----------------------------------------------------------------------------------------

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


# -- the document ----------------------------------------------------------------------------------

@cache
def _document() -> dict[str, Any]:
    return load_schema()


# jsonschema and referencing (~5 MB) are imported on the first validation: a gateway without a
# cloud configured never validates anything.

@cache
def _registry() -> Registry:
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    return Registry().with_resource(_SCHEMA_BASE, DRAFT202012.create_resource(_document()))


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


@cache
def _formats() -> FormatChecker:
    from jsonschema import FormatChecker

    formats = FormatChecker(formats=("date", "uuid"))
    formats.checks("date-time", raises=ValueError)(_is_date_time)
    return formats


def _is_date_time(value: object) -> bool:
    """RFC 3339 `date-time`: an offset is required (`datetime.fromisoformat` alone allows none)."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


def _pointer(*segments: str) -> str:
    return "".join("/" + s.replace("~", "~0").replace("/", "~1") for s in segments)


@cache
def _validator(pointer: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": f"{_SCHEMA_BASE}#{quote(pointer, safe='/~')}"},
                                registry=_registry(), format_checker=_formats())


@cache
def _response_validator(operation: str, status: int) -> Draft202012Validator | None:
    """The validator of the operation's JSON answer for `status`; None when it has none."""
    method, path = operations()[operation]
    responses = _document()["paths"][path][method.lower()]["responses"]
    response = responses.get(str(status))
    if response is None or "$ref" in response:
        return None
    if "application/json" not in response.get("content", {}):
        return None
    return _validator(_pointer("paths", path, method.lower(), "responses", str(status),
                               "content", "application/json", "schema"))


@cache
def _schema_validator(name: str) -> Draft202012Validator:
    return _validator(_pointer("components", "schemas", name))


def _mismatch(validator: Draft202012Validator, body: Any) -> str | None:
    """Which field of `body` breaks the schema, and how; None when it is valid."""
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(body))
    if error is None:
        return None
    where = "".join("/" + str(p) for p in error.absolute_path) or "the top level"
    return f"field {where}: {_shorten(error.message)}"


# -- the client ------------------------------------------------------------------------------------

class CloudClient:
    """An aiohttp client for the gateway operations of the cloud API.

    Use it as an async context manager (or call `close()`); the HTTP session is opened on first
    use.  `with_base_url()` and `with_token()` give a new client with the same settings, with its
    own session, to be closed by the caller as well.
    """

    def __init__(self, base_url: str, *, token: str | None = None, verify_tls: bool = True,
                 ca_file: str | None = None, proxy: str | None = None, timeout: float = 30.0,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
                 user_agent: str = f"printgw/{PRINTGW_VERSION}") -> None:
        self.base_url = _checked_url(base_url, secure="https", plain="http").rstrip("/")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        if max_response_bytes <= 0:
            raise ValueError(f"max_response_bytes must be positive, not {max_response_bytes}")
        self._token = token
        self.verify_tls = verify_tls
        self.ca_file = ca_file
        self.proxy = proxy
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.user_agent = user_agent
        self._ssl: ssl.SSLContext | bool = _ssl_context(verify_tls, ca_file)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def __repr__(self) -> str:
        token = "set" if self._token else "none"
        return (f"CloudClient({self.base_url!r}, token={token}, verify_tls={self.verify_tls}, "
                f"proxy={self.proxy is not None})")

    def _settings(self) -> dict[str, Any]:
        return {"token": self._token, "verify_tls": self.verify_tls, "ca_file": self.ca_file,
                "proxy": self.proxy, "timeout": self.timeout,
                "max_response_bytes": self.max_response_bytes, "user_agent": self.user_agent}

    def with_base_url(self, base_url: str) -> CloudClient:
        """The same client for another endpoint (the regional one from the connection
        destination)."""
        return CloudClient(base_url, **self._settings())

    def with_token(self, token: str | None) -> CloudClient:
        """The same client with another bearer token (the gateway's, after enrolment)."""
        return CloudClient(self.base_url, **{**self._settings(), "token": token})

    async def __aenter__(self) -> CloudClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this CloudClient is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": self.user_agent}, trust_env=False)
        return self._session

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    # -- the operations ----------------------------------------------------------------------------

    async def resolve_connection_destination(self, region: str, **extra: Any) -> dict[str, Any]:
        """S0601-S0602: the regional endpoint for `region` (`extra`: `country`,
        `gateway_version`).  Sent without the bearer token (the call is unauthenticated)."""
        return await self._call("resolveConnectionDestination", json_body={"region": region,
                                                                           **extra}, auth=False)

    async def enrol(self, enrolment_token: str, name: str, *,
                    software_version: str = PRINTGW_VERSION, hostname: str | None = None,
                    idempotency_key: str | None = None) -> dict[str, Any]:
        """Exchange the one-time enrolment token for the gateway's credential.

        Give an `idempotency_key` saved before the call: a retry with it after a crash gets the
        same credential again instead of 401 (the token is spent by the first call).
        """
        body: dict[str, Any] = {"enrolment_token": enrolment_token, "name": name,
                                "software_version": software_version}
        if hostname is not None:
            body["hostname"] = hostname
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return await self._call("enrolGateway", json_body=body, headers=headers, auth=False)

    async def register_printer(self, registration: Mapping[str, Any]) -> dict[str, Any]:
        """S0603-S0604: a `PrinterRegistration` → the printer ID (`printer_id`)."""
        return await self._call("registerPrinter", json_body=dict(registration))

    async def get_applications(self, printer_id: str) -> dict[str, Any]:
        """S0605-S0606: the printer's application (contract) information."""
        return await self._call("getApplicationInformation", path={"printer_id": printer_id})

    async def notify_activation(self, printer_id: str,
                                activations: list[dict[str, Any]]) -> dict[str, Any]:
        """S0607-S0608: activation notice → one result per service."""
        return await self._call("notifyActivation", path={"printer_id": printer_id},
                                json_body={"activations": activations})

    async def get_control_information(self, printer_id: str) -> dict[str, Any]:
        """S0609-S0610: requested and current data types and their difference."""
        return await self._call("getDeviceControlInformation", path={"printer_id": printer_id})

    async def report_transmission_data_types(self, printer_id: str,
                                             report: Mapping[str, Any]) -> dict[str, Any]:
        """S0611: the data types the gateway sends from now on → the updated control
        information."""
        return await self._call("reportTransmissionDataTypes", path={"printer_id": printer_id},
                                json_body=dict(report))

    async def upload_statuses(self, entries: list[dict[str, Any]],
                              idempotency_key: str) -> dict[str, Any]:
        """Upload a batch of `StatusEntry` objects → one result per entry.

        The body is serialised deterministically (sorted keys, no spaces), so a retry of the same
        entries with the same key is byte for byte the same request, and gzip-compressed (with a
        fixed mtime) beyond `GZIP_THRESHOLD` bytes.
        """
        body = canonical_json({"statuses": entries})
        headers = {"Idempotency-Key": idempotency_key}
        if len(body) > GZIP_THRESHOLD:
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
        return await self._call("uploadStatuses", raw_body=body, headers=headers)

    async def poll_changes(self, cursor: str | None, limit: int | None = None,
                           wait: int | None = None) -> dict[str, Any]:
        """The change stream after `cursor` (polling fall-back of the push channel).

        `wait` > 0 makes it a long poll; the request's time limit grows by as much.
        A cursor older than the retained stream raises `CloudRejected` with code
        `cursor-expired` (resynchronise in full).
        """
        query = {"cursor": cursor, "limit": limit, "wait": wait}
        return await self._call("pollChanges", query={k: v for k, v in query.items()
                                                      if v is not None},
                                time_limit=self.timeout + (wait or 0))

    async def list_pending_commands(self, printer_id: str | None = None) -> dict[str, Any]:
        """Commands not yet completed (after a restart or a resynchronisation)."""
        query = {"printer_id": printer_id} if printer_id is not None else {}
        return await self._call("listPendingCommands", query=query)

    async def acknowledge_command(self, command_id: str, ack: Mapping[str, Any]) -> dict[str, Any]:
        """A `CommandAcknowledgement` (`received` or `completed`) → the command's state."""
        return await self._call("acknowledgeCommand", path={"command_id": command_id},
                                json_body=dict(ack))

    async def push(self, cursor: str | None, *, url: str | None = None,
                   heartbeat: float = DEFAULT_PUSH_HEARTBEAT) -> AsyncIterator[dict[str, Any]]:
        """The push channel (FIG. 8, `openPushChannel`): every message, checked, as it comes.

        `url` is the connection destination's `push_url`; by default the base URL's `/v1/push`
        with `ws(s)://`.  The first message is `hello`.  The channel has no normal end: when it
        closes or goes silent (no pong within 1.5 `heartbeat` s) this raises
        `CloudUnavailable`; a cursor no longer retained (close code 4410) and a revoked
        credential (1008) raise `CloudRejected` with code `cursor-expired` / `policy-violation`.
        Iterate it inside `contextlib.aclosing()` so that leaving the loop closes the socket.
        """
        operation = "openPushChannel"
        target = _checked_url(url, secure="wss", plain="ws") if url else self._push_url()
        try:
            ws = await self._get_session().ws_connect(
                target, protocols=(PUSH_SUBPROTOCOL,), headers=self._auth_headers(),
                params={"cursor": cursor} if cursor is not None else None, heartbeat=heartbeat,
                ssl=self._ssl, proxy=self.proxy, max_msg_size=self.max_response_bytes)
        except aiohttp.WSServerHandshakeError as exc:
            failure = _handshake_error(operation, exc)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            failure = _transport_error(operation, exc, _host_of(target), self.timeout)
        else:
            failure = None
        if failure is not None:
            raise failure  # outside the handler: aiohttp's error (with the token) is not kept
        async with ws:
            if ws.protocol != PUSH_SUBPROTOCOL:
                raise CloudProtocolError(operation, f"the cloud did not agree to the "
                                                    f"{PUSH_SUBPROTOCOL} subprotocol")
            validator = _schema_validator("PushMessage")
            while True:
                message = await ws.receive()
                if message.type is aiohttp.WSMsgType.TEXT:
                    yield _push_message(operation, message.data, validator)
                elif message.type is aiohttp.WSMsgType.BINARY:
                    raise CloudProtocolError(operation, "a binary frame (messages are JSON text)")
                elif message.type is aiohttp.WSMsgType.ERROR:
                    _raise_ws_error(operation, message.data)
                else:
                    _raise_closed(operation, ws.close_code)

    def _push_url(self) -> str:
        parts = urlsplit(self.base_url)
        scheme = {"https": "wss", "http": "ws"}[parts.scheme]
        return parts._replace(scheme=scheme, path=parts.path + operations()["openPushChannel"][1]
                              ).geturl()

    # -- one HTTP exchange -------------------------------------------------------------------------

    async def _call(self, operation: str, *, path: Mapping[str, str] | None = None,
                    query: Mapping[str, Any] | None = None, json_body: Any = None,
                    raw_body: bytes | None = None, headers: Mapping[str, str] | None = None,
                    auth: bool = True, time_limit: float | None = None) -> dict[str, Any]:
        method, template = operations()[operation]
        url = self.base_url + template.format(**{k: quote(str(v), safe="")
                                                 for k, v in (path or {}).items()})
        request_headers = {"Accept": "application/json", **(headers or {})}
        if auth:
            request_headers.update(self._auth_headers())
        if json_body is not None:
            raw_body = canonical_json(json_body)
        if raw_body is not None:
            request_headers["Content-Type"] = "application/json"
        limit = time_limit or self.timeout
        try:
            async with self._get_session().request(
                    method, url, params={k: str(v) for k, v in (query or {}).items()},
                    data=raw_body, headers=request_headers, allow_redirects=False,
                    proxy=self.proxy, ssl=self._ssl,
                    timeout=aiohttp.ClientTimeout(total=limit)) as response:
                return await self._answer(operation, response)
        except CloudError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            failure = _transport_error(operation, exc, _host_of(url), limit)
        raise failure  # outside the handler: aiohttp's error (with the token) is not kept

    async def _answer(self, operation: str, response: aiohttp.ClientResponse) -> dict[str, Any]:
        status = response.status
        if status >= 400:
            await self._raise_for_error(operation, response)
        validator = _response_validator(operation, status)
        if validator is None:
            raise CloudProtocolError(operation, f"unexpected answer HTTP {status} "
                                                f"{response.reason or ''}".rstrip())
        if response.content_type != "application/json":
            raise CloudProtocolError(operation, f"the answer is {response.content_type!r}, "
                                                f"not application/json (HTTP {status})")
        raw = await _read_limited(response, self.max_response_bytes)
        if raw is None:
            raise CloudProtocolError(operation, f"the answer is larger than "
                                                f"{self.max_response_bytes} bytes")
        body = _parse_json(operation, raw)
        mismatch = _mismatch(validator, body)
        if mismatch is not None:
            raise CloudProtocolError(operation, f"the answer does not match the document: "
                                                f"{mismatch}")
        return body

    async def _raise_for_error(self, operation: str, response: aiohttp.ClientResponse
                               ) -> NoReturn:
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


# -- helpers ---------------------------------------------------------------------------------------

def canonical_json(value: Any) -> bytes:
    """The one serialisation of a request body: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


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


def _checked_url(url: str, *, secure: str, plain: str) -> str:
    """`url` if its scheme is `secure`, or `plain` on a loopback host; ValueError otherwise."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"the cloud URL {url!r} has no host")
    if parts.username or parts.password:
        raise ValueError("the cloud URL must not carry credentials; give the token instead")
    if parts.scheme == secure:
        return url
    if parts.scheme == plain:
        if is_loopback_host(parts.hostname):
            return url
        raise ValueError(f"refusing plain {plain}:// to {parts.hostname}: the cloud is reached "
                         f"over {secure}:// (plain {plain}:// is for loopback test servers only)")
    raise ValueError(f"the cloud URL {url!r} must start with {secure}://")


def _ssl_context(verify_tls: bool, ca_file: str | None) -> ssl.SSLContext | bool:
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


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str, limit: int = 200) -> str:
    text = _one_line(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _parse_json(operation: str, raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise CloudProtocolError(operation, f"the answer is not JSON: {_shorten(str(exc))}"
                                 ) from None


async def _read_limited(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
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
    raw = await _read_limited(response, ERROR_BODY_LIMIT)
    if raw is None:
        return None
    try:
        problem = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    if _mismatch(_schema_validator("Problem"), problem) is not None:
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
    return _shorten(text, 400)


def _transport_error(operation: str, exc: BaseException, host: str,
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


def _handshake_error(operation: str, exc: aiohttp.WSServerHandshakeError) -> CloudError:
    """A refused WebSocket upgrade as a `CloudError` (the body is gone: the status must do)."""
    status = exc.status
    if status == 429 or status >= 500:
        retry_after = parse_retry_after((exc.headers or {}).get("Retry-After"))
        return CloudUnavailable(operation, f"the cloud is unavailable: HTTP {status}",
                                retry_after=retry_after, status=status)
    if status >= 400:
        code = "cursor-expired" if status == 410 else None
        return CloudRejected(operation, f"the cloud refused the push channel: HTTP {status}",
                             status=status, code=code)
    return CloudProtocolError(operation, f"not a WebSocket handshake (HTTP {status}: "
                                         f"{exc.message})")


def _raise_ws_error(operation: str, error: BaseException) -> NoReturn:
    if isinstance(error, aiohttp.WebSocketError) and (
            error.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG):
        raise CloudProtocolError(operation, f"a message over the size limit: {error}") from None
    if isinstance(error, TimeoutError):
        raise CloudUnavailable(operation, f"the channel went silent: {error}") from None
    if isinstance(error, aiohttp.WebSocketError):
        raise CloudProtocolError(operation, f"a broken WebSocket frame: {error}") from None
    raise CloudUnavailable(operation, f"the channel failed: {type(error).__name__}: {error}"
                           ) from None


_CLOSE_REASONS = {1000: "closed by the cloud", 1001: "the cloud is going away",
                  1006: "the connection was lost", 1011: "internal error of the cloud"}


def _raise_closed(operation: str, code: int | None) -> NoReturn:
    if code == 4410:
        raise CloudRejected(operation, "the cursor is no longer retained (close code 4410); "
                                       "resynchronise and reconnect without a cursor",
                            status=410, code="cursor-expired")
    if code == aiohttp.WSCloseCode.POLICY_VIOLATION:
        raise CloudRejected(operation, "the cloud closed the channel for a policy violation "
                                       "(1008: credential revoked or gateway disabled)",
                            status=None, code="policy-violation")
    reason = _CLOSE_REASONS.get(code or 1006, "closed")
    raise CloudUnavailable(operation, f"the channel closed: {reason} (close code {code})")


def _push_message(operation: str, text: str, validator: Draft202012Validator) -> dict[str, Any]:
    body = _parse_json(operation, text.encode("utf-8"))
    mismatch = _mismatch(validator, body)
    if mismatch is not None:
        raise CloudProtocolError(operation, f"a push message does not match the document: "
                                            f"{mismatch}")
    return body

