"""`printgw-cloud`'s entry point: the reference cloud's database stack is the `[cloud]` extra.

A gateway install (`pip install printgw`, the Debian package) has no SQLAlchemy, aiosqlite or
asyncpg; without them `printgw-cloud` (and `printgw demo`, which runs it as `python -m cloud`)
says in one line which extra is missing instead of ending in an ImportError's traceback.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

EXTRA_MODULES = ("sqlalchemy", "aiosqlite", "asyncpg", "alembic")
"""Top-level modules of the `[cloud]` extra's requirements (pyproject.toml)."""


def missing_extra() -> str | None:
    """The one-line message when a module of the `[cloud]` extra is not installed, else None."""
    missing = [name for name in EXTRA_MODULES if find_spec(name) is None]
    if not missing:
        return None
    return (f"printgw-cloud: the reference cloud needs the [cloud] extra "
            f"(missing: {', '.join(missing)}): pip install 'printgw[cloud]'")


def main() -> int:
    message = missing_extra()
    if message is not None:
        print(message, file=sys.stderr)
        return 1
    from cloud.cli import main as cloud_main  # imported once the extra is known to be there

    return cloud_main()
