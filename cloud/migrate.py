"""The cloud's schema revisions (Alembic, `cloud/migrations`): what `Database.create_schema`
and `printgw-cloud db` do with a database.

- Empty database (none of the cloud's tables): every migration runs, so a new database and an
  upgraded one are made by the same code (tests/cloud/test_migrations.py checks that the result
  is exactly the models' schema).
- At the newest revision (head): nothing.
- At an older revision, or made by release 0.1.0 (its tables, no `alembic_version`; counted as
  revision `0001`): `SchemaOutdated`, unless upgrading was asked for (`printgw-cloud db upgrade`
  or `serve --upgrade-database`); then 0.1.0's database is stamped `0001` and upgraded.
- At a revision this code does not know: `SchemaTooNew` (a newer release upgraded it; this one
  must not run on it).

Everything happens in the caller's transaction, so a failed upgrade changes nothing (SQLite: an
explicit `BEGIN IMMEDIATE`, DDL included).  On PostgreSQL it first takes a transaction-level
advisory lock, so several processes starting at once (the workers of `serve --workers N`) do it
one after the other: the first migrates, the others then find the head.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, inspect, text

from protocols.version import VERSION

log = logging.getLogger(__name__)
# Alembic's INFO lines (its backend, each step) would come before `serve`'s `listening on` line
# at every start: `prepare_schema` logs what it did instead.
logging.getLogger("alembic").setLevel(logging.WARNING)

MIGRATIONS = Path(__file__).with_name("migrations")
RELEASE_0_1_0 = "0001"
"""The revision of release 0.1.0's schema, which had no revision table."""
RELEASE_0_1_0_TABLES = frozenset({
    "applications", "cartridge_bindings", "cartridge_moves", "cartridge_orders", "changes",
    "commands", "contract_processes", "contract_usage", "enrolment_tokens", "gateways",
    "idempotent_requests", "member_notices", "meter_readings", "meter_schedules", "printers",
    "printer_contracts", "proposals", "provider_deliveries", "services", "statuses",
    "supply_cycles", "webhook_attempts"})
LOCK_KEY = int.from_bytes(b"pgw-mig", "big")
"""The PostgreSQL advisory lock (bigint) held while the schema is checked and migrated."""
UPGRADE_HINT = ("back the database up, then run `printgw-cloud db upgrade --database URL` "
                "(or start the server once with --upgrade-database)")


class SchemaOutdated(ValueError):
    """The database's schema is older than this code's and upgrading was not asked for."""


class SchemaTooNew(ValueError):
    """The database's schema revision is unknown here: a newer release has upgraded it."""


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands."""

    revision: str | None
    """Its revision; `RELEASE_0_1_0` for release 0.1.0's unversioned tables; None: empty."""
    versioned: bool
    """Whether the revision is recorded (Alembic's `alembic_version` table)."""
    head: str
    """This code's newest revision."""

    @property
    def current(self) -> bool:
        return self.versioned and self.revision == self.head

    def describe(self) -> str:
        if self.revision is None:
            return "none (empty database)"
        if not self.versioned:
            return f"{self.revision} (release 0.1.0, unversioned)"
        return f"{self.revision} (head)" if self.current else self.revision


def _config(connection: Connection | None = None) -> Config:
    """Alembic's configuration in code: the migrations' directory, the caller's connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def scripts() -> ScriptDirectory:
    """The revisions in `cloud/migrations/versions` (read once per process)."""
    return ScriptDirectory.from_config(_config())


def head() -> str:
    revision = scripts().get_current_head()
    assert revision is not None, "cloud/migrations/versions has no single head"
    return revision


def schema_state(connection: Connection) -> SchemaState:
    """The state of the database behind `connection` (ValueError when it is not one this code
    can tell: a revision it does not know, or some of 0.1.0's tables missing)."""
    newest = head()
    stored = MigrationContext.configure(connection).get_current_heads()
    if stored:
        if len(stored) > 1 or not _known(stored[0]):
            raise SchemaTooNew(
                f"the database's schema is at revision {', '.join(stored)}, which printgw-cloud "
                f"{VERSION} does not know (its newest is {newest}): a newer release upgraded "
                "it; run that release (a schema cannot be downgraded)")
        return SchemaState(stored[0], True, newest)
    present = set(inspect(connection).get_table_names()) & RELEASE_0_1_0_TABLES
    if not present:
        return SchemaState(None, False, newest)
    if present != RELEASE_0_1_0_TABLES:
        raise ValueError(
            "the database has some of the cloud's tables but no schema revision and not all of "
            f"release 0.1.0's tables (missing: {_listed(RELEASE_0_1_0_TABLES - present)}): "
            "restore it from a backup")
    return SchemaState(RELEASE_0_1_0, False, newest)


def prepare_schema(connection: Connection, upgrade: bool = False) -> SchemaState:
    """Bring the database to the head as the module docstring says; the state found before.
    Run it in a transaction (`AsyncConnection.run_sync` inside `AsyncEngine.begin`)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # The driver begins a transaction only before DML: without this each DDL statement would
        # commit alone, and a failed upgrade would leave the database half migrated.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    state = schema_state(connection)
    if state.current:
        return state
    if state.revision is not None and not upgrade:
        found = (f"is at revision {state.revision}" if state.versioned
                 else "was made by release 0.1.0 and has no schema revision")
        raise SchemaOutdated(f"the database's schema {found}; printgw-cloud {VERSION} needs "
                             f"revision {state.head}: {UPGRADE_HINT}")
    if state.revision is not None and not state.versioned:
        MigrationContext.configure(connection).stamp(scripts(), RELEASE_0_1_0)
    _upgrade(connection)
    if state.revision is None:
        log.debug("database schema made at revision %s", state.head)
    else:
        log.info("database schema upgraded from revision %s to %s", state.describe(),
                 state.head)
    return state


def _upgrade(connection: Connection) -> None:
    """Every migration from the recorded revision to the head, through `migrations/env.py`."""
    script = scripts()

    def steps(revision: Any, _context: MigrationContext) -> Any:
        return script._upgrade_revs("head", revision)

    with EnvironmentContext(_config(connection), script, fn=steps, destination_rev="head"):
        script.run_env()


def _known(revision: str) -> bool:
    try:
        return scripts().get_revision(revision) is not None
    except CommandError:
        return False


def _listed(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))
