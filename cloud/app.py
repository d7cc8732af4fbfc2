"""`create_app()`: the reference cloud as an aiohttp application, one route per operation of
`protocols/cloud/openapi.yaml`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime

from aiohttp import web
from sqlalchemy import delete, update

from cloud import gateway_api, member_api, meters, operator_api, times
from cloud.change_api import SOCKETS, close_push_channels, poll_changes, push_channel
from cloud.changes import ChangeStream
from cloud.contract_store import ENGINE, ContractEngine, ContractSettings, run_engine, wakes
from cloud.db import Database, EnrolmentToken
from cloud.health import add_health
from cloud.idempotency import IdempotencyKeys
from cloud.jobs import run_due
from cloud.notice_api import get_contract_cartridge, get_contract_usage, list_member_notices
from cloud.notice_tables import MemberNotice, WebhookAttempt
from cloud.problems import problem_middleware
from cloud.providers import ProviderSender, register_changes
from cloud.state import CLOUD, Cloud, Settings
from cloud.statuses import upload_statuses
from cloud.wake_bus import WakeBus
from cloud.webhooks import WebhookSender, endpoint

HOUSEKEEPING_JOB = "housekeeping"
"""The `cloud.jobs` timer of `prune`, run once per `Settings.housekeeping_seconds` across
workers."""

log = logging.getLogger(__name__)

ROUTES = (
    ("POST", "/v1/connection-destination", gateway_api.resolve_connection_destination),
    ("POST", "/v1/gateways", gateway_api.enrol_gateway),
    ("POST", "/v1/printers", gateway_api.register_printer),
    ("GET", "/v1/printers/{printer_id}/applications", gateway_api.get_application_information),
    ("POST", "/v1/printers/{printer_id}/activations", gateway_api.notify_activation),
    ("GET", "/v1/printers/{printer_id}/control-information",
     gateway_api.get_device_control_information),
    ("PUT", "/v1/printers/{printer_id}/transmission-data-types",
     gateway_api.report_transmission_data_types),
    ("POST", "/v1/statuses", wakes(upload_statuses)),
    ("GET", "/v1/push", push_channel),
    ("GET", "/v1/changes", poll_changes),
    ("GET", "/v1/commands", gateway_api.list_pending_commands),
    ("POST", "/v1/commands/{command_id}/acknowledgements",
     wakes(gateway_api.acknowledge_command)),
    ("POST", "/v1/operator/enrolment-tokens", operator_api.create_enrolment_token),
    ("GET", "/v1/operator/services", operator_api.list_services),
    ("GET", "/v1/operator/services/{service_id}/provider-deliveries",
     operator_api.list_provider_deliveries),
    ("PUT", "/v1/operator/services/{service_id}", operator_api.put_service),
    ("GET", "/v1/operator/printers", operator_api.list_printers),
    ("GET", "/v1/operator/printers/{printer_id}", operator_api.get_printer),
    ("POST", "/v1/operator/printers/{printer_id}/applications", operator_api.create_application),
    ("POST", "/v1/operator/printers/{printer_id}/applications/{service_id}/suspend",
     operator_api.suspend_application),
    ("POST", "/v1/operator/printers/{printer_id}/applications/{service_id}/resume",
     operator_api.resume_application),
    ("POST", "/v1/operator/printers/{printer_id}/applications/{service_id}/cancel",
     operator_api.cancel_application),
    ("GET", "/v1/operator/printers/{printer_id}/statuses", operator_api.list_received_statuses),
    ("POST", "/v1/operator/printers/{printer_id}/commands", operator_api.create_command),
    ("GET", "/v1/operator/commands/{command_id}", operator_api.get_command),
    ("GET", "/v1/operator/printers/{printer_id}/contract", member_api.get_printer_contract),
    ("GET", "/v1/operator/contract-processes/{process_id}", member_api.get_contract_process),
    # H2 (issue 15): the operator's list of unfinished processes, cancel by operator or member
    ("GET", "/v1/operator/contract-processes", member_api.list_contract_processes),
    ("POST", "/v1/operator/contract-processes/{process_id}/cancel", member_api.cancel_process),
    ("POST", "/v1/member/contract-processes/{process_id}/cancel",
     member_api.cancel_process_for_member),
    ("POST", "/v1/member/contracts", member_api.request_contract),
    ("POST", "/v1/member/contract-changes", member_api.request_contract_change),
    ("POST", "/v1/member/contract-changes/{process_id}/new-printer",
     member_api.name_new_printer),
    ("GET", "/v1/member/proposals", member_api.list_proposals),
    ("POST", "/v1/member/proposals/{proposal_id}/answer", member_api.answer_proposal),
    ("GET", "/v1/member/notices", list_member_notices),
    ("GET", "/v1/operator/printers/{printer_id}/contract/usage", get_contract_usage),
    ("GET", "/v1/operator/cartridges/{cartridge_id}", get_contract_cartridge),
    # issue 17: meters (`cloud.meters`)
    ("PUT", "/v1/operator/printers/{printer_id}/meter-schedule", meters.put_meter_schedule),
    ("GET", "/v1/operator/printers/{printer_id}/meter-readings", meters.list_meter_readings),
    ("GET", "/v1/operator/printers/{printer_id}/meters", meters.get_latest_meters),
)

NOTICES = web.AppKey("member_notices", WebhookSender)
PROVIDERS = web.AppKey("provider_deliveries", ProviderSender)


def create_app(database_url: str, settings: Settings,
               contracts: ContractSettings | None = None) -> web.Application:
    """The application; when it starts its database schema is made, or checked and migrated
    only with `Settings.upgrade_schema` (`cloud.migrate`), then the contract processes resume
    (`cloud.contract_store`).

    Serve it with `auto_decompress=False` (as `CloudServer` does): the cloud decompresses gzip
    bodies itself, with its own size limit.
    """
    db = Database(database_url)
    wake_bus = WakeBus(db)
    state = Cloud(settings=settings, db=db, changes=ChangeStream(db, wake_bus),
                  keys=IdempotencyKeys(db, settings.idempotency_retention), wakes=wake_bus)
    app = web.Application(middlewares=[problem_middleware])
    app[CLOUD] = state
    app[SOCKETS] = set()
    contracts = contracts or ContractSettings()
    endpoint(contracts.order_webhook, settings.webhook_secret)  # refused unsigned off loopback
    app[ENGINE] = ContractEngine(db, state.changes, contracts, settings.webhook_secret)
    app[NOTICES] = WebhookSender(db, MemberNotice,
                                 endpoint(settings.member_webhook, settings.webhook_secret),
                                 wakes=wake_bus)
    app[PROVIDERS] = ProviderSender(db, settings.webhook_secret, wake_bus)
    register_changes(db, state.changes)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_wake_bus)
    app.cleanup_ctx.append(_housekeeping)
    app.cleanup_ctx.append(run_engine)
    app.cleanup_ctx.append(_member_notices)
    app.cleanup_ctx.append(_provider_deliveries)
    app.on_shutdown.append(close_push_channels)
    add_health(app)  # issue 21: /healthz, /readyz, /metrics; last (it marks the app started)
    return app


async def prune(state: Cloud, now: datetime | None = None) -> None:
    """Forget what is past its retention at `now`: changes (7 days: older cursors answer 410),
    webhook attempts (7 days; the deliveries keep their count and last error), idempotency keys
    and enrolment replays (24 h)."""
    now = now or times.now()
    await state.changes.prune(now - state.settings.change_retention)
    await state.keys.prune(now - state.settings.idempotency_retention)
    async with state.db.write() as session:
        await session.execute(delete(WebhookAttempt).where(
            WebhookAttempt.attempted_at <= now - state.settings.change_retention))
    async with state.db.write() as session:
        await session.execute(update(EnrolmentToken).where(EnrolmentToken.replay_until <= now)
                              .values(replay_credential=None, replay_key_hash=None,
                                      replay_until=None))


async def _database(app: web.Application) -> AsyncIterator[None]:
    db = app[CLOUD].db
    try:
        await db.create_schema(upgrade=app[CLOUD].settings.upgrade_schema)
        yield
    finally:
        await db.close()


async def _wake_bus(app: web.Application) -> AsyncIterator[None]:
    wake_bus = app[CLOUD].wakes
    await wake_bus.start()
    try:
        yield
    finally:
        await wake_bus.close()


async def _member_notices(app: web.Application) -> AsyncIterator[None]:
    async with _running(app[NOTICES]):
        yield


async def _provider_deliveries(app: web.Application) -> AsyncIterator[None]:
    async with _running(app[PROVIDERS]):
        yield


@contextlib.asynccontextmanager
async def _running(sender: WebhookSender) -> AsyncIterator[None]:
    task = asyncio.create_task(sender.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _housekeeping(app: web.Application) -> AsyncIterator[None]:
    async def run() -> None:
        state = app[CLOUD]
        interval = state.settings.housekeeping_seconds
        while True:
            try:
                pause = await run_due(state.db, HOUSEKEEPING_JOB, interval,
                                      lambda: prune(state))
            except Exception:  # the database: `run_due` logs the failures of `prune` itself
                log.exception("housekeeping: the jobs table could not be read; again in a minute")
                pause = min(interval, 60.0)
            await asyncio.sleep(pause)

    task = asyncio.create_task(run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
