"""The processes of a server and what they hold, from /proc: `bench/cloud.py`'s measurements.

CPU and RSS of a process tree (a supervising parent and its workers; the postmaster and its
backends), and which of several worker processes holds an accepted TCP connection."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
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


def connection_owner(client: str, server_port: int, pids: list[int]) -> int | None:
    """The process among `pids` holding the accepted connection from address `client` (one
    connection from there) to `server_port`."""
    remote = socket.inet_aton(client)[::-1].hex().upper() + ":"
    local = f":{server_port:04X}"
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(local) and fields[2].startswith(remote) and fields[3] == "01":
            inodes.add(f"socket:[{fields[9]}]")
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        return pid
    return None


def raise_fd_limit() -> int:
    """RLIMIT_NOFILE to its hard limit (inherited by the cloud and PostgreSQL); the new soft."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard
