"""Whose status page answers, and why a daemon's page does not: what `printgw status` needs to
trust the page it asks.

- `data_dir_id`: a fingerprint of a data directory (the directory itself, not its name: device
  and inode with the real path), which `/api/status` gives as `gateway.data_dir_id`.  `printgw
  status` compares it with the one of the data directory its config names, so that another
  daemon (another printgw, or any program) answering at the configured port is never shown as
  this gateway's fleet.
- `record_start_failure` / `start_failure`: the daemon could not serve its page (the port in
  use, say); the reason is written to `status-page.error` in the data directory with the
  daemon's process id, and `printgw status` says it while that process runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

ERROR_FILE = "status-page.error"


def data_dir_id(data_dir: Path | str) -> str | None:
    """The data directory's fingerprint; None when it cannot be looked at (missing, or the user
    may not see it)."""
    try:
        real = os.path.realpath(data_dir)
        info = os.stat(real)
    except OSError:
        return None
    text = f"{info.st_dev}:{info.st_ino}:{real}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record_start_failure(data_dir: Path | str, reason: str) -> None:
    """The running daemon's page could not start, because of `reason`."""
    with contextlib.suppress(OSError):
        (Path(data_dir) / ERROR_FILE).write_text(
            json.dumps({"pid": os.getpid(), "reason": reason}) + "\n")


def clear_start_failure(data_dir: Path | str) -> None:
    with contextlib.suppress(OSError):
        (Path(data_dir) / ERROR_FILE).unlink()


def start_failure(data_dir: Path | str) -> str | None:
    """Why the running daemon serves no page; None when it does, or no daemon wrote why (or the
    one that did has ended)."""
    try:
        record = json.loads((Path(data_dir) / ERROR_FILE).read_text())
        pid, reason = int(record["pid"]), str(record["reason"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # it runs, as another user
        pass
    return reason
