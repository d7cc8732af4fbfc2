"""PostgreSQL for tests: the server at `PRINTGW_TEST_POSTGRES_URL`, or a throwaway cluster.

Without the variable, a cluster is created with the installed server's `initdb` in a temporary
directory (as the `postgres` user when running as root), listening on 127.0.0.1 only on a free
port, with a random password; it is stopped and removed at the end of the session.  Each test
gets a database of its own (`postgres_url`), dropped afterwards; with the variable set, its role
needs CREATEDB.  No server installed is a failure with the fix, never a skip.

Test modules may import `fresh_database` before pytest loads this as their plugin:
PYTEST_DONT_REWRITE (it has no assertions to rewrite).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from protocols.hosts import free_port

ENV = "PRINTGW_TEST_POSTGRES_URL"
ROLE = "printgw"


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: [int(n) for n in re.findall(r"\d+", p.parts[-3])])
    if not found:
        pytest.fail("no PostgreSQL server (/usr/lib/postgresql/*/bin/initdb): install the "
                    f"Debian package 'postgresql', or set {ENV} to a server's URL")
    return found[-1].parent


def _run(command: list[str], as_postgres: bool) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if as_postgres else []
    result = subprocess.run([*prefix, *command], capture_output=True, text=True, check=False,
                            timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()}")


@contextlib.contextmanager
def throwaway_cluster(durable: bool = False) -> Iterator[str]:
    """A new cluster on 127.0.0.1; yields the SQLAlchemy URL of its `postgres` database.

    Tests run it with fsync, synchronous commits and full-page writes off; `durable` keeps
    them on, as a real server runs (`bench/cloud.py`)."""
    bindir = _bindir()
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="printgw-pg-"))
    try:
        password = secrets.token_urlsafe(18)
        (root / "password").write_text(password + "\n")
        if as_postgres:
            shutil.chown(root, "postgres")
            shutil.chown(root / "password", "postgres")
        data = root / "data"
        _run([str(bindir / "initdb"), "-D", str(data), "-U", ROLE, "--pwfile",
              str(root / "password"), "--auth=scram-sha-256", "-E", "UTF8", "--locale=C",
              "--no-sync"], as_postgres)
        for attempt in range(3):  # another process may take the free port first
            port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -c port={port} "
                       f"-c unix_socket_directories={root} "
                       + ("" if durable else "-c fsync=off -c synchronous_commit=off "
                                             "-c full_page_writes=off"))
            try:
                _run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
                      "-t", "60", "-o", options, "start"], as_postgres)
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        try:
            yield f"postgresql+asyncpg://{ROLE}:{password}@127.0.0.1:{port}/postgres"
        finally:
            _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                 as_postgres)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The SQLAlchemy URL (postgresql+asyncpg) of a PostgreSQL server for this session."""
    if os.environ.get(ENV):
        yield make_url(os.environ[ENV]).set(drivername="postgresql+asyncpg").render_as_string(
            hide_password=False)
        return
    with throwaway_cluster() as url:
        yield url


@pytest.fixture
async def postgres_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh, empty database on that server (dropped after the test)."""
    async with fresh_database(postgres_server) as url:
        yield url


@contextlib.asynccontextmanager
async def fresh_database(postgres_server: str) -> AsyncIterator[str]:
    """A new, empty database on the server of `postgres_server`, dropped at exit (for
    fixtures of a wider scope than `postgres_url`)."""
    server = make_url(postgres_server)
    name = f"printgw_test_{secrets.token_hex(6)}"
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
