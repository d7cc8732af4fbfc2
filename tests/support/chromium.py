"""Render a page in a real headless Chromium (Debian's `chromium`, installed by `.ci/run`).

`render(url, directory)` loads the page twice in a fresh profile — once for the DOM after
rendering (`--dump-dom`), once for a screenshot — without blocking the event loop, so servers in
the test's loop keep answering.  Background networking, component updates and sync are off:
the browser talks to nothing but the page.
"""

from __future__ import annotations

import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.sim_helpers import run

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Rendered:
    dom: str
    """The document as Chromium serialised it after loading and rendering the page."""
    screenshot: Path


def chromium() -> str:
    """The Chromium executable; fails the test with how to install it when there is none."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is missing: install the Debian package 'chromium' (.ci/run does)")
    return path


async def _run(args: list[str], limit: float) -> str:
    rc, out, err = await run(*args, limit=limit)
    if rc:
        raise AssertionError(f"chromium failed ({rc}): {err[-2000:]}")
    return out


async def render(url: str, directory: Path, *, width: int = 1280, height: int = 900,
                 limit: float = 90.0) -> Rendered:
    """`url` rendered at `width` x `height`: its DOM, and a PNG screenshot in `directory` (an
    existing directory; the browser profile goes there too)."""
    base = [chromium(), *FLAGS, f"--user-data-dir={directory / 'profile'}",
            f"--window-size={width},{height}"]
    dom = await _run([*base, "--dump-dom", url], limit)
    screenshot = directory / "page.png"
    await _run([*base, f"--screenshot={screenshot}", url], limit)
    return Rendered(dom, screenshot)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG file; AssertionError when it is not one."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height
