"""`printgw run`'s log under systemd (issue 18): when stderr is the journal stream
(`$JOURNAL_STREAM`), every line starts with its sd-daemon priority and carries no time of its own
(journald stamps it); otherwise the lines are as before.

The real `printgw run` in a child process, its stderr a pipe this test reads; the config is
readable by others and holds a secret, which `printgw run` warns about."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.local import logs
from gateway.settings.loading import parse_config
from tests.support.printgw_cli import COMMAND

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d")


def exposed_config(tmp_path: Path) -> Path:
    """A config without printers whose community others may read: a warning at the start."""
    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\ndata_dir = "{tmp_path / "data"}"\n'
                      '[snmp]\ncommunities = ["n0t-public"]\n'
                      '[discovery]\nmdns = false\n[status_page]\nenabled = false\n')
    config.chmod(0o644)
    return config


def run_until_running(config: Path, journal_stream: str | None) -> list[str]:
    """`printgw run --log-level debug` until it logs that it runs, then SIGTERM; its stderr lines.
    `journal_stream`: `$JOURNAL_STREAM`, "pipe" for the stderr pipe's own `DEVICE:INODE`."""
    read_end, write_end = os.pipe()
    info = os.fstat(read_end)
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal_stream is not None:
        env["JOURNAL_STREAM"] = (f"{info.st_dev}:{info.st_ino}" if journal_stream == "pipe"
                                 else journal_stream)
    process = subprocess.Popen([*COMMAND, "run", "--config", str(config), "--log-level", "debug"],
                               stdout=subprocess.DEVNULL, stderr=write_end, env=env)
    os.close(write_end)
    lines: list[str] = []
    with open(read_end, encoding="utf-8", errors="replace") as stream:
        deadline = time.monotonic() + 60
        for line in stream:
            lines.append(line.rstrip("\n"))
            if "running (data in" in line:
                process.send_signal(signal.SIGTERM)
            assert time.monotonic() < deadline, lines
    assert process.wait(30) == 0, lines
    return lines


@pytest.mark.slow
def test_journal_lines_have_priorities_and_no_timestamp(tmp_path: Path) -> None:
    lines = run_until_running(exposed_config(tmp_path), "pipe")
    assert lines and all(re.match(r"<[0-7]>", line) for line in lines), lines
    assert not [line for line in lines if TIMESTAMP.search(line)], lines
    (warning,) = [line for line in lines if "may be read by group or others" in line]
    assert warning.startswith("<4>WARNING gateway.app.runner: ")
    assert any(line.startswith("<6>INFO gateway.app.runner: printgw ") for line in lines)
    assert any(line.startswith("<7>DEBUG ") for line in lines), lines
    assert lines[-1].startswith("<6>") and "printgw stopped" in lines[-1]


@pytest.mark.slow
def test_a_stderr_that_is_not_the_journal_gets_the_usual_lines(tmp_path: Path) -> None:
    """A service whose stderr goes elsewhere keeps `$JOURNAL_STREAM` from systemd: the lines are
    then written as everywhere else."""
    lines = run_until_running(exposed_config(tmp_path), "8:12345")
    assert not [line for line in lines if line.startswith("<")], lines
    (warning,) = [line for line in lines if "may be read by group or others" in line]
    assert TIMESTAMP.match(warning) and " WARNING gateway.app.runner: " in warning


@pytest.fixture
def root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.handlers[:] = [h for h in handlers if not isinstance(h, logs._Handler)]
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_traceback_keeps_its_priority_on_every_line(
        root_logger: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """journald stores each line apart: `journalctl -p err` shows the whole traceback."""
    path = tmp_path / "journal"
    with path.open("w") as stream:
        info = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
        logs.configure(parse_config({}), stream=stream)
        try:
            raise RuntimeError("broken")
        except RuntimeError:
            logging.getLogger("gateway.test").exception("it failed")
    lines = path.read_text().splitlines()
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines), lines
    assert lines[0] == "<3>ERROR gateway.test: it failed"
    assert lines[-1] == "<3>RuntimeError: broken"
