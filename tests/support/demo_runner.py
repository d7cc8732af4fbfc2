"""`printgw demo …` as a child process, as a user runs it: its output lines collected while it runs,
waited for by pattern; killed with every process group it started if the test ends early."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from protocols.hosts import free_port
from simulator.fleet import addresses
from tests.support.printgw_cli import COMMAND

ENV = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


def processes() -> dict[int, tuple[int, int]]:
    """Every process: PID → (parent PID, process group), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                found[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return found


def descendants(pid: int) -> set[int]:
    """Every process below `pid`."""
    table = processes()
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        children = {p for p, (ppid, _group) in table.items() if ppid == parent} - found
        todo += children
        found |= children
    return found


@dataclass
class RunningDemo:
    process: asyncio.subprocess.Process
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    children: set[int] = field(default_factory=set)
    """Every descendant process seen while it ran (sampled every 50 ms)."""

    @property
    def output(self) -> str:
        return "\n".join(self.out)

    async def line(self, pattern: str, within: float) -> re.Match[str]:
        """The first output line matching `pattern` (waiting for it at most `within` s)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + within
        while True:
            for text in self.out:
                match = re.search(pattern, text)
                if match:
                    return match
            if self.process.returncode is not None or loop.time() > end:
                raise AssertionError(f"no line matching {pattern!r} within {within} s:\n"
                                     f"{self.output}\n{chr(10).join(self.err)}")
            await asyncio.sleep(0.1)

    async def wait(self, within: float) -> int:
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            raise AssertionError(f"the demo did not stop within {within} s:\n"
                                 f"{self.output}") from None


async def _collect(stream: asyncio.StreamReader, into: list[str]) -> None:
    async for raw in stream:
        into.append(raw.decode(errors="replace").rstrip("\n"))


async def _sample_children(running: RunningDemo) -> None:
    while running.process.returncode is None:
        running.children |= descendants(running.process.pid)
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_demo(*args: str) -> AsyncIterator[RunningDemo]:
    """`printgw demo ARGS` running; killed (with its children's process groups) if the test
    fails before it has stopped."""
    process = await asyncio.create_subprocess_exec(
        *COMMAND, "demo", *args, stdin=subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=ENV)
    running = RunningDemo(process)
    assert process.stdout is not None and process.stderr is not None
    readers = [asyncio.create_task(_collect(process.stdout, running.out)),
               asyncio.create_task(_collect(process.stderr, running.err)),
               asyncio.create_task(_sample_children(running))]
    try:
        yield running
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
            for pid in running.children:  # each child leads its own process group
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        await asyncio.gather(*readers)


def fleet_args(first_ip: str, count: int) -> list[str]:
    """`--count`, `--first-ip` and SNMP and IPP ports free on the fleet's addresses."""
    ips = addresses(first_ip, count)
    return ["--count", str(count), "--first-ip", first_ip,
            "--snmp-port", str(free_port(*ips, udp=True)), "--ipp-port",
            str(free_port(*ips, udp=True))]
