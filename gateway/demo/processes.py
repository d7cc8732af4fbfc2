"""The child processes of `printgw demo`: starting them with this interpreter and these packages,
each in a process group of its own and (on Linux) dying with the demo, telling when one has
exited, and stopping them in order (SIGTERM, then SIGKILL after a grace period)."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.demo.errors import DemoError

STOP_GRACE = 10.0
"""Seconds a child has to stop on SIGTERM before it is killed."""

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` giving the child SIGTERM when this process dies (Linux), else None."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl
            os._exit(1)
    return setup


@dataclass
class Child:
    """A running child: its name for messages, its process, the file its output goes to."""

    name: str
    process: asyncio.subprocess.Process
    log: Path

    def last_line(self) -> str:
        with contextlib.suppress(OSError):
            lines = [line.strip() for line in self.log.read_text(errors="replace").splitlines()]
            lines = [line for line in lines if line]
            if lines:
                return lines[-1][:300]
        return "no output"

    def failure(self) -> str | None:
        """A one-line message when the child has exited, else None."""
        if self.process.returncode is None:
            return None
        return f"{self.name} exited with status {self.process.returncode}: {self.last_line()}"

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), STOP_GRACE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()


_PACKAGES = Path(__file__).resolve().parents[1]
"""Where `gateway`, `cloud` and `simulator` are: the children import them from here too."""


async def start_child(name: str, log: Path, *args: str) -> Child:
    """`python -m …` with this interpreter and these packages, in a process group of its own (a
    terminal's Ctrl-C reaches the demo only, which stops its children in order), output to
    `log`."""
    path = os.pathsep.join(p for p in (str(_PACKAGES), os.environ.get("PYTHONPATH")) if p)
    try:
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", *args, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=out, process_group=0, preexec_fn=_die_with_parent(),
                env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path})
    except OSError as exc:
        raise DemoError(f"cannot start {name}: {exc}") from exc
    return Child(name, process, log)


async def stop_in_order(children: Sequence[Child], first: str) -> None:
    """Stop the children named `first` (and wait for them), then the others at once."""
    leading = [c for c in children if c.name == first]
    for child in leading:
        await child.stop()
    await asyncio.gather(*(c.stop() for c in children if c not in leading))
