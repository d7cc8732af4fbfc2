"""The cloud's schema migrations (`cloud.migrate`, `cloud/migrations`, `printgw-cloud db`), on
SQLite and PostgreSQL.

A database of release 0.1.0 is made from its schema as 0.1.0 made it, stored as test data
(tests/cloud/data/schema-0.1.0-*.sql, see their headers), never from the migrations under test.
Its rows are written through the reflected tables with a value of every column's type (JSON,
times, dates, booleans, binary, NULLs), so they are stored as 0.1.0 stored them.

Child processes get a PostgreSQL URL without its password (asyncpg reads PGPASSWORD), so no
secret is on a command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

import cloud.app  # noqa: F401  (every table module, so `Base.metadata` is the whole schema)
from cloud.db import Base, Database
from cloud.migrate import (
    RELEASE_0_1_0_TABLES,
    SchemaOutdated,
    SchemaTooNew,
    head,
    schema_state,
)
from cloud.workers import split_password
from tests.support.cloud_helpers import BOTH_BACKENDS, OPERATOR_TOKEN, running_cloud

pytest_plugins = ("tests.support.cloud_helpers", "tests.support.postgres")
pytestmark = pytest.mark.timeout(120)

DATA = Path(__file__).parent / "data"
CLOUD = (sys.executable, "-m", "cloud")
HOST = "127.0.213.1"
GATEWAY_TOKEN = "pgwg_a-gateway-enrolled-under-release-0.1.0"
ROWS = 2
"""Rows per table: the first with every column set, the second with every nullable one NULL."""


def backend(url: str) -> str:
    return make_url(url).get_backend_name()


async def load_release_0_1_0(url: str) -> None:
    """The empty database at `url` given release 0.1.0's schema, from the stored DDL."""
    ddl = (DATA / f"schema-0.1.0-{backend(url)}.sql").read_text()
    parsed = make_url(url)
    if backend(url) == "sqlite":
        with contextlib.closing(sqlite3.connect(str(parsed.database))) as connection:
            connection.executescript(ddl)
        return
    connection = await asyncpg.connect(
        parsed.set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await connection.execute(ddl)
    finally:
        await connection.close()


def _value(table: sa.Table, column: sa.Column[Any], row: int) -> Any:
    """A value of the column's type for `row`, distinct per row (unique constraints hold)."""
    if column.nullable and row == 1:
        return None
    kind = column.type
    name = f"{table.name}.{column.name}"
    if isinstance(kind, sa.JSON):
        return {"column": name, "row": row, "list": [1, 2.5, None, True, "ü✓"], "nested": {}}
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 11, 30, 12, 34, 56, 789012) + timedelta(minutes=row)
    if isinstance(kind, sa.Date):
        return date(2026, 11, 30) - timedelta(days=row)
    if isinstance(kind, sa.Boolean):
        return row == 0
    if isinstance(kind, sa.Integer):
        return 1000 + row
    if isinstance(kind, sa.LargeBinary):
        return bytes([0, 255, row]) + name.encode()
    if isinstance(kind, sa.Text):
        return f"{name} {row}: ünïcode ✓\nsecond line"
    if isinstance(kind, sa.String) and kind.length == 36:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{row}"))
    if isinstance(kind, sa.String):
        return f"{row}{column.name}"[:kind.length]
    raise AssertionError(f"no test value for {name} ({kind!r})")


OVERRIDES: dict[tuple[str, str], list[Any]] = {
    ("gateways", "token_hash"): [hashlib.sha256(GATEWAY_TOKEN.encode()).hexdigest(), "0" * 64],
    # finished processes: the contract engine resumes only unfinished ones
    ("contract_processes", "outcome"): ["completed", "failed"],
}


def _generated(connection: sa.Connection) -> dict[str, list[dict[str, Any]]]:
    """Rows for every table, inserted; what was given, by table (foreign keys point at the
    referenced table's row of the same number; integer keys are left to the database)."""
    metadata = sa.MetaData()
    metadata.reflect(connection)
    given: dict[str, list[dict[str, Any]]] = {}
    for table in metadata.sorted_tables:
        key = list(table.primary_key.columns)
        serial = len(key) == 1 and isinstance(key[0].type, sa.Integer)
        automatic = {key[0].name} if serial else set()
        rows = []
        for row in range(ROWS):
            values = {}
            for column in table.columns:
                if column.name in automatic:
                    continue
                target = next(iter(column.foreign_keys), None)
                if target is not None:
                    values[column.name] = given[target.column.table.name][row][target.column.name]
                elif (table.name, column.name) in OVERRIDES:
                    values[column.name] = OVERRIDES[table.name, column.name][row]
                else:
                    values[column.name] = _value(table, column, row)
            rows.append(values)
        connection.execute(sa.insert(table), rows)
        given[table.name] = rows
    return given


def _snapshot(connection: sa.Connection) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (but Alembic's), in primary key order."""
    metadata = sa.MetaData()
    metadata.reflect(connection)
    return {table.name: [dict(row) for row in connection.execute(
                sa.select(table).order_by(*table.primary_key.columns)).mappings()]
            for table in metadata.sorted_tables if table.name != "alembic_version"}


def _differences(connection: sa.Connection) -> list[Any]:
    return compare_metadata(MigrationContext.configure(connection), Base.metadata)


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[AsyncConnection]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            yield connection
    finally:
        await engine.dispose()


def child(url: str) -> tuple[str, dict[str, str]]:
    """The URL for a child process's command line (no password) and its environment."""
    bare, secret_env = split_password(url)
    return bare, {**os.environ, "PRINTGW_CLOUD_OPERATOR_TOKEN": OPERATOR_TOKEN, **secret_env}


async def printgw_cloud(url: str, *args: str) -> tuple[int, str, str]:
    """`printgw-cloud ARGS --database URL`, run to its end."""
    shown, env = child(url)
    proc = await asyncio.create_subprocess_exec(
        *CLOUD, *args, "--database", shown, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def serving(url: str, *extra: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`printgw-cloud serve` in a child process (killed at the end), output piped."""
    shown, env = child(url)
    proc = await asyncio.create_subprocess_exec(
        *CLOUD, "serve", "--host", HOST, "--port", "0", "--database", shown, *extra, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def listening(proc: asyncio.subprocess.Process) -> str:
    """The URL the serving child prints once it is up (its stderr when it is not)."""
    assert proc.stdout is not None and proc.stderr is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    found = re.search(r"listening on (\S+)", line)
    if found is None:
        await asyncio.wait_for(proc.wait(), 30)
        raise AssertionError(f"the cloud did not start: {line}"
                             f"{(await proc.stderr.read()).decode()}")
    return found.group(1)


@BOTH_BACKENDS
async def test_a_release_0_1_0_database_upgraded_keeps_every_row_and_is_served(
        database_url: str) -> None:
    await load_release_0_1_0(database_url)
    async with connected(database_url) as connection:
        given = await connection.run_sync(_generated)
        before = await connection.run_sync(_snapshot)
    assert set(before) == set(given) and all(len(rows) == ROWS for rows in before.values())
    for name, rows in given.items():  # stored as given (the snapshot is the 0.1.0 data)
        stored = [{column: row[column] for column in rows[0]} for row in before[name]]
        assert all(row in stored for row in rows), name

    status, out, err = await printgw_cloud(database_url, "db", "upgrade")
    assert status == 0, err
    assert f"upgraded from 0001 (release 0.1.0, unversioned) to {head()}" in out
    assert "PGPASSWORD" not in out + err
    status, out, _ = await printgw_cloud(database_url, "db", "current")
    assert (status, out.strip()) == (0, f"{head()} (head)")

    async with connected(database_url) as connection:
        after = await connection.run_sync(_snapshot)
        assert {name: after[name] for name in before} == before
        assert await connection.run_sync(_differences) == []

    printer = given["printers"][0]
    async with running_cloud(database_url) as server, aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/v1/operator/printers/{printer['id']}",
                            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) as answer:
            assert answer.status == 200, await answer.text()
            view = await answer.json()
        async with http.get(f"{server.url}/v1/commands",
                            headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"}) as answer:
            assert answer.status == 200, await answer.text()  # 0.1.0's gateway still known
    assert view["registration"]["serial"] == printer["serial"]
    assert view["contract"] == printer["contract"]
    assert view["registered_at"] == "2026-11-30T12:34:56.789012Z"
    application = given["applications"][0]
    assert [a["application_id"] for a in view["applications"]] == [application["application_id"]]
    assert view["applications"][0]["application_date"] == "2026-11-30"


@BOTH_BACKENDS
async def test_migrations_make_exactly_the_models_schema(database_url: str) -> None:
    """From an empty database the migrations make what the models declare: Alembic's
    autogenerate comparison finds no difference.  This fails when a model changes without a
    migration in cloud/migrations/versions (write one: its upgrade makes this pass again)."""
    db = Database(database_url)
    try:
        found = await db.create_schema()
        again = await db.create_schema()
    finally:
        await db.close()
    assert (found.revision, again.revision, again.current) == (None, head(), True)
    async with connected(database_url) as connection:
        assert await connection.run_sync(_differences) == []
        assert set(Base.metadata.tables) <= set(await connection.run_sync(
            lambda sync: sa.inspect(sync).get_table_names()))


@BOTH_BACKENDS
async def test_the_server_refuses_an_outdated_database_unless_told_to_upgrade_it(
        database_url: str) -> None:
    await load_release_0_1_0(database_url)
    async with serving(database_url) as proc:
        assert await asyncio.wait_for(proc.wait(), 60) == 1
        assert proc.stderr is not None
        err = (await proc.stderr.read()).decode()
    assert "printgw-cloud: the database's schema was made by release 0.1.0" in err, err
    assert "printgw-cloud db upgrade" in err and "--upgrade-database" in err

    db = Database(database_url)
    try:
        with pytest.raises(SchemaOutdated):
            await db.create_schema()
    finally:
        await db.close()

    async with serving(database_url, "--upgrade-database") as proc:
        await listening(proc)
    async with connected(database_url) as connection:
        assert (await connection.run_sync(schema_state)).current


@BOTH_BACKENDS
async def test_a_failed_upgrade_changes_nothing(database_url: str) -> None:
    """One transaction, on SQLite too: a migration that fails (here, a table of a later
    revision is in the way) leaves the 0.1.0 database unstamped and as it was."""
    later = sorted(set(Base.metadata.tables) - RELEASE_0_1_0_TABLES)
    assert later, "no migration after 0001 to make fail"
    await load_release_0_1_0(database_url)
    async with connected(database_url) as connection:
        await connection.execute(sa.text(f"CREATE TABLE {later[0]} (in_the_way INTEGER)"))
    db = Database(database_url)
    try:
        with pytest.raises(SQLAlchemyError):
            await db.create_schema(upgrade=True)
    finally:
        await db.close()
    async with connected(database_url) as connection:
        state = await connection.run_sync(schema_state)
        columns = await connection.run_sync(
            lambda sync: [c["name"] for c in sa.inspect(sync).get_columns(later[0])])
        tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    assert (state.revision, state.versioned, columns) == ("0001", False, ["in_the_way"])
    assert set(tables) == RELEASE_0_1_0_TABLES | {later[0]}  # no alembic_version either


async def a_newer_releases_database(url: str) -> None:
    """The database at `url` as a later release would leave it: a revision unknown here."""
    db = Database(url)
    try:
        await db.create_schema()
        async with db.write() as session:
            await session.execute(sa.text("UPDATE alembic_version SET version_num = '9999_later'"))
    finally:
        await db.close()


@BOTH_BACKENDS
async def test_a_database_of_a_newer_release_is_refused(database_url: str) -> None:
    await a_newer_releases_database(database_url)
    db = Database(database_url)
    try:
        with pytest.raises(SchemaTooNew, match=r"9999_later.*a newer release upgraded it"):
            await db.create_schema(upgrade=True)
    finally:
        await db.close()


async def test_the_commands_refuse_a_database_of_a_newer_release(database_url: str) -> None:
    await a_newer_releases_database(database_url)
    status, _, err = await printgw_cloud(database_url, "db", "upgrade")
    assert status == 1 and "printgw-cloud: the database's schema is at revision 9999_later" in err
    async with serving(database_url, "--upgrade-database") as proc:
        assert await asyncio.wait_for(proc.wait(), 60) == 1
        assert proc.stderr is not None
        assert "a newer release upgraded it" in (await proc.stderr.read()).decode()


async def test_servers_starting_at_once_on_an_empty_postgresql_database_all_come_up(
        postgres_url: str) -> None:
    databases = [Database(postgres_url) for _ in range(4)]
    try:  # in one process, on several connections (the advisory lock serialises them)
        states = await asyncio.gather(*(db.create_schema() for db in databases))
    finally:
        for db in databases:
            await db.close()
    assert sorted(state.revision or "" for state in states) == ["", head(), head(), head()]
    async with connected(postgres_url) as connection:
        await connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        await connection.execute(sa.text("CREATE SCHEMA public"))

    async with serving(postgres_url) as first, serving(postgres_url) as second:
        urls = await asyncio.gather(listening(first), listening(second))
    assert len(set(urls)) == 2
    async with connected(postgres_url) as connection:
        versions = (await connection.execute(
            sa.text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert await connection.run_sync(_differences) == []
    assert versions == [head()]
