"""A small, honest cloud on loopback for the gateway's cloud client and outbox sender: the
gateway operations of the document (`protocols/cloud/openapi.yaml`) in memory, every request it
receives checked against the document.

A pytest plugin (registered in `tests/conftest.py`): the `fake_cloud` fixture serves a `FakeCloud`
on 127.0.0.1 and fails the test when it was sent a request that breaks the document.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from aiohttp import WSCloseCode, web

from protocols.cloud.times import rfc3339
from tests.support.cloud_document import DOC, OPERATIONS, deref, escape, pointer, validator_for

TOKEN = "pgwg_Yh3kQ9wN2rV7mZ1xC5bT8pL4sD6fG0aJ"
ENROLMENT_TOKEN = "pgwe_5s1vQ2m0c8Yk3Jd7XbT4"
KNOWN_PRINTER = "9b2e4c71-0f3d-4a8e-b6c5-1d7a2e9f4b30"
KNOWN_SERIAL = "CNB7K12345"
COMMAND_ID = "5f3c2a10-7e4b-4c9d-8a61-2b0e9d7f3c58"
GATEWAY_OPERATIONS = [op_id for op_id, (_, _, op) in OPERATIONS.items()
                      if "operator" not in op["tags"]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY = web.RequestKey("body", Any)
"""The request's JSON body, checked by `FakeCloud._check`."""
DECODED = web.RequestKey("decoded", bytes)
"""The request's body as sent, decompressed."""


# -- the document as the fake cloud reads it -------------------------------------------------------

def _parameters(operation_id: str) -> list[tuple[str, dict[str, Any], str]]:
    """(in, parameter, pointer of its schema) of every parameter of the operation."""
    path, method, op = OPERATIONS[operation_id]
    found = []
    for owner, params in (("path", DOC["paths"][path].get("parameters", [])),
                          ("op", op.get("parameters", []))):
        for i, param in enumerate(params):
            base = (f"/paths/{escape(path)}/parameters/{i}" if owner == "path"
                    else f"/paths/{escape(path)}/{method}/parameters/{i}")
            if "$ref" in param:
                base = param["$ref"].removeprefix("#")
            found.append((deref(param)["in"], deref(param), base + "/schema"))
    return found


def _body_schema(operation_id: str) -> str | None:
    path, method, op = OPERATIONS[operation_id]
    if "requestBody" not in op:
        return None
    return f"/paths/{escape(path)}/{method}/requestBody/content/application~1json/schema"


def problem(status: int, name: str, detail: str, *, errors: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"type": f"https://printgw.example/problems/{name}",
                            "title": name.replace("-", " ").capitalize(), "status": status,
                            "detail": detail}
    if errors:
        body["errors"] = errors
    return web.json_response(body, status=status, headers=headers,
                             content_type="application/problem+json")


def now_iso(offset: float = 0.0) -> str:
    """Now (plus `offset` seconds), as the fake cloud writes times."""
    return rfc3339(time.time() + offset, "seconds")


@dataclass
class Seen:
    """A request as the fake cloud received it (body decompressed)."""

    operation: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes
    raw: bytes


# -- the fake cloud --------------------------------------------------------------------------------

class FakeCloud:
    """The gateway operations of the document, in memory, with every request checked against it.

    A request that breaks the document is answered as the reference cloud would (401, 400, 415,
    422 with pointers) and remembered in `invalid`: the fixture fails the test when any was seen.
    `overrides[operationId]` replaces an operation's handler (for bad answers); `push_then`
    decides what the push channel does after its replay.
    """

    def __init__(self) -> None:
        self.url = ""
        self.invalid: list[str] = []
        self.seen: list[Seen] = []
        self.overrides: dict[str, Handler] = {}
        self.printers: dict[str, str] = {KNOWN_SERIAL: KNOWN_PRINTER}
        self.current: dict[str, list[str]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self.enrolment: tuple[str | None, dict[str, Any]] | None = None
        self.acks: dict[tuple[str, str], dict[str, Any]] = {}
        self.command = {"command_id": COMMAND_ID, "printer_id": KNOWN_PRINTER,
                        "kind": "panel-message",
                        "parameters": {"message": "Please install the contract cartridge."},
                        "issued_at": "2025-07-01T12:00:01Z", "deadline": "2099-07-02T12:00:01Z"}
        self.changes = [
            {"type": "application-info-changed", "cursor": "c_01",
             "occurred_at": "2025-07-01T12:00:00Z", "printer_id": KNOWN_PRINTER, "revision": 8},
            {"type": "command", "cursor": "c_02", "occurred_at": "2025-07-01T12:00:01Z",
             "command": self.command},
            {"type": "control-info-changed", "cursor": "c_03",
             "occurred_at": "2025-07-01T12:00:02Z", "printer_id": KNOWN_PRINTER, "revision": 9},
        ]
        self.push_then: Callable[[web.WebSocketResponse], Awaitable[None]] = _close_going_away
        self.push_reads = True
        self.app = web.Application(middlewares=[self._check])
        for operation_id in GATEWAY_OPERATIONS:
            path, method, _ = OPERATIONS[operation_id]
            self.app.router.add_route(method.upper(), path, self._dispatch(operation_id),
                                      name=operation_id)

    def _dispatch(self, operation_id: str) -> Handler:
        default: Handler = getattr(self, "op_" + operation_id)

        async def handle(request: web.Request) -> web.StreamResponse:
            return await self.overrides.get(operation_id, default)(request)
        return handle

    def _invalid(self, operation_id: str, status: int, name: str, detail: str,
                 errors: list[dict[str, str]] | None = None) -> web.Response:
        self.invalid.append(f"{operation_id}: {detail} {errors or ''}")
        return problem(status, name, detail, errors=errors)

    @web.middleware
    async def _check(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authentication, parameters and body, as the document says."""
        operation_id = request.match_info.route.name
        assert operation_id is not None
        _, _, op = OPERATIONS[operation_id]
        secured = op.get("security", DOC["security"]) != []
        if secured and request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._invalid(operation_id, 401, "unauthenticated", "No valid bearer token.")
        if not secured and "Authorization" in request.headers:
            self.invalid.append(f"{operation_id}: a token sent to an unauthenticated operation")
        for where, param, schema in _parameters(operation_id):
            source = {"path": request.match_info, "query": request.query,
                      "header": request.headers}[where]
            name = param["name"]
            if name not in source:
                if param.get("required"):
                    return self._invalid(operation_id, 400, "malformed-request",
                                         f"Missing {where} parameter {name}.")
                continue
            value: Any = source[name]
            if deref({"$ref": "#" + schema}).get("type") == "integer":
                try:
                    value = int(value)
                except ValueError:
                    return self._invalid(operation_id, 400, "malformed-request",
                                         f"{name} is not an integer.")
            errors = list(validator_for(schema).iter_errors(value))
            if errors:
                return self._invalid(operation_id, 400, "malformed-request",
                                     f"Bad {where} parameter {name}: {errors[0].message}")
        raw = await request.read()
        body = raw
        if request.headers.get("Content-Encoding", "identity") == "gzip":
            try:
                body = gzip.decompress(raw)
            except (OSError, EOFError):
                return self._invalid(operation_id, 400, "malformed-request", "Unreadable gzip.")
        elif request.headers.get("Content-Encoding", "identity") != "identity":
            return self._invalid(operation_id, 415, "unsupported-media-type", "Unknown coding.")
        self.seen.append(Seen(operation_id, dict(request.headers), dict(request.query), body,
                              raw))
        request[DECODED] = body
        schema = _body_schema(operation_id)
        if schema is not None:
            if request.content_type != "application/json":
                return self._invalid(operation_id, 415, "unsupported-media-type",
                                     f"Not JSON: {request.content_type}.")
            try:
                document = json.loads(body)
            except ValueError as exc:
                return self._invalid(operation_id, 400, "malformed-request", str(exc))
            errors = [{"pointer": pointer(*e.absolute_path), "detail": e.message}
                      for e in validator_for(schema).iter_errors(document)]
            if errors:
                return self._invalid(operation_id, 422, "validation-failed",
                                     f"{len(errors)} fields are invalid.", errors)
            request[BODY] = document
        return await handler(request)

    def _printer(self, request: web.Request) -> str | None:
        printer_id = request.match_info["printer_id"]
        return printer_id if printer_id in self.printers.values() else None

    @staticmethod
    def _not_found(what: str) -> web.Response:
        return problem(404, "not-found", f"No {what} is registered by this gateway.")

    def _applications(self, printer_id: str) -> list[dict[str, Any]]:
        return [{"service_id": "toner-delivery",
                 "service_outline": "Automatic toner delivery when a cartridge runs low",
                 "application_id": f"app-{printer_id[:8]}", "provider": "Example Office Supplies",
                 "application_date": "2025-06-30", "activation_state": "inactive",
                 "compatible_cartridge_models": ["W2030A"],
                 "data_types": ["supplies.level", "supplies.model"],
                 "activation_by_first_upload": True}]

    def _control(self, printer_id: str) -> dict[str, Any]:
        requested = [t for app in self._applications(printer_id) for t in app["data_types"]]
        current = self.current.get(printer_id, [])
        return {"printer_id": printer_id, "revision": 6, "requested_data_types": requested,
                "current_data_types": current,
                "difference": {"added": [t for t in requested if t not in current],
                               "removed": [t for t in current if t not in requested]}}

    # the operations --------------------------------------------------------------------------

    async def op_resolveConnectionDestination(self, request: web.Request) -> web.Response:
        origin = f"{request.scheme}://{request.host}"
        return web.json_response({"region": request[BODY]["region"], "base_url": origin,
                                  "push_url": origin.replace("http", "ws", 1) + "/v1/push",
                                  "valid_until": now_iso(86400)})

    async def op_enrolGateway(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        if self.enrolment is not None:
            if key is not None and self.enrolment[0] == key:
                return web.json_response(self.enrolment[1], status=200)
            return problem(401, "enrolment-token-invalid", "The enrolment token is spent.")
        if request[BODY]["enrolment_token"] != ENROLMENT_TOKEN:
            return problem(401, "enrolment-token-invalid", "Unknown enrolment token.")
        credential = {"gateway_id": str(uuid.uuid4()), "token_type": "Bearer", "token": TOKEN,
                      "region": "jp", "issued_at": now_iso(), "expires_at": None}
        self.enrolment = (key, credential)
        return web.json_response(credential, status=201)

    async def op_registerPrinter(self, request: web.Request) -> web.Response:
        serial = request[BODY]["serial"]
        created = serial not in self.printers
        printer_id = self.printers.setdefault(serial, str(uuid.uuid4()))
        return web.json_response({"printer_id": printer_id, "serial": serial, "created": created,
                                  "registered_at": "2025-07-01T09:01:00Z"},
                                 status=201 if created else 200)

    async def op_getApplicationInformation(self, request: web.Request) -> web.Response:
        printer_id = self._printer(request)
        if printer_id is None:
            return self._not_found("such printer")
        return web.json_response({"printer_id": printer_id, "revision": 4,
                                  "applications": self._applications(printer_id)})

    async def op_notifyActivation(self, request: web.Request) -> web.Response:
        printer_id = self._printer(request)
        if printer_id is None:
            return self._not_found("such printer")
        known = {a["application_id"] for a in self._applications(printer_id)}
        results = []
        for notice in request[BODY]["activations"]:
            ok = notice["application_id"] in known
            results.append({**notice, "result": "activated" if ok else "refused",
                            "activation_state": "active" if ok else "inactive",
                            "activated_at": now_iso() if ok else None,
                            "reason": None if ok else {"code": "application-unknown",
                                                       "detail": "No such application ID."}})
        return web.json_response({"printer_id": printer_id, "revision": 5, "results": results})

    async def op_getDeviceControlInformation(self, request: web.Request) -> web.Response:
        printer_id = self._printer(request)
        if printer_id is None:
            return self._not_found("such printer")
        return web.json_response(self._control(printer_id))

    async def op_reportTransmissionDataTypes(self, request: web.Request) -> web.Response:
        printer_id = self._printer(request)
        if printer_id is None:
            return self._not_found("such printer")
        self.current[printer_id] = request[BODY]["transmission_data_types"]
        return web.json_response(self._control(printer_id))

    async def op_uploadStatuses(self, request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        body = request[DECODED]
        if key in self.batches:
            stored_body, stored = self.batches[key]
            if stored_body != body:
                return problem(422, "idempotency-key-reuse", "Another body with this key.")
            return web.json_response(stored)
        results = []
        for entry in request[BODY]["statuses"]:
            if entry["printer_id"] not in self.printers.values():
                results.append({"entry_id": entry["entry_id"], "status": "rejected",
                                "reason": {"code": "unknown-printer", "detail": "Not ours."}})
            elif entry["entry_id"] in self.statuses:
                results.append({"entry_id": entry["entry_id"], "status": "duplicate"})
            else:
                self.statuses[entry["entry_id"]] = entry
                requested = self._control(entry["printer_id"])["requested_data_types"]
                result = {"entry_id": entry["entry_id"], "status": "accepted",
                          "ignored_data_types": sorted(set(entry["data"]) - set(requested))}
                if "application_ids" in entry:
                    result["activations"] = self._first_upload(entry)
                results.append(result)
        counts = {s: sum(r["status"] == s for r in results)
                  for s in ("accepted", "duplicate", "rejected")}
        answer = {"received_at": now_iso(), "counts": counts, "results": results}
        self.batches[key] = (body, answer)
        return web.json_response(answer)

    def _first_upload(self, entry: dict[str, Any]) -> list[dict[str, Any]]:
        """FIG. 9: the entry's application IDs activate the services that allow it."""
        applications = {a["application_id"]: a for a in self._applications(entry["printer_id"])}
        results = []
        for application_id in entry["application_ids"]:
            application = applications.get(application_id)
            ok = application is not None and application["activation_by_first_upload"]
            results.append({
                "service_id": application["service_id"] if application else "unknown",
                "application_id": application_id, "result": "activated" if ok else "refused",
                "activation_state": "active" if ok else "inactive",
                "activated_at": now_iso() if ok else None,
                "reason": None if ok else {"code": "application-unknown",
                                           "detail": "No such application ID."}})
        return results

    def _after(self, cursor: str | None) -> list[dict[str, Any]] | None:
        """The changes after `cursor`; None when the cursor is not one of the stream's."""
        if cursor is None:
            return list(self.changes)
        cursors = [c["cursor"] for c in self.changes]
        return self.changes[cursors.index(cursor) + 1:] if cursor in cursors else None

    async def op_pollChanges(self, request: web.Request) -> web.Response:
        cursor = request.query.get("cursor")
        changes = self._after(cursor)
        if changes is None:
            return problem(410, "cursor-expired", "The cursor is no longer retained.")
        limit = int(request.query.get("limit", "100"))
        page = changes[:limit]
        return web.json_response({"changes": page,
                                  "next_cursor": page[-1]["cursor"] if page else cursor,
                                  "has_more": len(changes) > limit, "poll_interval_seconds": 30})

    def _command_status(self) -> dict[str, Any]:
        return command_status(self.command, self.acks, COMMAND_ID)

    async def op_listPendingCommands(self, request: web.Request) -> web.Response:
        printer = request.query.get("printer_id")
        status = self._command_status()
        pending = status["state"] in ("pending", "received") and printer in (None, KNOWN_PRINTER)
        return web.json_response({"commands": [status] if pending else []})

    async def op_acknowledgeCommand(self, request: web.Request) -> web.Response:
        if request.match_info["command_id"] != COMMAND_ID:
            return self._not_found("such command")
        ack = request[BODY]
        self.acks.setdefault((COMMAND_ID, ack["stage"]), ack)
        return web.json_response(self._command_status())

    async def op_openPushChannel(self, request: web.Request) -> web.StreamResponse:
        changes = self._after(request.query.get("cursor"))
        if changes is None:
            return problem(410, "cursor-expired", "The cursor is no longer retained.")
        ws = web.WebSocketResponse(protocols=("printgw.v1",), heartbeat=None)
        await ws.prepare(request)
        if self.push_reads:  # answers the client's pings (and takes its close frame)
            reader = asyncio.create_task(_drain(ws))
        await ws.send_json({"type": "hello", "cursor": request.query.get("cursor"),
                            "heartbeat_seconds": 30, "server_time": now_iso()})
        for change in changes:
            await ws.send_json(change)
        await self.push_then(ws)
        if self.push_reads:
            await reader
        return ws


async def _drain(ws: web.WebSocketResponse) -> None:
    async for _ in ws:
        pass


async def _close_going_away(ws: web.WebSocketResponse) -> None:
    await ws.close(code=WSCloseCode.GOING_AWAY, message=b"restart")


@contextlib.asynccontextmanager
async def serving(app: web.Application, ssl_context: ssl.SSLContext | None = None
                  ) -> AsyncIterator[int]:
    """Serve `app` on 127.0.0.1 (a port of the kernel's choosing); yields the port."""
    runner = web.AppRunner(app, shutdown_timeout=0.25, auto_decompress=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def command_status(command: dict[str, Any], acks: dict[tuple[str, str], dict[str, Any]],
                   command_id: str) -> dict[str, Any]:
    """The `CommandStatus` of an issued command, from the acknowledgements the gateway sent."""
    received = acks.get((command_id, "received"))
    completed = acks.get((command_id, "completed"))
    return {**command,
            "state": completed["result"] if completed else
            ("received" if received else "pending"),
            "received_at": (received or completed or {}).get("at"),
            "completed_at": completed["at"] if completed else None,
            "reason": completed.get("reason") if completed else None,
            "contract_state": completed["contract_state"] if completed else None}


Cloud = TypeVar("Cloud", bound="FakeCloud")


@contextlib.asynccontextmanager
async def listening(cloud: Cloud) -> AsyncIterator[Cloud]:
    """`cloud` served on 127.0.0.1 (its `url` set); fails when it was sent a request that breaks
    the document."""
    async with serving(cloud.app) as port:
        cloud.url = f"http://127.0.0.1:{port}"
        yield cloud
    assert not cloud.invalid, cloud.invalid


@pytest.fixture
async def fake_cloud() -> AsyncIterator[FakeCloud]:
    """A `FakeCloud` on loopback (see `listening`)."""
    async with listening(FakeCloud()) as fake:
        yield fake
