"""The cloud's operational endpoints (`cloud.health`, `cloud.metrics`, issue 21): liveness,
readiness that follows the PostgreSQL database away and back, and `/metrics` (operator token
only) whose figures move by exactly what the test did — uploads, push channels, long polls,
failing webhook deliveries, pending queues — also added up over the workers of
`printgw-cloud serve --workers 2`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from cloud import times
from cloud.member_notices import notify_member
from cloud.server import CloudServer
from cloud.workers import WORKER_HEADER
from protocols.cloud.times import rfc3339
from tests.support.cloud_helpers import (
    BOTH_BACKENDS,
    OPERATOR_TOKEN,
    Gateway,
    Operator,
    running_cloud,
    sqlite_url,
)
from tests.support.contract_helpers import webhook_receiver
from tests.support.paths import REPO

pytest_plugins = ("tests.support.cloud_helpers",)
pytestmark = pytest.mark.timeout(60)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: aiohttp.ClientSession, url: str) -> Samples:
    """Every sample of one `/metrics` answer (a new connection each time)."""
    return (await scrape_of(http, url))[0]


async def scrape_of(http: aiohttp.ClientSession, url: str) -> tuple[Samples, str]:
    """The samples and the worker that answered (`Printgw-Worker`; "" without workers)."""
    async with http.get(url + "/metrics", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}",
                                                   "Connection": "close"}) as response:
        assert response.status == 200 and response.content_type == "text/plain"
        text, worker = await response.text(), response.headers.get(WORKER_HEADER, "")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples}, worker


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def until(http: aiohttp.ClientSession, url: str, name: str, expected: float,
                **labels: str) -> None:
    """Scrape until the sample has the value (AssertionError after 10 s)."""
    for _ in range(200):
        if value(await scrape(http, url), name, **labels) == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name}{labels} never became {expected}")


async def contracted_printer(gateway: Gateway, operator: Operator) -> str:
    printer_id = await gateway.register()
    await operator.put_service("monitoring", ["state", "alerts"])
    application = await operator.contract(printer_id, "monitoring")
    await gateway.activate(printer_id, "monitoring", application["application_id"])
    return printer_id


def entry(printer_id: str, entry_id: str | None = None) -> dict[str, Any]:
    return {"entry_id": entry_id or str(uuid.uuid4()), "printer_id": printer_id,
            "read_at": rfc3339(times.now()), "event": "periodic",
            "data": {"counters.total": {"total": 1200}}}


# -- health and readiness --------------------------------------------------------------------------

async def test_healthz_and_readyz_answer_without_a_token(cloud: CloudServer,
                                                         http: aiohttp.ClientSession) -> None:
    async with http.get(cloud.url + "/healthz") as response:
        assert (response.status, await response.json()) == (200, {"status": "ok"})
    async with http.get(cloud.url + "/readyz",
                        headers={"Authorization": "Bearer not-a-token"}) as response:
        assert (response.status, await response.json()) == (200, {"status": "ready"})


async def test_readyz_follows_the_database_away_and_back(
        postgres_url: str, http: aiohttp.ClientSession) -> None:
    name = make_url(postgres_url).database
    admin = make_url(postgres_url).set(drivername="postgresql", database="postgres") \
        .render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    try:
        async with running_cloud(postgres_url) as cloud:
            async with http.get(cloud.url + "/readyz") as response:
                assert response.status == 200
            await connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = $1", name)
            async with http.get(cloud.url + "/readyz") as response:
                answer = await response.json()
                assert response.status == 503 and "database" in answer["failed"], answer
            assert "postgres" not in str(answer) and "127.0.0.1" not in str(answer)
            samples = await scrape(http, cloud.url)  # the counted metrics still answer
            assert value(samples, "printgw_cloud_database_reachable") == 0
            await connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            for _ in range(150):  # the wake bus reconnects too
                async with http.get(cloud.url + "/readyz") as response:
                    if response.status == 200:
                        break
                await asyncio.sleep(0.2)
            assert response.status == 200, await response.text()
            assert value(await scrape(http, cloud.url), "printgw_cloud_database_reachable") == 1
    finally:
        await connection.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await connection.close()


# -- metrics ---------------------------------------------------------------------------------------

async def test_metrics_need_an_operator_token(cloud: CloudServer, gateway: Gateway,
                                              http: aiohttp.ClientSession) -> None:
    for token, status in ((None, 401), ("unknown-token-0123456789", 401), (gateway.token, 403)):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with http.get(cloud.url + "/metrics", headers=headers) as response:
            assert response.status == status
            assert response.content_type == "application/problem+json"
    samples = await scrape(http, cloud.url)
    assert [labels for (name, labels) in samples if name == "printgw_cloud_build_info"] == [
        frozenset({("version", "0.1.0")})]


@BOTH_BACKENDS
async def test_metrics_count_uploads_channels_and_requests(
        cloud: CloudServer, gateway: Gateway, operator: Operator,
        http: aiohttp.ClientSession) -> None:
    printer_id = await contracted_printer(gateway, operator)
    before = await scrape(http, cloud.url)
    first = entry(printer_id)
    await gateway.upload([first, entry(printer_id), entry(printer_id)], key="batch-number-1")
    second = [first, entry(printer_id)]  # one duplicate
    await gateway.upload(second, key="batch-number-2")
    await gateway.upload(second, key="batch-number-2")  # a replay: nothing new
    after = await scrape(http, cloud.url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("printgw_cloud_statuses_ingested_total", result="accepted") == 4
    assert moved("printgw_cloud_statuses_ingested_total", result="duplicate") == 1
    assert moved("printgw_cloud_statuses_ingested_total", result="rejected") == 0
    assert moved("printgw_cloud_requests_total", route="/v1/statuses", method="POST",
                 status="2xx") == 3
    assert moved("printgw_cloud_request_duration_seconds_count", route="/v1/statuses",
                 method="POST") == 3
    assert moved("printgw_cloud_requests_total", route="/metrics", method="GET",
                 status="2xx") == 1
    async with http.get(cloud.url + f"/v1/printers/{printer_id}x/nothing") as response:
        assert response.status == 404
    samples = await scrape(http, cloud.url)
    assert value(samples, "printgw_cloud_requests_total", route="(unmatched)", method="GET",
                 status="4xx") >= 1
    assert not [labels for (name, labels) in samples if printer_id in str(labels)]

    base = value(samples, "printgw_cloud_push_connections")
    ws = await gateway.push()
    try:
        await ws.receive_json(timeout=5)  # hello: the channel is open
        await until(http, cloud.url, "printgw_cloud_push_connections", base + 1)
    finally:
        await ws.close()
    await until(http, cloud.url, "printgw_cloud_push_connections", base)

    waiting = value(await scrape(http, cloud.url), "printgw_cloud_long_polls_waiting")
    cursor = (await gateway.ok("pollChanges", params={"limit": 500}))["next_cursor"]
    poll = asyncio.create_task(gateway.ok("pollChanges", params={"cursor": cursor, "wait": 20}))
    try:
        await until(http, cloud.url, "printgw_cloud_long_polls_waiting", waiting + 1)
        await operator.put_service("another", ["state"])
        await operator.contract(printer_id, "another")  # a change for the gateway
        await asyncio.wait_for(poll, 15)
    finally:
        poll.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poll
    await until(http, cloud.url, "printgw_cloud_long_polls_waiting", waiting)


@BOTH_BACKENDS
async def test_queue_depth_and_unfinished_processes_are_read_from_the_database(
        cloud: CloudServer, http: aiohttp.ClientSession) -> None:
    """No member webhook configured: the notices stay pending (and due)."""
    for number in range(3):
        async with cloud.state.db.write() as session:
            await notify_member(session, "member-1", "process-completed", {}, key=f"k-{number}")
    samples = await scrape(http, cloud.url)
    for name in ("printgw_cloud_webhook_queue_pending", "printgw_cloud_webhook_queue_due"):
        assert value(samples, name, outbox="member_notices") == 3
        assert value(samples, name, outbox="cartridge_orders") == 0
        assert (name, frozenset({("outbox", "provider_deliveries")})) in samples
    assert value(samples, "printgw_cloud_contract_processes_unfinished") == 0
    assert value(samples, "printgw_cloud_database_reachable") == 1


async def test_a_failing_webhook_receiver_is_counted(tmp_path: Path,
                                                     http: aiohttp.ClientSession) -> None:
    async with webhook_receiver([503]) as receiver, running_cloud(
            sqlite_url(tmp_path), member_webhook=receiver.url) as cloud:
        before = await scrape(http, cloud.url)
        async with cloud.state.db.write() as session:
            await notify_member(session, "member-1", "process-completed", {}, key="k-fail")
        await receiver.wait(2)  # 503, then (after 1 s) taken
        labels = {"outbox": "member_notices"}
        await until(http, cloud.url, "printgw_cloud_webhook_attempts_total",
                    value(before, "printgw_cloud_webhook_attempts_total", **labels) + 2, **labels)
        after = await scrape(http, cloud.url)
    assert value(after, "printgw_cloud_webhook_failures_total", **labels) \
        - value(before, "printgw_cloud_webhook_failures_total", **labels) == 1
    assert value(after, "printgw_cloud_webhook_queue_pending", **labels) == 0


# -- several workers -------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def workers(database_url: str, count: int, directory: Path) -> AsyncIterator[str]:
    """`printgw-cloud serve --workers COUNT` on a free port; yields its URL."""
    env = {**os.environ, "PRINTGW_CLOUD_OPERATOR_TOKEN": OPERATOR_TOKEN,
           "PYTHONPATH": str(REPO)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cloud", "serve", "--workers", str(count), "--port", "0",
        "--database", database_url, cwd=directory, env=env, stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 40)).decode()
        assert line.startswith("printgw-cloud listening on "), line
        yield line.split()[-1]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def healthz(http: aiohttp.ClientSession, url: str) -> str:
    """The worker that answered (its `Printgw-Worker` header)."""
    async with http.get(url + "/healthz") as response:
        assert response.status == 200
        return response.headers[WORKER_HEADER]


@contextlib.asynccontextmanager
async def channels_on_both(http: aiohttp.ClientSession, url: str
                           ) -> AsyncIterator[dict[aiohttp.ClientWebSocketResponse, str]]:
    """Push channels of an enrolled gateway, each on a new connection, until both workers hold
    some: {channel: its worker}."""
    workers_seen: list[str] = []

    async def seen(_session: Any, _context: Any, params: aiohttp.TraceRequestEndParams) -> None:
        workers_seen.append(params.response.headers[WORKER_HEADER])

    tracing = aiohttp.TraceConfig()
    tracing.on_request_end.append(seen)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True),
                                     trace_configs=[tracing]) as pushing:
        gateway = await Gateway.enrol(pushing, url, Operator(http, url))
        channels: dict[aiohttp.ClientWebSocketResponse, str] = {}
        try:
            for _ in range(40):
                ws = await gateway.push()
                channels[ws] = workers_seen[-1]
                await ws.receive_json(timeout=5)  # hello
                if len(set(channels.values())) == 2:
                    break
            assert len(set(channels.values())) == 2, "every push channel went to one worker"
            yield channels
        finally:
            for ws in channels:
                await ws.close()


async def test_metrics_add_up_over_the_workers(postgres_url: str, tmp_path: Path) -> None:
    async with workers(postgres_url, 2, tmp_path) as url, aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True)) as http:  # a connection each
        before = value(await scrape(http, url), "printgw_cloud_requests_total",
                       route="/healthz", method="GET", status="2xx")
        answered: list[str] = []
        for _ in range(20):  # until both workers answered some (the kernel picks one each time)
            answered += await asyncio.gather(*(healthz(http, url) for _ in range(20)))
            if len(set(answered)) == 2:
                break
        assert len(set(answered)) == 2, "one worker answered every request"
        # Whichever worker answers a scrape counts the requests both answered: one scrape
        # proves it (the kernel may well hand every scrape to the same worker).
        scraped_by: set[str] = set()
        for _ in range(10):
            samples, worker = await scrape_of(http, url)
            scraped_by.add(worker)
            assert value(samples, "printgw_cloud_requests_total", route="/healthz",
                         method="GET", status="2xx") == before + len(answered)
            if scraped_by == set(answered):
                break
        assert scraped_by <= set(answered)
        total = before + len(answered)

        # push channels on both workers; one worker killed: its channels leave the gauge (the
        # parent marks it dead), its counted requests stay
        async with channels_on_both(http, url) as channels:
            await until(http, url, "printgw_cloud_push_connections", len(channels))
            victim = next(iter(channels.values()))
            os.kill(int(victim), signal.SIGKILL)
            await until(http, url, "printgw_cloud_push_connections",
                        sum(worker != victim for worker in channels.values()))
        assert value(await scrape(http, url), "printgw_cloud_requests_total", route="/healthz",
                     method="GET", status="2xx") == total
