"""`printgw-cloud serve --workers N`: a supervising parent and N worker processes on one socket.

The parent binds the listening socket once (so `--port 0` gives one port for all), prepares the
database schema once, then starts each worker as `python -m cloud <its own arguments>
--listen-fd FD`: every serve option reaches the workers unchanged, and a worker is an ordinary
`printgw-cloud serve` that serves the inherited socket (`CloudServer(sock=…)`) instead of binding
its own.  The kernel hands each new connection to one of the workers accepting on it.

A worker is ready when it prints its `printgw-cloud listening on URL` line on its stdout (a pipe
to the parent); once all are, the parent prints that line itself.  A worker that ends while the
parent is not stopping is started again, after a delay that grows with each quick failure (a
worker that lived a minute starts again at once).  SIGTERM or SIGINT to the parent stops the
workers with SIGTERM (their graceful shutdown), SIGKILL after `STOP_TIMEOUT`, and the parent
exits 0.  Each worker's stdin is a pipe from the parent that is never written: at its end of file
(the parent is gone, even SIGKILLed) the worker stops.

Each answer of a worker carries `Printgw-Worker: <pid>`, so that clients (tests, the benchmark)
can tell the workers apart.  The workers' metrics add up through `cloud.metrics`'s shared
directory.  Several workers need PostgreSQL: SQLite has one writer and wakes only in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence

from aiohttp import web
from sqlalchemy.engine import URL, make_url

from cloud import metrics
from cloud.db import Database

LISTENING = "printgw-cloud listening on "
WORKER_HEADER = "Printgw-Worker"
START_TIMEOUT = 120.0
"""Seconds a worker may take from its start to its listening line."""
STOP_TIMEOUT = 15.0
"""Seconds the workers get after SIGTERM (their own shutdown allows 5 s for the open
requests) before they are killed."""
RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds before restarting a worker after its 1st, 2nd… quick failure in a row (the last one
repeats)."""
HEALTHY_AFTER = 60.0
"""A worker that ran this many seconds did not fail quickly: the next restart is the first."""

log = logging.getLogger(__name__)


class WorkersRefused(ValueError):
    """The configuration cannot run several workers (exit status 2)."""


class WorkerFailed(RuntimeError):
    """A worker ended (or stayed silent) before it was ready, at the first start."""


def check(database_url: str, workers: int) -> None:
    """WorkersRefused when `workers` processes cannot share `database_url`."""
    if workers > 1 and make_url(database_url).get_backend_name() == "sqlite":
        raise WorkersRefused(
            "--workers above 1 needs PostgreSQL (--database postgresql+asyncpg://…): SQLite has "
            "one writer, and its wake-ups of push channels and long polls stay in one process")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound once for all the workers."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                  flags=socket.AI_PASSIVE)[0]
    return socket.create_server(address[:2], family=family, backlog=socket.SOMAXCONN)


def inherited_socket(fd: int | None) -> socket.socket | None:
    """In a worker (`--listen-fd FD`): the parent's listening socket."""
    return None if fd is None else socket.socket(fileno=fd)


def become_worker(app: web.Application, stop: asyncio.Event) -> None:
    """In a worker: tag every answer with this process, and stop when the parent is gone."""
    pid = str(os.getpid())

    async def tag(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers[WORKER_HEADER] = pid

    app.on_response_prepare.append(tag)
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.fileno()

    def parent_gone() -> None:
        try:
            data = os.read(stdin, 512)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(stdin)
            log.warning("the supervising parent is gone; stopping")
            stop.set()

    loop.add_reader(stdin, parent_gone)


async def supervise(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run `args.workers` workers of `argv` (this process's serve arguments) until SIGTERM or
    SIGINT; 0 then, 1 when a worker failed to start."""
    check(args.database, args.workers)
    listener = bind(args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with listener, metrics.shared_metrics_dir() as metrics_env:
        await _prepare_schema(args)
        argv, secret_env = password_to_env(argv, args.database)
        supervisor = Supervisor([*argv, "--listen-fd", str(listener.fileno())],
                                listener.fileno(), {**os.environ, **metrics_env, **secret_env},
                                stop)
        try:
            url = await supervisor.start(args.workers)
            if url is not None:
                print(f"{LISTENING}{url}", flush=True)
                await stop.wait()
        except WorkerFailed as exc:
            print(f"printgw-cloud: {exc}", file=sys.stderr)
            return 1
        finally:
            await supervisor.stop()
    return 0


def split_password(database_url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that carries the password instead
    (`PGPASSWORD`, which asyncpg reads): a process's command line is visible to every local user
    (`ps`), its environment is not."""
    url = make_url(database_url)
    if url.password is None:
        return database_url, {}
    bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database,
                      url.query)  # (`url.set(password=None)` would keep it: None = unchanged)
    return bare.render_as_string(hide_password=False), {"PGPASSWORD": str(url.password)}


def password_to_env(argv: Sequence[str], database_url: str,
                    ) -> tuple[list[str], dict[str, str]]:
    """The workers' arguments with the database URL's password taken out (`split_password`),
    and the environment that carries it."""
    bare, env = split_password(database_url)
    return [arg.replace(database_url, bare) for arg in argv], env


async def _prepare_schema(args: argparse.Namespace) -> None:
    db = Database(args.database)
    try:
        await db.create_schema(upgrade=args.upgrade_database)
    finally:
        await db.close()


class Supervisor:
    """Keeps the workers running the same command until `stop` is set."""

    def __init__(self, command: Sequence[str], listen_fd: int, env: Mapping[str, str],
                 stop: asyncio.Event) -> None:
        self.command = [sys.executable, "-m", "cloud", *command]
        self.listen_fd = listen_fd
        self.env = dict(env)
        self.stopping = stop
        self.processes: dict[int, asyncio.subprocess.Process] = {}
        """The current process of each worker slot."""
        self._slots: list[asyncio.Task[None]] = []

    async def start(self, count: int) -> str | None:
        """Start `count` workers; their URL once all are ready, None when stopped first."""
        loop = asyncio.get_running_loop()
        ready = [loop.create_future() for _ in range(count)]
        self._slots = [asyncio.create_task(self._keep(slot, ready[slot]))
                       for slot in range(count)]
        all_ready = asyncio.ensure_future(asyncio.gather(*ready))
        stopped = asyncio.create_task(self.stopping.wait())
        await asyncio.wait((all_ready, stopped), return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not all_ready.done():
            all_ready.cancel()
            return None
        return all_ready.result()[0]

    async def stop(self) -> None:
        """SIGTERM to every worker, SIGKILL to those still there after `STOP_TIMEOUT`."""
        self.stopping.set()
        for task in self._slots:
            task.cancel()
        await asyncio.gather(*self._slots, return_exceptions=True)
        running = [p for p in self.processes.values() if p.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)), STOP_TIMEOUT)
        for process in running:
            if process.returncode is None:
                log.warning("worker pid %d did not stop within %.0f s; killing it", process.pid,
                            STOP_TIMEOUT)
            await _end(process)

    async def _keep(self, slot: int, ready: asyncio.Future[str]) -> None:
        """Run the slot's worker again and again until stopped: `ready` gets the first one's
        URL, or the reason it failed (which ends the slot)."""
        loop = asyncio.get_running_loop()
        failures = 0
        while not self.stopping.is_set():
            began = loop.time()
            process = await asyncio.create_subprocess_exec(
                *self.command, pass_fds=(self.listen_fd,), env=self.env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            self.processes[slot] = process
            url = await _ready(process)
            if url is None:
                await _end(process, STOP_TIMEOUT)
                if not ready.done():
                    ready.set_exception(WorkerFailed(
                        f"worker {slot + 1} (pid {process.pid}) did not start; see its log "
                        "above"))
                    return
            else:
                if not ready.done():
                    ready.set_result(url)
                await _forward(process)
                await _end(process, STOP_TIMEOUT)
            if self.stopping.is_set():
                return
            failures = 1 if loop.time() - began >= HEALTHY_AFTER else failures + 1
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS)) - 1]
            log.warning("worker %d (pid %d) ended with status %s; starting it again in %.1f s",
                        slot + 1, process.pid, process.returncode, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)


async def _ready(process: asyncio.subprocess.Process) -> str | None:
    """The worker's URL from its listening line; None when it ended or stayed silent."""
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)).decode()
    except TimeoutError:
        return None
    return line.removeprefix(LISTENING).strip() if line.startswith(LISTENING) else None


async def _forward(process: asyncio.subprocess.Process) -> None:
    """Pass on whatever else the worker prints (nothing, normally) until it closes its stdout
    (it ends)."""
    assert process.stdout is not None
    async for line in process.stdout:
        sys.stdout.buffer.write(line)
        sys.stdout.flush()


async def _end(process: asyncio.subprocess.Process, grace: float = 0.0) -> None:
    """Wait up to `grace` seconds for the worker to end, then kill it; its metrics' live part
    is dropped.  (Killing one that ended would reap it behind asyncio's back: its status would
    be lost.)"""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), grace)
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
    metrics.worker_exited(process.pid)
