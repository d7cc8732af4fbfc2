"""The processes of a server and what they hold, from /proc: `bench/cloud.py`'s measurements.

CPU and RSS of a process tree (a supervising parent and its workers; the postmaster and its
backends), and the bench's file-descriptor limit.  Which worker holds a connection:
`tests.support.cloud_workers.tcp_owner`."""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parent_of(pid: int) -> int:
    return int(_stat(pid)[1])


def process_tree(root: int) -> list[int]:
    """`root` and every live descendant."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                children.setdefault(parent_of(int(entry.name)), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_cpu(root: int) -> float:
    """CPU seconds of `root` and its live descendants, with the children they reaped (a
    PostgreSQL backend that ended is in the postmaster's cutime)."""
    total = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            fields = _stat(pid)
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total / TICKS


def tree_rss_mb(root: int) -> float:
    total = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
    return total / 1024


def raise_fd_limit() -> int:
    """RLIMIT_NOFILE to its hard limit (inherited by the cloud and PostgreSQL); the new soft."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard
