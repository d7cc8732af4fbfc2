"""`printgw run` in a process: one cycle (`--once`), or the daemon with its signals — SIGTERM and
SIGINT stop it (a second one at once), SIGHUP reloads the config file — and systemd told READY,
RELOADING and STOPPING, and while it runs the fleet's `STATUS=` and the watchdog's `WATCHDOG=1`
(`systemd.py`).

Exit status: 0 done; 1 a failure a later start may not meet (the cloud could not take everything
now, an error while running); `CONFIG_ERROR` (2) a mistake no restart can fix — an invalid config
file, a data directory or database the gateway cannot use.  systemd's unit
(`config/printgw.service`) restarts on failure but not on 2 (`RestartPreventExitStatus=2`), so a
broken setup is not restarted in a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path

from gateway.app.daemon import Gateway
from gateway.app.systemd import FleetSummary, Heartbeat, sd_notify
from gateway.local import logs
from gateway.local.live_view import STATES, FleetView
from gateway.settings.checks import exposed_secrets_warning
from gateway.settings.loading import ConfigError, read_toml
from gateway.settings.schema import Config
from gateway.store import StoreError
from protocols.version import VERSION

log = logging.getLogger(__name__)

CONFIG_ERROR = 2
"""The exit status for a mistake in the setup (config, data directory): systemd does not restart."""


async def run_gateway(config: Config, once: bool = False, *, config_path: Path | None = None,
                      log_overrides: logs.LogOverrides | None = None) -> int:
    """`printgw run`: 0 when done (for `--once`: everything queued was delivered), 1 when the
    cloud could not take it all now (it stays in the outbox for the next run), `CONFIG_ERROR`
    when the database cannot be opened in the data directory (logged).  SIGHUP reloads
    `config_path` (logging as `[logging]` and `log_overrides` say)."""
    warn_if_secrets_exposed(config_path)
    try:
        gateway = Gateway(config)
    except StoreError as exc:
        log.error("cannot start: %s; fix [gateway] data_dir (or the database in it), then start "
                  "again", exc)
        return CONFIG_ERROR
    async with gateway:
        if once:
            return await _once(gateway)
        stop = asyncio.Event()

        def on_stop() -> None:
            if stop.is_set():
                log.info("stopping now (second signal)")
                gateway.hurry()
                return
            sd_notify("STOPPING=1")
            stop.set()

        def on_reload() -> None:
            if config_path is None:
                log.warning("reload: no config file to read again")
                return
            sd_notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
            log.info("reload: reading %s", config_path)
            now_in_force = gateway.reload(config_path)
            if now_in_force is not None:
                logs.configure(now_in_force, log_overrides or logs.LogOverrides())
                warn_if_secrets_exposed(config_path)
            sd_notify("READY=1")

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_stop)
        loop.add_signal_handler(signal.SIGHUP, on_reload)
        log.info("printgw %s running (data in %s)", VERSION, config.gateway.data_dir)
        sd_notify("READY=1")
        heartbeat = asyncio.create_task(fleet_heartbeat(gateway).run(stop), name="systemd")
        await gateway.run(stop)
        await heartbeat
        log.info("printgw stopped")
    return 0


def fleet_heartbeat(gateway: Gateway) -> Heartbeat:
    """systemd's `STATUS=` (the fleet as the status page counts it) and watchdog."""
    view = FleetView(gateway.store, gateway.config, gateway.runtime)

    def summary() -> FleetSummary:
        counts = view.state_counts()
        link = gateway.link
        cloud = ("none" if link is None
                 else "connected" if link.status.connected else "not connected")
        order = sorted((n for n in counts.items() if n[1]),
                       key=lambda n: STATES.index(n[0]) if n[0] in STATES else len(STATES))
        return FleetSummary(dict(order), cloud, gateway.outbox.depth())

    return Heartbeat(summary, gateway.polling.wake, gateway.polling.came_round)


def warn_if_secrets_exposed(config_path: Path | None) -> None:
    """Log a warning when the config file may be read by group or others and holds secrets
    written in it (the keys named, never the values; `gateway/settings/checks.py`)."""
    if config_path is None:
        return
    with contextlib.suppress(ConfigError):
        warning = exposed_secrets_warning(config_path, read_toml(config_path))
        if warning is not None:
            log.warning("%s", warning)


async def _once(gateway: Gateway) -> int:
    report = await gateway.run_once()
    print(f"printgw: {report.read}/{report.devices} devices read, {report.synced} "
          f"synchronised, {report.queued} statuses queued, {report.delivered} delivered, "
          f"{report.outbox_depth} in the outbox")
    link = gateway.link
    if link is not None and (not link.status.connected or report.outbox_depth):
        if report.outbox_depth:
            print(f"printgw: {report.outbox_depth} statuses stay in the outbox for the "
                  "next run (retried with back-off)", file=sys.stderr)
        if link.status.last_error:
            print(f"printgw: cloud: {link.status.last_error}", file=sys.stderr)
        return 1
    return 0
