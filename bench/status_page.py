"""Benchmark: the status page's weight and render time with a large virtual fleet (issue 18).

A fleet of virtual printers (some stopped, some with a low cartridge:
`tests.support.status_fleet`) is read once by the real `printgw run --once`; then the page of
that store is served in this process and its first page measured: bytes, the time from request
to last byte (median of 5), and Chromium's time for `--dump-dom` of it and of about:blank.

To compare with an older page, copy this file and `tests/support/status_fleet.py` into that
checkout and run it there (it measures the checkout it lies in).

    python bench/status_page.py [--printers 1000] [--first-ip 127.0.134.1]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.app.daemon import Gateway
from gateway.local.status_page import StatusPage
from gateway.settings.loading import load_config
from protocols.hosts import free_port
from tests.support.printgw_cli import COMMAND
from tests.support.sim_helpers import run, running_fleet
from tests.support.status_fleet import PROFILES, page_figures, set_problems
from tests.support.uplink_harness import toml_document


async def measure(printers: int, first_ip: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        config_path = directory / "gateway.toml"
        async with running_fleet(first_ip, printers, profiles=PROFILES) as fleet:
            set_problems(fleet)
            first = fleet.printers[0]
            config_path.write_text(toml_document({
                "gateway": {"data_dir": str(directory / "gateway"), "name": "bench",
                            "time_zone": "UTC"},
                "snmp": {"port": first.snmp_port, "timeout": "2s", "retries": 1},
                "ipp": {"port": first.ipp_port, "timeout": "3s"},
                "discovery": {"mdns": False,
                              "static": [{"host": p.ip} for p in fleet.printers]},
                "poll": {"concurrency": 64}, "status_page": {"port": free_port()}}))
            config_path.chmod(0o600)
            start = time.monotonic()
            rc, _out, err = await run(*COMMAND, "run", "--once", "--config", str(config_path),
                                      limit=600)
            if rc:
                raise SystemExit(f"printgw run --once failed ({rc}): {err[-2000:]}")
            read = time.monotonic() - start
        async with Gateway(load_config(config_path)) as gateway:
            page = StatusPage(gateway.runtime, gateway.store, gateway.metrics)
            url = await page.start()
            try:
                figures = await page_figures(url, directory)
            finally:
                await page.close()
        return f"{printers} printers (read in {read:.0f} s): page 1 {figures.line()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=1000)
    parser.add_argument("--first-ip", default="127.0.134.1")
    args = parser.parse_args(argv)
    print(asyncio.run(measure(args.printers, args.first_ip)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
