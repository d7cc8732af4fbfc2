"""Several real `printgw-cloud serve` processes on one database, for tests of concurrent workers.

    async with cloud_processes(postgres_url, 2, tmp_path) as clouds:
        clouds[0].url, clouds[1].url   # http://127.0.0.1:PORT of each
        os.kill(clouds[1].pid, signal.SIGKILL)   # allowed: the exit copes with dead ones

Each process is `sys.executable -m cloud serve --port 0 --database URL …` (plus `extra_args`),
operator token `OPERATOR_TOKEN` from the environment, the database password (if the URL has one)
in `PGPASSWORD` rather than on the command line; its log goes to `directory/cloud-N.log`, shown in
the error when it does not start.  They start together (preparing the schema at once, as the
workers of `serve --workers N` do).  At exit every process still running gets SIGTERM, then
SIGKILL after a bounded wait, also when the block fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cloud.cli import TOKEN_ENV
from cloud.workers import LISTENING, split_password
from tests.support.cloud_helpers import OPERATOR_TOKEN
from tests.support.paths import REPO

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class CloudProcess:
    url: str
    pid: int
    log: Path


async def spawn_cloud(database_url: str, args: Sequence[str],
                      log: Path) -> asyncio.subprocess.Process:
    """`python -m cloud serve --port 0 --database URL ARGS…`, stdout piped, stderr to `log`; the
    password in `PGPASSWORD`, the operator token in the environment."""
    url, secret_env = split_password(database_url)
    env = {**os.environ, TOKEN_ENV: OPERATOR_TOKEN, "PYTHONPATH": str(REPO), **secret_env}
    with log.open("wb") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cloud", "serve", "--port", "0", "--database", url, *args,
            cwd=REPO, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=stderr)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


async def listening_url(process: asyncio.subprocess.Process, what: str, log: Path,
                        within: float = START_TIMEOUT) -> str:
    """The URL of the process's `listening on` line; AssertionError with its log when it does
    not come `within` seconds."""
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), within)).decode()
    except TimeoutError:
        line = ""
    if not line.startswith(LISTENING):
        raise AssertionError(f"{what} did not start ({line!r}):\n"
                             f"{_tail(log)}")
    return line.removeprefix(LISTENING).strip()


async def stop_process(process: asyncio.subprocess.Process,
                       within: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL after `within` seconds; nothing when it has ended."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), within)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def _start(index: int, database_url: str, directory: Path, extra_args: Sequence[str],
                 started: list[asyncio.subprocess.Process]) -> CloudProcess:
    log = directory / f"cloud-{index}.log"
    process = await spawn_cloud(database_url, extra_args, log)
    started.append(process)
    url = await listening_url(process, f"cloud process {index}", log)
    return CloudProcess(url=url, pid=process.pid, log=log)


@contextlib.asynccontextmanager
async def cloud_processes(database_url: str, count: int, directory: Path,
                          extra_args: Sequence[str] = ()) -> AsyncIterator[list[CloudProcess]]:
    """`count` cloud processes on `database_url` (loopback, free ports), in start order."""
    started: list[asyncio.subprocess.Process] = []
    try:
        async with asyncio.TaskGroup() as group:  # one failing cancels the others' starts
            starting = [group.create_task(_start(index, database_url, directory, extra_args,
                                                 started)) for index in range(count)]
        yield [task.result() for task in starting]
    finally:
        await asyncio.gather(*(stop_process(process) for process in started))
