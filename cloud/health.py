"""The operational endpoints: `/healthz`, `/readyz`, `/metrics`, and the request metrics.

They are not operations of the gateway protocol (not in `protocols/cloud/openapi.yaml`, not in
`cloud.app.ROUTES`):

- `GET /healthz`: liveness, 200 while this process's event loop answers; no database call (a
  database outage must not get every worker restarted);
- `GET /readyz`: 200 when this worker can serve: the app has started (schema ready), the
  database answers `SELECT 1` within `READY_TIMEOUT`, the wake bus is connected and the server
  is not shutting down; else 503 naming the failed checks (no URL, no secret);
- `GET /metrics`: the Prometheus text format (`cloud.metrics`; of every worker), plus figures
  read from the database at the scrape (`SCRAPE_TIMEOUT` at most).  It needs an operator bearer
  token, as the operator API does: the figures describe the whole service.

`metrics_middleware` (outermost) counts every request by its route's template, never its raw
path (a path with IDs in it would make a series per printer).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import metrics, times
from cloud.auth import require_operator
from cloud.db import CartridgeOrder, ContractProcess, Database
from cloud.metrics import ReadGauge
from cloud.notice_tables import MemberNotice, ProviderDelivery
from cloud.problems import Handler
from cloud.state import CLOUD
from protocols.version import VERSION

READY_TIMEOUT = 2.0
"""Seconds the database has to answer the readiness check."""
SCRAPE_TIMEOUT = 5.0
"""Seconds the database has to answer the figures of one scrape (else they are left out)."""
OUTBOXES = (CartridgeOrder, MemberNotice, ProviderDelivery)
"""The webhook outbox tables (`cloud.webhooks`) whose queues `/metrics` shows."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass
class Health:
    """What this worker knows of its own state, beside the database and the wake bus."""

    started: bool = False
    stopping: bool = False


HEALTH = web.AppKey("health", Health)


def add_health(app: web.Application) -> None:
    """The endpoints, the request metrics and the started / stopping flags.  Call it last in
    `create_app`: `started` is set once every earlier startup step (the schema) is done."""
    app[HEALTH] = Health()
    app.middlewares.insert(0, metrics_middleware)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", serve_metrics)
    app.cleanup_ctx.append(_started)
    app.on_shutdown.append(_stopping)


async def _started(app: web.Application) -> AsyncIterator[None]:
    app[HEALTH].started = True
    yield
    app[HEALTH].started = False


async def _stopping(app: web.Application) -> None:
    app[HEALTH].stopping = True


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    start = time.monotonic()
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # what the problem middleware lets through (< 400)
        _count(request, exc.status, start)
        raise
    _count(request, response.status, start)
    return response


def _count(request: web.Request, status: int, start: float) -> None:
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else metrics.UNMATCHED_ROUTE
    method = request.method if request.method in METHODS else "other"
    metrics.request_answered(route, method, status, time.monotonic() - start)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    failed = [name for name, ok in (await _checks(request.app)).items() if not ok]
    if failed:
        return web.json_response({"status": "unavailable", "failed": failed}, status=503)
    return web.json_response({"status": "ready"})


async def _checks(app: web.Application) -> dict[str, bool]:
    health, state = app[HEALTH], app[CLOUD]
    return {"started": health.started, "not_stopping": not health.stopping,
            "database": await _database_answers(state.db), "wake_bus": state.wakes.connected}


async def _database_answers(db: Database) -> bool:
    try:
        async with asyncio.timeout(READY_TIMEOUT), db.read() as session:
            await session.execute(text("SELECT 1"))
    except Exception:  # any failure of the database (or the time bound) is "not ready"
        return False
    return True


async def serve_metrics(request: web.Request) -> web.Response:
    await require_operator(request)
    read = [ReadGauge("printgw_cloud_build_info", "The running printgw cloud (value 1)",
                      {VERSION: 1.0}, "version")]
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT), request.app[CLOUD].db.read() as session:
            read.extend(await _database_figures(session))
        reachable = 1.0
    except Exception:  # the counted metrics are still worth answering without the database
        reachable = 0.0
    read.append(ReadGauge("printgw_cloud_database_reachable",
                          "1 when the database answered this scrape's queries in time",
                          {"": reachable}))
    body = await asyncio.get_running_loop().run_in_executor(None, metrics.exposition, read)
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})


async def _database_figures(session: AsyncSession) -> list[ReadGauge]:
    now = times.now()
    pending: dict[str, float] = {}
    due: dict[str, float] = {}
    for model in OUTBOXES:
        name = model.__tablename__
        pending[name], due[name] = (await session.execute(
            select(func.count(), func.count().filter(model.next_attempt_at <= now))
            .where(model.state == "pending"))).one()
    unfinished = (await session.execute(select(func.count()).select_from(ContractProcess)
                                        .where(ContractProcess.outcome.is_(None)))).scalar_one()
    return [ReadGauge("printgw_cloud_webhook_queue_pending",
                      "Webhook deliveries not yet taken by their receiver, by outbox",
                      pending, "outbox"),
            ReadGauge("printgw_cloud_webhook_queue_due",
                      "Pending webhook deliveries whose next attempt is due now, by outbox",
                      due, "outbox"),
            ReadGauge("printgw_cloud_contract_processes_unfinished",
                      "Contract processes not yet ended (no outcome)", {"": unfinished})]
