"""A real `printgw-cloud serve --workers N` (the supervising parent and its workers), and an HTTP
client session that says which worker answered each request.

    async with supervised_cloud(postgres_url, 2, tmp_path) as cloud:
        cloud.url, cloud.process   # the parent's listening URL and its process
    async with worker_session() as (http, answered_by):
        ...  # every request on a new connection; answered_by[-1]: the last answer's worker pid

The database password (if the URL has one) goes in `PGPASSWORD`, not on the command line; the
operator token is `OPERATOR_TOKEN` from the environment; the parent's stderr (its workers' too)
goes to `directory/cloud.log`, shown when it does not start.  At exit the parent gets SIGTERM,
then SIGKILL after a bounded wait, and so does every worker still there (also when the block
fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import aiohttp

from cloud.workers import WORKER_HEADER
from tests.support.cloud_processes import listening_url, spawn_cloud, stop_process

START_TIMEOUT = 60.0
STOP_TIMEOUT = 25.0


@dataclass(frozen=True)
class SupervisedCloud:
    url: str
    process: asyncio.subprocess.Process
    log: Path

    def workers(self) -> set[int]:
        """The parent's child processes now (its workers)."""
        return children(self.process.pid)


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found |= {int(child) for child in (task / "children").read_text().split()}
    return found


def tcp_owner(pids: Iterable[int], local_port: int, remote_address: str | None = None,
              ) -> int | None:
    """The process among `pids` holding an IPv4 TCP socket whose own end has port `local_port`
    (and whose other end, given, has address `remote_address`), from /proc: which worker holds
    a connection (its port the server's, the client's address its own) or which one made it."""
    remote = None if remote_address is None else \
        socket.inet_aton(remote_address)[::-1].hex().upper() + ":"
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rpartition(":")[2], 16) == local_port and (
                remote is None or fields[2].startswith(remote)):
            inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return pid
    return None


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return status.rpartition(")")[2].split()[0] != "Z"


@contextlib.asynccontextmanager
async def supervised_cloud(database_url: str, workers: int, directory: Path,
                           extra_args: Sequence[str] = ()) -> AsyncIterator[SupervisedCloud]:
    log = directory / "cloud.log"
    process = await spawn_cloud(database_url, ["--workers", str(workers), *extra_args], log)
    seen: set[int] = set()
    try:
        url = await listening_url(process, f"printgw-cloud --workers {workers}", log,
                                  START_TIMEOUT)
        cloud = SupervisedCloud(url, process, log)
        seen |= cloud.workers()
        yield cloud
    finally:
        seen |= children(process.pid)
        await stop_process(process, STOP_TIMEOUT)
        for pid in seen:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def worker_session(tls: ssl.SSLContext | None = None,
                         ) -> AsyncIterator[tuple[aiohttp.ClientSession, list[int]]]:
    """A client session opening a new connection for every request (so that any worker may take
    it; `tls`: the context to verify the server with), and the list of the workers that
    answered, in order (`Printgw-Worker`)."""
    answered_by: list[int] = []

    async def on_end(_session: aiohttp.ClientSession, _context: SimpleNamespace,
                     params: aiohttp.TraceRequestEndParams) -> None:
        answered_by.append(int(params.response.headers[WORKER_HEADER]))

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    connector = aiohttp.TCPConnector(force_close=True, ssl=tls or True)
    async with aiohttp.ClientSession(connector=connector, trace_configs=[trace],
                                     timeout=aiohttp.ClientTimeout(total=30)) as http:
        yield http, answered_by
