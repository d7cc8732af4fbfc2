"""The gateway's client for the cloud API written down in `openapi.yaml` beside this file.

One method per gateway operation of the document; each takes and returns the typed requests and
answers of `protocols.cloud.models` and `protocols.cloud.registration`, converted at this edge
from answers checked against the operation's response schema, so the caller never sees a shape the
document does not allow.  Routes are read from the document by `operationId`
(`protocols.cloud.transport.operation_request`); the push channel is `protocols.cloud.push`.

Errors are the three kinds of `protocols.cloud.errors`: `CloudUnavailable` (retry later),
`CloudRejected` (the cloud refused this request), `CloudProtocolError` (the answer breaks the
document).

Secure by default: `https://` and `wss://` only, certificates verified, plain `http://` accepted
for loopback test servers only.  The bearer token is sent in the `Authorization` header and
nowhere else: not in messages, logs or `repr`.
"""

from __future__ import annotations

import gzip
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from protocols.cloud import operations
from protocols.cloud.changes import read_command_status, read_page, read_pending
from protocols.cloud.errors import CloudError, CloudProtocolError, transport_error
from protocols.cloud.models import (
    ChangePage,
    CommandAcknowledgement,
    CommandStatus,
    PushMessage,
    StatusBatchResult,
    StatusEntry,
    UnreadableCommand,
    statuses_json,
)
from protocols.cloud.push import DEFAULT_PUSH_HEARTBEAT, push_messages
from protocols.cloud.registration import (
    Activation,
    ActivationResults,
    ApplicationInformation,
    ConnectionDestination,
    ConnectionDestinationRequest,
    DeviceControlInformation,
    EnrolmentRequest,
    GatewayCredential,
    PrinterRegistration,
    PrinterRegistrationResult,
    TransmissionDataTypesReport,
)
from protocols.cloud.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    canonical_json,
    checked_url,
    host_of,
    operation_request,
    read_answer,
    ssl_context,
)
from protocols.version import VERSION

log = logging.getLogger(__name__)

GZIP_THRESHOLD = 1024
"""Upload bodies larger than this many bytes are sent gzip-compressed."""


class CloudClient:
    """An aiohttp client for the gateway operations of the cloud API.

    Use it as an async context manager (or call `close()`); the HTTP session is opened on first
    use.  `with_base_url()` and `with_token()` give a new client with the same settings, with its
    own session, to be closed by the caller as well.
    """

    def __init__(self, base_url: str, *, token: str | None = None, verify_tls: bool = True,
                 ca_file: str | None = None, proxy: str | None = None, timeout: float = 30.0,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
                 user_agent: str = f"printgw/{VERSION}") -> None:
        self.base_url = checked_url(base_url, secure="https", plain="http").rstrip("/")
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
        self._ssl: ssl.SSLContext | bool = ssl_context(verify_tls, ca_file)
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


    # -- the operations ----------------------------------------------------------------------------

    async def resolve_connection_destination(self, request: ConnectionDestinationRequest
                                             ) -> ConnectionDestination:
        """S0601-S0602: the regional endpoint for the request's region.  Sent without the bearer
        token (the call is unauthenticated)."""
        return usable_destination(ConnectionDestination.from_json(await self._call(
            "resolveConnectionDestination", json_body=request.to_json(), auth=False)))

    async def enrol(self, request: EnrolmentRequest, *,
                    idempotency_key: str | None = None) -> GatewayCredential:
        """Exchange the one-time enrolment token for the gateway's credential.

        Give an `idempotency_key` saved before the call: a retry with it after a crash gets the
        same credential again instead of 401 (the token is spent by the first call).
        """
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return GatewayCredential.from_json(await self._call(
            "enrolGateway", json_body=request.to_json(), headers=headers, auth=False))

    async def register_printer(self, registration: PrinterRegistration
                               ) -> PrinterRegistrationResult:
        """S0603-S0604: a device by its serial → its printer ID."""
        return PrinterRegistrationResult.from_json(await self._call(
            "registerPrinter", json_body=registration.to_json()))

    async def get_applications(self, printer_id: str) -> ApplicationInformation:
        """S0605-S0606: the printer's application (contract) information."""
        return ApplicationInformation.from_json(await self._call(
            "getApplicationInformation", path={"printer_id": printer_id}))

    async def notify_activation(self, printer_id: str,
                                activations: Sequence[Activation]) -> ActivationResults:
        """S0607-S0608: activation notice → one result per service."""
        return ActivationResults.from_json(await self._call(
            "notifyActivation", path={"printer_id": printer_id},
            json_body={"activations": [a.to_json() for a in activations]}))

    async def get_control_information(self, printer_id: str) -> DeviceControlInformation:
        """S0609-S0610: requested and current data types and their difference."""
        return DeviceControlInformation.from_json(await self._call(
            "getDeviceControlInformation", path={"printer_id": printer_id}))

    async def report_transmission_data_types(self, printer_id: str,
                                             report: TransmissionDataTypesReport
                                             ) -> DeviceControlInformation:
        """S0611: the data types the gateway sends from now on → the updated control
        information."""
        return DeviceControlInformation.from_json(await self._call(
            "reportTransmissionDataTypes", path={"printer_id": printer_id},
            json_body=report.to_json()))

    async def upload_statuses(self, entries: Sequence[StatusEntry],
                              idempotency_key: str) -> StatusBatchResult:
        """Upload a batch of status entries → one result per entry.

        The body is serialised deterministically (sorted keys, no spaces), so a retry of the same
        entries with the same key is byte for byte the same request, and gzip-compressed (with a
        fixed mtime) beyond `GZIP_THRESHOLD` bytes.
        """
        body = canonical_json(statuses_json(entries))
        headers = {"Idempotency-Key": idempotency_key}
        if len(body) > GZIP_THRESHOLD:
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
        return StatusBatchResult.from_json(await self._call("uploadStatuses", body=body,
                                                            headers=headers))

    async def poll_changes(self, cursor: str | None, limit: int | None = None,
                           wait: int | None = None) -> ChangePage:
        """The change stream after `cursor` (polling fall-back of the push channel).

        Each change is checked on its own: one that does not match the document comes as an
        `UnreadableChange` in its place (`protocols.cloud.changes`), the others as usual.

        `wait` > 0 makes it a long poll; the request's time limit grows by as much.
        A cursor older than the retained stream raises `CloudRejected` with code
        `cursor-expired` (resynchronise in full).
        """
        query = {"cursor": cursor, "limit": limit, "wait": wait}
        return await self._call(
            "pollChanges", query={k: v for k, v in query.items() if v is not None},
            time_limit=self.timeout + (wait or 0),
            read=lambda status, body: read_page("pollChanges", status, body))

    async def list_pending_commands(self, printer_id: str | None = None
                                    ) -> tuple[CommandStatus | UnreadableCommand, ...]:
        """Commands not yet completed (after a restart or a resynchronisation); one that does
        not match the document is an `UnreadableCommand` (to be refused), the others are read
        all the same."""
        query = {"printer_id": printer_id} if printer_id is not None else {}
        return await self._call(
            "listPendingCommands", query=query,
            read=lambda status, body: read_pending("listPendingCommands", status, body))

    async def acknowledge_command(self, command_id: str, ack: CommandAcknowledgement
                                  ) -> CommandStatus | UnreadableCommand:
        """A `received` or `completed` acknowledgement → the command's state.  The cloud took
        the acknowledgement whatever the command it describes: one this version cannot read
        (the refusal of an unknown kind) comes back as an `UnreadableCommand`, not an error."""
        return await self._call(
            "acknowledgeCommand", path={"command_id": command_id}, json_body=ack.to_json(),
            read=lambda _status, body: read_command_status(body))

    def push(self, cursor: str | None, *, url: str | None = None,
             heartbeat: float = DEFAULT_PUSH_HEARTBEAT) -> AsyncIterator[PushMessage]:
        """The push channel (FIG. 8, `openPushChannel`): every message, checked, as it comes
        (see `protocols.cloud.push.push_messages` for how it ends).

        `url` is the connection destination's `push_url`; by default the base URL's `/v1/push`
        with `ws(s)://`.  The first message is `PushHello`.  Iterate it inside
        `contextlib.aclosing()` so that leaving the loop closes the socket.
        """
        target = checked_url(url, secure="wss", plain="ws") if url else self._push_url()
        return push_messages(self._get_session(), target, token=self._token, cursor=cursor,
                             heartbeat=heartbeat, tls=self._ssl, proxy=self.proxy,
                             max_bytes=self.max_response_bytes, time_limit=self.timeout)

    def _push_url(self) -> str:
        parts = urlsplit(self.base_url)
        scheme = {"https": "wss", "http": "ws"}[parts.scheme]
        return parts._replace(scheme=scheme, path=parts.path + operations()["openPushChannel"][1]
                              ).geturl()

    # -- one HTTP exchange -------------------------------------------------------------------------

    async def _call(self, operation: str, *, path: Mapping[str, str] | None = None,
                    query: Mapping[str, Any] | None = None, json_body: Any = None,
                    body: bytes | None = None, headers: Mapping[str, str] | None = None,
                    auth: bool = True, time_limit: float | None = None,
                    read: Callable[[int, Any], Any] | None = None) -> Any:
        limit = time_limit or self.timeout
        try:
            async with operation_request(
                    self._get_session(), self.base_url, operation,
                    token=self._token if auth else None, path=path, query=query,
                    json_body=json_body, body=body,
                    headers={"Accept": "application/json", **(headers or {})},
                    proxy=self.proxy, ssl=self._ssl,
                    timeout=aiohttp.ClientTimeout(total=limit)) as response:
                return await read_answer(operation, response, self.max_response_bytes, read)
        except CloudError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            failure = transport_error(operation, exc, host_of(self.base_url), limit)
        raise failure  # outside the handler: aiohttp's error (with the token) is not kept


def usable_destination(destination: ConnectionDestination) -> ConnectionDestination:
    """The connection destination if the gateway can use it: `base_url` https (http to
    loopback only), `push_url` wss (ws to loopback only), each with a host and no credentials;
    else `CloudProtocolError` (what is wrong, never the credentials)."""
    operation = "resolveConnectionDestination"
    try:
        checked_url(destination.base_url, secure="https", plain="http")
        checked_url(destination.push_url, secure="wss", plain="ws")
    except ValueError as exc:
        problem = str(exc)
    else:
        return destination
    raise CloudProtocolError(operation, f"the connection destination for region "
                                        f"{destination.region} is not usable: {problem}")
