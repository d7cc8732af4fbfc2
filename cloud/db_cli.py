"""`printgw-cloud db upgrade|current`: the cloud database's schema revision (`cloud.migrate`).

`upgrade` brings a database made by an older release (release 0.1.0's included) to this
release's schema — on PostgreSQL in one transaction, so a failure leaves it as it was — and makes
the schema in an empty one; `current` prints where a database stands.  The database is named
as `serve` names it (`--database URL`); its password is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cloud.db import DEFAULT_URL, Database
from cloud.migrate import SchemaState, schema_state

DATABASE_HELP = (f"SQLAlchemy URL: sqlite+aiosqlite:///FILE (default {DEFAULT_URL}) or "
                 "postgresql+asyncpg://USER:PASSWORD@HOST/DB")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """The `db` sub-command, beside `serve`."""
    db = commands.add_parser("db", help="the database's schema (migrations)")
    actions = db.add_subparsers(dest="action", required=True)
    upgrade = actions.add_parser(
        "upgrade", help="migrate the database to this release's schema (back it up first; see "
                        "docs/cloud-scale-out.md)")
    current = actions.add_parser("current", help="print the database's schema revision")
    for parser in (upgrade, current):
        parser.add_argument("--database", default=DEFAULT_URL, help=DATABASE_HELP)


def run(args: argparse.Namespace) -> int:
    """Run a `db` command: 0 done, 1 the database refused or failed, 2 an unusable URL."""
    try:
        database = _open(args.database, must_exist=args.action == "current")
    except (ValueError, SQLAlchemyError) as exc:
        print(f"printgw-cloud: {exc}", file=sys.stderr)
        return 2
    try:
        print(asyncio.run(_COMMANDS[args.action](database)), flush=True)
    except (OSError, ValueError, SQLAlchemyError) as exc:
        print(f"printgw-cloud: {exc}", file=sys.stderr)
        return 1
    return 0


def _open(url: str, must_exist: bool) -> Database:
    """The database; a SQLite file that is not there is refused when `must_exist` (looking
    must not create it)."""
    parsed = make_url(url)
    if (must_exist and parsed.get_backend_name() == "sqlite" and parsed.database
            and not Path(parsed.database).exists()):
        raise ValueError(f"no such database file: {parsed.database}")
    return Database(url)


async def _upgrade(database: Database) -> str:
    try:
        before = await database.create_schema(upgrade=True)
    finally:
        await database.close()
    where = _shown(database)
    if before.current:
        return f"{where}: already at the newest schema revision, {before.head}"
    return f"{where}: schema upgraded from {before.describe()} to {before.head}"


async def _current(database: Database) -> str:
    try:
        async with database.engine.connect() as connection:
            state: SchemaState = await connection.run_sync(schema_state)
    finally:
        await database.close()
    return state.describe() if state.current else f"{state.describe()}; newest: {state.head}"


def _shown(database: Database) -> str:
    return database.engine.url.render_as_string(hide_password=True)


_COMMANDS: dict[str, Callable[[Database], Awaitable[str]]] = {
    "upgrade": _upgrade, "current": _current}
