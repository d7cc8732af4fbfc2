"""RFC 9457 problem details: every 4xx and 5xx answer of the cloud is one (`Problem` schema).

Handlers raise `Problem`; the middleware turns it, aiohttp's own HTTP errors (unknown route,
wrong method) and unexpected exceptions into `application/problem+json` responses.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

PROBLEM_BASE = "https://printgw.example/problems/"
PROBLEM_JSON = "application/problem+json"

# name → (status, title); the names are the document's `Problem.x-problem-types`.
TYPES: dict[str, tuple[int, str]] = {
    "malformed-request": (400, "Malformed request"),
    "unauthenticated": (401, "Unauthenticated"),
    "enrolment-token-invalid": (401, "Enrolment token invalid"),
    "forbidden": (403, "Forbidden"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict"),
    "serial-conflict": (409, "Serial conflict"),
    "request-in-progress": (409, "Request in progress"),
    "acknowledgement-conflict": (409, "Acknowledgement conflict"),
    "contract-conflict": (409, "Contract conflict"),
    "contract-unsupported": (409, "Contract function unsupported"),
    "contract-function-unknown": (409, "Contract function unknown"),
    "cursor-expired": (410, "Cursor expired"),
    "payload-too-large": (413, "Payload too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "validation-failed": (422, "Validation failed"),
    "unknown-region": (422, "Unknown region"),
    "idempotency-key-reuse": (422, "Idempotency key reused"),
    "upgrade-required": (426, "Upgrade required"),
    "rate-limited": (429, "Too many requests"),
    "server-error": (500, "Internal server error"),
    "unavailable": (503, "Service unavailable"),
}
_BY_STATUS = {status: name for name, (status, _) in reversed(TYPES.items())}

log = logging.getLogger(__name__)


class Problem(Exception):
    """An error answer: `raise Problem("not-found", "No printer … is registered by this gateway.")`.

    `errors` are the document's per-field items: `{"pointer": "/serial", "detail": …}`,
    `{"parameter": "limit", …}` or `{"header": "Idempotency-Key", …}`.
    """

    def __init__(self, name: str, detail: str, *, errors: list[dict[str, str]] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.name = name
        self.status, self.title = TYPES[name]
        self.detail = detail
        self.errors = errors or []
        self.headers = dict(headers or {})

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": PROBLEM_BASE + self.name, "title": self.title,
                                "status": self.status, "detail": self.detail}
        if self.errors:
            body["errors"] = self.errors
        return body

    def response(self) -> web.Response:
        return web.Response(status=self.status, text=json.dumps(self.to_json()),
                            content_type=PROBLEM_JSON, headers=self.headers)


def malformed(detail: str, **where: str) -> Problem:
    """400 for a bad parameter or header: `malformed(…, parameter="limit")`."""
    errors = [{**where, "detail": detail}] if where else []
    return Problem("malformed-request", detail, errors=errors)


def invalid(pointer: str, detail: str) -> Problem:
    """422 naming one field of the request body."""
    return Problem("validation-failed", detail, errors=[{"pointer": pointer, "detail": detail}])


def not_found(detail: str) -> Problem:
    return Problem("not-found", detail)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except Problem as problem:
        return problem.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        name = _BY_STATUS.get(exc.status, "server-error" if exc.status >= 500 else
                              "malformed-request")
        problem = Problem(name, exc.reason)
        problem.status = exc.status
        if exc.status == 405 and "Allow" in exc.headers:
            problem.headers["Allow"] = exc.headers["Allow"]
        return problem.response()
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return Problem("server-error", "The cloud failed; retry later.").response()
    if isinstance(response, web.Response) and response.body is not None \
            and len(response.body) > 1024:
        response.enable_compression()
    return response
