"""Reloading (SIGHUP): the config file is read and validated again; a valid one is put in force
at once (`LiveConfig.swap`: polling, SNMP and IPP settings, discovery, events, services, the cloud
settings that need no new connection, logging), the settings that need a restart are kept as
they were and named in the log; an invalid one is refused, its mistakes logged as `check-config`
names them, and the gateway runs on as it was.  Nothing queued is touched."""

from __future__ import annotations

import logging
from pathlib import Path

from gateway.settings.live import LiveConfig
from gateway.settings.loading import ConfigError, changed_keys, load_config
from gateway.settings.schema import Config

log = logging.getLogger(__name__)

RESTART_NEEDED = ("gateway.data_dir", "gateway.region", "cloud.url", "cloud.verify_tls",
                  "cloud.ca_file", "cloud.proxy", "cloud.timeout", "contract.enabled",
                  "status_page", "metrics")
"""Settings a reload cannot apply: the store, the cloud connection, the relay, the status page and
the metrics listener are set up with them at the start."""


def reload(live: LiveConfig, path: Path) -> Config | None:
    """Read `path` again and put it in force; the config now in force, or None when the file is
    refused (its mistakes logged; the gateway goes on as it was)."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        log.error("reload refused: %s has %d problem(s); still running on the previous "
                  "config", path, len(exc.problems), extra={"problems": exc.problems})
        for problem in exc.problems:
            log.error("reload refused: %s: %s", path, problem)
        return None
    return apply(live, config)


def apply(live: LiveConfig, new: Config) -> Config:
    """Put a valid config in force but for the settings that need a restart; returns the config
    in force."""
    old = live()
    changed = changed_keys(old, new)
    if not changed:
        log.info("reload: nothing changed")
        return old
    restart = [key for key in changed if _needs_restart(key)]
    applied = [key for key in changed if key not in restart]
    config = _keep(new, old, restart)
    live.swap(config, applied)
    log.info("reload: applied %s%s", ", ".join(applied) or "nothing",
             f"; needs a restart (kept as before until then): {', '.join(restart)}"
             if restart else "", extra={"changed": applied, "restart_needed": restart})
    return config


def _needs_restart(key: str) -> bool:
    return any(key == prefix or key.startswith(f"{prefix}.") for prefix in RESTART_NEEDED)


def _keep(new: Config, old: Config, keys: list[str]) -> Config:
    """`new` with the values of `keys` (`section` or `section.key`) taken from `old`."""
    for key in keys:
        section, _, name = key.partition(".")
        value = getattr(old, section) if not name else getattr(new, section).model_copy(
            update={name: getattr(getattr(old, section), name)})
        new = new.model_copy(update={section: value})
    return new
