"""No absolute path of one machine anywhere in the repository: the code, docs, tests, benchmarks
and simulator find what they need relative to the checkout (the shared recordings through
`tests/support/paths.py`, one setting with a relative default), and the README links nothing
outside it.

A machine path is one under a home or work directory (`/home/…`, `/root/…`, `/work/…`,
`/Users/…`, `/mnt/…`, `/media/…`), under `/tmp/` (a session's scratch directory) unless
allow-listed below, or the checkout's own location. The system paths an installed printgw uses
(`/etc/printgw`, `/var/lib/printgw`, `/opt/printgw`, `/usr/bin`, `/dev/log`, `/proc`…) are not
machine paths and are never flagged.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.support.paths import REPO

MACHINE_PATH = re.compile(r"(?<![\w.~$-])/(?:home|root|work|Users|mnt|media|tmp)/[^\s'\"`)\]>]*")
ALLOWED = (
    re.compile(r"/tmp/cloud\.db$"),  # cloud/server.py: an example database URL in a docstring
    re.compile(r"/tmp/printgw-mibs-\w+$"),  # mibs/README.md: a scratch directory for pysmi
    re.compile(r"/tmp/x$"),  # a config value in a test of the data directory check
)
SKIPPED_DIRS = {".git", ".venv", "__pycache__", "build", "dist", ".pytest_cache", ".ruff_cache"}


def repository_files() -> list[Path]:
    """The checkout's files (tracked and new, not ignored); a tree walk outside a git checkout."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
        return [REPO / name for name in listed if name and (REPO / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for root, dirs, names in os.walk(REPO):
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
            files += [Path(root, name) for name in names]
        return files


def machine_paths(text: str) -> list[str]:
    found = [match.group(0) for match in MACHINE_PATH.finditer(text)
             if not any(allowed.search(match.group(0)) for allowed in ALLOWED)]
    if str(REPO) in text and not any(str(REPO) in path for path in found):
        found.append(str(REPO))
    return found


def test_no_file_names_a_path_of_this_machine() -> None:
    offenders = {}
    for path in repository_files():
        if path.resolve() == Path(__file__).resolve():
            continue  # its examples
        data = path.read_bytes()
        if b"\0" in data:
            continue  # binary
        found = machine_paths(data.decode("utf-8", "replace"))
        if found:
            offenders[str(path.relative_to(REPO))] = sorted(set(found))
    assert not offenders, f"absolute machine paths (use a path relative to the checkout): " \
                          f"{offenders}"


def test_the_check_finds_machine_paths_and_spares_system_ones() -> None:
    # the paths are put together here so that this file holds none itself
    fixtures, spec, notes = ("/" + "work/shared/fixtures/snmp", "/" + "home/alice/SPEC.md",
                             "/" + "tmp/session/notes")
    assert machine_paths(f'F = "{fixtures}"') == [fixtures]
    assert machine_paths(f"see {spec} and {notes}") == [spec, notes]
    assert machine_paths(f"cd {REPO} && make") in ([str(REPO)], [f"{REPO}"])
    assert machine_paths("/etc/printgw/gateway.toml /var/lib/printgw /opt/printgw/bin/printgw "
                         "/usr/bin/env /dev/log /proc/self/status sqlite+aiosqlite:///tmp/cloud.db "
                         "https://example.com/home/page ~/work/x $HOME/x") == []


def test_the_readme_links_only_inside_the_repository() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)", readme):
        if re.match(r"https?://", target):
            continue
        assert not target.startswith("/") and (REPO / target).resolve().is_relative_to(REPO), \
            f"README.md links outside the repository: {target}"  # (dead links: test_doc_links)
