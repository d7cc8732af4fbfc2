"""Issue 19: the daemon's log warns of secrets in a config file others may read — at the start
and after a reload (SIGHUP) that finds them — naming the keys, never the values.  The real
`printgw run` in a child process, without printers, cloud or status page."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.support.printgw_cli import COMMAND

SECRET = "enrol-s3cret-19"


async def _line_with(stream: asyncio.StreamReader, words: str, within: float) -> str:
    """The first line of `stream` holding `words` (AssertionError after `within` seconds)."""
    async def find() -> str:
        while line := (await stream.readline()).decode():
            if words in line:
                return line
        raise AssertionError(f"the daemon's log ended without {words!r}")
    return await asyncio.wait_for(find(), within)


async def test_a_reload_that_finds_secrets_others_may_read_logs_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    base = (f'[gateway]\ndata_dir = "{tmp_path / "data"}"\n[discovery]\nmdns = false\n'
            '[status_page]\nenabled = false\n')
    path.write_text(base)
    path.chmod(0o644)  # readable by all, but no secret in it: no warning
    daemon = await asyncio.create_subprocess_exec(
        *COMMAND, "run", "--config", str(path), stderr=asyncio.subprocess.PIPE)
    assert daemon.stderr is not None
    try:
        first = await _line_with(daemon.stderr, "running (data in", 30)
        assert "WARNING" not in first
        path.write_text(base + f'[cloud]\nenrolment_token = "{SECRET}"\n'
                               '[snmp]\ncommunities = ["public"]\n')
        daemon.send_signal(signal.SIGHUP)
        warning = await _line_with(daemon.stderr, "may be read by group or others", 15)
        assert " WARNING gateway.app.runner: " in warning
        assert f"{path} may be read by group or others (mode 644) and holds secrets written " \
               "in it: cloud.enrolment_token;" in warning  # "public" is no secret
        assert SECRET not in warning
        daemon.send_signal(signal.SIGTERM)
        rest = await asyncio.wait_for(daemon.stderr.read(), 30)
        assert SECRET.encode() not in rest
        assert await asyncio.wait_for(daemon.wait(), 30) == 0
    finally:
        if daemon.returncode is None:
            daemon.kill()
            await daemon.wait()
