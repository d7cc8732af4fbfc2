"""The skeleton every operation of the cloud shares, written once.

An operation's handler is only its own logic, declared with what it needs:

    @writes(Caller.GATEWAY, body="ActivationNotice")
    async def notify_activation(call: Call, session: AsyncSession) -> Reply:
        ...

The decorator authenticates the caller (401/403, `cloud.auth`), reads the query parameters and
the JSON body against the document (400/422, `cloud.schema`), opens the database session (a
read-only one for `reads`, a write transaction for `writes`, the Idempotency-Key's transaction
for `once`) and answers the returned JSON.  A `Problem` raised anywhere becomes the problem
answer (`cloud.problems.problem_middleware`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth import require_gateway, require_operator
from cloud.db import Gateway
from cloud.problems import Handler, not_found
from cloud.schema import idempotency_key, is_uuid, json_body, query
from cloud.state import Cloud, cloud

OPERATOR = "operator"
"""The principal of the operator's Idempotency-Keys (all operator tokens share them)."""


class Caller(Enum):
    ANYONE = "anyone"
    """No credential: the connection destination and enrolment."""
    GATEWAY = "gateway"
    """A gateway's bearer token (an operator token is 403)."""
    OPERATOR = "operator"
    """An operator token (a gateway token is 403); the member site calls with one too."""


@dataclass(frozen=True)
class Call:
    """One request as an operation's logic sees it: authenticated, its inputs checked."""

    request: web.Request
    state: Cloud
    caller: Gateway | None
    """The calling gateway (None unless the operation is for `Caller.GATEWAY`)."""
    body: dict[str, Any] = field(default_factory=dict)
    """The JSON body, valid against the operation's schema (empty when it takes none)."""
    query: dict[str, Any] = field(default_factory=dict)
    """The query parameters, valid against their schemas, defaults filled in."""

    @property
    def gateway(self) -> Gateway:
        """The calling gateway, for the operations of `Caller.GATEWAY`."""
        assert self.caller is not None, "not a gateway operation"
        return self.caller

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    def path_id(self, name: str, missing: str) -> str:
        """The UUID in the path parameter `name`, lower-cased; 404 with `missing` (formatted
        with the value) when it is not a UUID, as no such resource can exist."""
        value = self.path(name).lower()
        if not is_uuid(value):
            raise not_found(missing.format(value))
        return value


@dataclass(frozen=True)
class Answer:
    """A JSON answer with a status other than the operation's usual one."""

    body: dict[str, Any]
    status: int = 200


Reply = dict[str, Any] | Answer
Logic = Callable[[Call], Awaitable[Reply | web.StreamResponse]]
SessionLogic = Callable[[Call, AsyncSession], Awaitable[Reply]]


def _answer(reply: Reply, status: int) -> Answer:
    return reply if isinstance(reply, Answer) else Answer(reply, status)


async def _call(request: web.Request, caller: Caller, body: str | None,
                parameters: str | None) -> Call:
    """Authenticate, then check the query parameters and read the body, in that order."""
    gateway = None
    if caller is Caller.GATEWAY:
        gateway = await require_gateway(request)
    elif caller is Caller.OPERATOR:
        await require_operator(request)
    parameters_in = query(request, parameters) if parameters is not None else {}
    return Call(request, cloud(request), gateway, query=parameters_in,
                body=await json_body(request, body) if body is not None else {})


def operation(caller: Caller, *, body: str | None = None, parameters: str | None = None,
              status: int = 200) -> Callable[[Logic], Handler]:
    """A handler running `logic` without a session of its own; `body` names the body's schema
    (`components.schemas`), `parameters` the operation whose query parameters it takes."""
    def decorate(logic: Logic) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            reply = await logic(await _call(request, caller, body, parameters))
            if isinstance(reply, web.StreamResponse):
                return reply
            answer = _answer(reply, status)
            return web.json_response(answer.body, status=answer.status)

        return handler

    return decorate


def reads(caller: Caller, *, parameters: str | None = None) -> Callable[[SessionLogic], Handler]:
    """A handler running `logic` in a read-only session."""
    def decorate(logic: SessionLogic) -> Handler:
        async def run(call: Call) -> Reply:
            async with call.state.db.read() as session:
                return await logic(call, session)

        return operation(caller, parameters=parameters)(run)

    return decorate


def writes(caller: Caller, *, body: str | None = None,
           status: int = 200) -> Callable[[SessionLogic], Handler]:
    """A handler running `logic` in one write transaction (`Database.transact`: run again when
    it loses a race on a unique constraint, so `logic` must not act outside the session)."""
    def decorate(logic: SessionLogic) -> Handler:
        async def run(call: Call) -> Reply:
            return await call.state.db.transact(lambda session: logic(call, session))

        return operation(caller, body=body, status=status)(run)

    return decorate


Replay = Callable[[Call, dict[str, Any]], Awaitable[Reply]]


def once(scope: str, *, body: str, status: int = 201,
         replay: Replay | None = None) -> Callable[[SessionLogic], Handler]:
    """An operator operation that may carry an `Idempotency-Key` (`cloud.idempotency`): `logic`
    runs once per key, in the transaction that stores its answer; a retry gets the stored
    answer, or what `replay` makes of it.  The key is checked before the body."""
    def decorate(logic: SessionLogic) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            await require_operator(request)
            key = idempotency_key(request, required=False)
            call = Call(request, cloud(request), None, body=await json_body(request, body))

            async def work(session: AsyncSession) -> tuple[int, dict[str, Any]]:
                answer = _answer(await logic(call, session), status)
                return answer.status, answer.body

            outcome = await call.state.keys.run(scope, OPERATOR, key, _fingerprint(call), work)
            answer = Answer(outcome.body, outcome.status)
            if outcome.replayed and replay is not None:
                answer = _answer(await replay(call, outcome.body), 200)
            return web.json_response(answer.body, status=answer.status)

        return handler

    return decorate


def _fingerprint(call: Call) -> str:
    """What a retry must repeat: the path (naming the printer) and the body."""
    canonical = json.dumps([call.request.path, call.body], sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
