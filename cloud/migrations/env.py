"""Alembic's environment for the cloud's migrations (loaded by Alembic, not imported).

`cloud.migrate` runs it inside `AsyncConnection.run_sync`, with the synchronous side of the
caller's connection in `config.attributes["connection"]`: the migrations run in the caller's
one transaction (after PostgreSQL's advisory lock, or SQLite's `BEGIN IMMEDIATE`), on SQLite
(aiosqlite) and PostgreSQL (asyncpg) alike.
"""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection)
with context.begin_transaction():
    context.run_migrations()
