"""The operator's enable overrides: what `set-service-enabled` commands set, per device and service.

IT's `[services]` in the config file is the upper bound: the cloud's operator may disable a
service the config enables on a device, never enable one the config disables.  An override is
`False` (disabled by the operator), `True` (enabled as far as the config allows: the same as no
override) or absent (`None`: the config's setting).  FIG. 10 reads the effective setting through
`effective_enabled`.  The overrides live in the gateway's database (table `enable_overrides`), so
they survive restarts; a config reload does not touch them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.store import Store

NOT_PERMITTED_BY_CONFIG = "not-permitted-by-config"
"""Why an override `True` on a service the config disables is refused."""


def effective_enabled(config_enabled: bool, override: bool | None) -> bool:
    """The enable setting FIG. 10 decides with: the config's, unless the operator disabled it."""
    return config_enabled and override is not False


class EnableOverrides:
    """The overrides in the gateway's store, keyed by the gateway's device ID and the service ID."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def get(self, device_id: str, service_id: str) -> bool | None:
        row = self.store.conn.execute(
            "SELECT enabled FROM enable_overrides WHERE device_id = ? AND service_id = ?",
            (str(device_id), service_id)).fetchone()
        return None if row is None else bool(row["enabled"])

    def set(self, device_id: str, service_id: str, enabled: bool | None) -> None:
        """Keep the override (`None` removes it: back to the config's setting)."""
        with self.store.transaction() as db:
            if enabled is None:
                db.execute("DELETE FROM enable_overrides WHERE device_id = ? AND service_id = ?",
                           (str(device_id), service_id))
                return
            db.execute("INSERT INTO enable_overrides (device_id, service_id, enabled, set_at) "
                       "VALUES (?, ?, ?, ?) ON CONFLICT (device_id, service_id) DO UPDATE SET "
                       "enabled = excluded.enabled, set_at = excluded.set_at",
                       (str(device_id), service_id, int(enabled), self.clock()))

    def of_device(self, device_id: str) -> dict[str, bool]:
        """The device's overrides, by service ID."""
        rows = self.store.conn.execute(
            "SELECT service_id, enabled FROM enable_overrides WHERE device_id = ?",
            (str(device_id),))
        return {row["service_id"]: bool(row["enabled"]) for row in rows}
