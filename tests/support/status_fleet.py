"""The status page with a large virtual fleet (issue 18): problems set on some printers before
the gateway reads them, and the page's figures (weight, server time, Chromium load time) as
`tests/local/test_status_page_fleet_chromium.py` and `bench/status_page.py` measure them."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from simulator.fleet import Fleet
from tests.support.chromium import FLAGS, chromium
from tests.support.sim_helpers import run

PROFILES = ["color-mfp", "mono-laser", "inkjet", "legacy-laser"]
STOPPED_EVERY, LOW_EVERY = 97, 41
"""Every 97th printer has its cover open (stopped), every 41st a cartridge at 4 %."""


def set_problems(fleet: Fleet) -> tuple[set[str], set[str]]:
    """Problems on some printers: (serials stopped, serials with a low cartridge)."""
    stopped, low = set(), set()
    for n, printer in enumerate(fleet.printers):
        if n % STOPPED_EVERY == 5:
            printer.state.raise_error("cover-open")
            stopped.add(printer.state.serial)
        if n % LOW_EVERY == 7:
            cartridge = next(s for s in printer.state.supplies if s.is_cartridge)
            printer.state.set_level(cartridge.index, 4)
            low.add(printer.state.serial)
    return stopped, low


@dataclass(frozen=True)
class PageFigures:
    bytes: int
    server_ms: float
    """Median time from the request to the last byte, over loopback."""
    chromium_ms: float
    """Median wall time of `chromium --dump-dom` for the page (start-up, load, render)."""
    blank_ms: float
    """The same for about:blank: the browser's own start-up and exit."""

    def line(self) -> str:
        return (f"{self.bytes / 1024:.0f} KiB, server {self.server_ms:.0f} ms, "
                f"Chromium {self.chromium_ms:.0f} ms (about:blank {self.blank_ms:.0f} ms)")


async def page_figures(url: str, directory: Path, repeats: int = 5) -> PageFigures:
    """Weight and render times of `url` (`directory`: for the browser's profiles)."""
    times, size = [], 0
    async with aiohttp.ClientSession() as http:
        for _ in range(repeats):
            start = time.perf_counter()
            async with http.get(url) as response:
                assert response.status == 200, url
                size = len(await response.read())
            times.append(time.perf_counter() - start)

    async def browser(target: str, n: int) -> float:
        args = [chromium(), *FLAGS, f"--user-data-dir={directory / f'profile-{n}'}",
                "--window-size=1280,900", "--dump-dom", target]
        start = time.perf_counter()
        rc, _out, err = await run(*args, limit=120)
        assert rc == 0, err[-2000:]
        return time.perf_counter() - start

    blank = [await browser("about:blank", n) for n in range(3)]
    page = [await browser(url, n) for n in range(3)]
    return PageFigures(size, 1000 * statistics.median(times), 1000 * statistics.median(page),
                       1000 * statistics.median(blank))
