"""`printgw-cloud serve --workers N` (`cloud.workers`), for real: a supervising parent and its
worker processes on one port and one throwaway PostgreSQL database.  A change made through one
worker reaches a push channel and a long poll held by another within a second; a killed worker is
started again while the others go on answering; SIGTERM to the parent stops everything, and the
workers stop when the parent is killed; SQLite refuses several workers."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from cloud.cli import TOKEN_ENV
from cloud.workers import WORKER_HEADER, password_to_env
from tests.support.cloud_helpers import (
    OPERATOR_TOKEN,
    Gateway,
    Operator,
    next_push,
    self_signed_certificate,
    sqlite_url,
)
from tests.support.cloud_processes import listening_url, spawn_cloud, stop_process
from tests.support.cloud_workers import (
    alive,
    children,
    supervised_cloud,
    worker_session,
)
from tests.support.paths import REPO

pytest_plugins = ("tests.support.cloud_helpers",)

pytestmark = pytest.mark.timeout(120)

ATTEMPTS = 40
"""Changes made at most before one lands on the other worker (each connection goes to either)."""


def panel_message(text: str) -> dict[str, object]:
    return {"kind": "panel-message", "parameters": {"message": text}}


async def test_push_and_long_poll_get_a_change_made_through_another_worker(
        postgres_url: str, tmp_path: Path) -> None:
    async with supervised_cloud(postgres_url, 2, tmp_path) as cloud, \
            worker_session() as (http, answered_by):
        operator = Operator(http, cloud.url)
        gateway = await Gateway.enrol(http, cloud.url, operator)
        printer_id = await gateway.register()

        ws = await gateway.push()
        socket_worker = answered_by[-1]
        try:
            await next_push(ws)  # hello
            for attempt in range(ATTEMPTS):
                started = time.monotonic()
                made = await operator.call("createCommand", path={"printer_id": printer_id},
                                           json_body=panel_message(f"push {attempt}"))
                assert made.status == 201, made.body
                pushed = await next_push(ws, within=5)
                assert time.monotonic() - started < 1.0 + 0.5, "pushed within about a second"
                assert pushed["command"]["command_id"] == made.body["command_id"]
                if int(made.headers[WORKER_HEADER]) != socket_worker:
                    break
            else:
                pytest.fail(f"every change of {ATTEMPTS} went to the push socket's worker")
        finally:
            await ws.close()

        cursor = pushed["cursor"]
        for attempt in range(ATTEMPTS):
            polling = asyncio.create_task(gateway.call("pollChanges", params={
                "cursor": cursor, "wait": 20}))
            await asyncio.sleep(0.3)  # the poll is waiting
            assert not polling.done()
            started = time.monotonic()
            made = await operator.call("createCommand", path={"printer_id": printer_id},
                                       json_body=panel_message(f"poll {attempt}"))
            polled = await asyncio.wait_for(polling, 10)
            assert time.monotonic() - started < 1.0 + 0.5, "woken within about a second"
            assert [c["command"]["command_id"] for c in polled.body["changes"]] == [
                made.body["command_id"]]
            cursor = polled.body["next_cursor"]
            if made.headers[WORKER_HEADER] != polled.headers[WORKER_HEADER]:
                break
        else:
            pytest.fail(f"every change of {ATTEMPTS} went to the long poll's worker")

        workers = cloud.workers()
        cloud.process.kill()  # the parent dies without a word: its workers stop by themselves
        await cloud.process.wait()
        deadline = time.monotonic() + 20
        while any(alive(pid) for pid in workers):
            assert time.monotonic() < deadline, "workers left after the parent was killed"
            await asyncio.sleep(0.1)


def test_the_password_is_taken_off_the_workers_command_line() -> None:
    url = "postgresql+asyncpg://printgw:s3cret%40x@127.0.0.1:5432/cloud"
    argv, env = password_to_env(["serve", "--database", url, f"--database={url}", "-v"], url)
    bare = "postgresql+asyncpg://printgw@127.0.0.1:5432/cloud"
    assert argv == ["serve", "--database", bare, f"--database={bare}", "-v"]
    assert env == {"PGPASSWORD": "s3cret@x"}
    assert password_to_env(["--database", bare], bare) == (["--database", bare], {})


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text()


async def test_workers_get_the_database_password_in_their_environment(
        postgres_url: str, tmp_path: Path) -> None:
    """Given in the URL, the password reaches the workers (they serve and are ready) but is not
    on their command lines, which every local user can read."""
    password = make_url(postgres_url).password
    assert password
    log = tmp_path / "cloud.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cloud", "serve", "--port", "0", "--workers", "2",
            f"--database={postgres_url}", cwd=REPO, stdout=asyncio.subprocess.PIPE,
            stderr=stderr, env={**os.environ, TOKEN_ENV: OPERATOR_TOKEN,
                                "PYTHONPATH": str(REPO)})
    try:
        url = await listening_url(process, "printgw-cloud --workers 2", log)
        workers = children(process.pid)
        assert len(workers) == 2
        for pid in workers:
            assert password not in command_line(pid)
        async with worker_session() as (http, answered_by):
            for _ in range(6):
                async with http.get(f"{url}/readyz") as response:
                    assert response.status == 200, await response.text()
        assert set(answered_by) <= workers
    finally:
        await stop_process(process)


async def test_sqlite_refuses_several_workers(tmp_path: Path) -> None:
    process = await spawn_cloud(sqlite_url(tmp_path), ["--workers", "2"], tmp_path / "log")
    try:
        assert await asyncio.wait_for(process.wait(), 30) == 2
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    reason = (tmp_path / "log").read_text()
    assert "needs PostgreSQL" in reason and "SQLite" in reason


async def test_a_killed_worker_is_restarted_and_sigterm_stops_everything(
        postgres_url: str, tmp_path: Path) -> None:
    """With TLS: each worker serves the shared socket with the same certificate."""
    cert, key = self_signed_certificate(tmp_path)
    tls_args = ["--tls-cert", str(cert), "--tls-key", str(key)]
    async with supervised_cloud(postgres_url, 2, tmp_path, tls_args) as cloud, \
            worker_session(ssl.create_default_context(cafile=cert)) as (http, answered_by):
        assert cloud.url.startswith("https://")
        first = cloud.workers()
        assert len(first) == 2
        operator = Operator(http, cloud.url)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(now := cloud.workers()) < 2 or victim in now:
            assert time.monotonic() < deadline, "the killed worker was not started again"
            await operator.ok("listServices")  # the other worker answers meanwhile
            await asyncio.sleep(0.2)
        restarted = (now - first).pop()
        while not answered_by or answered_by[-1] != restarted:  # serving too, once started
            assert time.monotonic() < deadline, f"the restarted worker {restarted} never answered"
            await operator.ok("listServices")
        assert "ended with status -9" in cloud.log.read_text()

        cloud.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(cloud.process.wait(), 30) == 0
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in now):
            assert time.monotonic() < deadline, "workers left after the parent stopped"
            await asyncio.sleep(0.1)
