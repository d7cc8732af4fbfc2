"""The fleet as the status page, `/api/status`, `/metrics` and `printgw status` show it.

One query layer over the store — the inventory, the cloud state, the outbox, the commands and the
tables of store migration 5 — plus, inside the daemon, what only the running process knows: the
cloud link's state, which devices did not answer their last poll, the last cycle.  `snapshot()` is
the `/api/status` document; the page renders it, `printgw status` prints it (`print_fleet`).

Migration 5's tables are written by `gateway.fleet.readings` (with each reading and each upload).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from gateway.fleet.inventory import Device, Inventory
from gateway.fleet.schedule import Outcome
from gateway.local.runtime import GatewayRuntime
from gateway.settings.schema import Config
from gateway.store import Store
from gateway.uplink.cloud_state import CloudState, RegistrationRefusal
from gateway.uplink.outbox import Outbox
from protocols.cloud.times import rfc3339
from protocols.version import VERSION

LOW_PERCENT = 10
"""A supply is low at or below the device's own low threshold, or this when it tells none."""

STATES = ("idle", "processing", "warmup", "stopped", "offline", "unknown", "asleep",
          "unreachable", "missing", "not-read")
"""A device's state on the page: the printer state of its last reading, or `asleep` (it answered
in power save: no outage), `unreachable` (its last reading got no answer), `missing` (discovery
lost it), `not-read` (no reading yet).  Asleep and unreachable are known to the daemon only."""

FAMILIES = ("cyan", "magenta", "yellow", "black", "other")
_FAMILY = {"black": "black", "photo-black": "black", "matte-black": "black", "cyan": "cyan",
           "light-cyan": "cyan", "magenta": "magenta", "light-magenta": "magenta",
           "yellow": "yellow"}


def colour_family(color: str | None) -> str:
    """The bar colour of a supply colour (`protocols.colors` names): one of `FAMILIES`."""
    return _FAMILY.get(color or "", "other")


def is_low(supply: Mapping[str, Any]) -> bool:
    level = supply.get("level_percent")
    threshold = supply.get("low_percent")
    return level is not None and level <= (LOW_PERCENT if threshold is None else threshold)


# -- writing ---------------------------------------------------------------------------------------

def iso(seconds: float | None) -> str | None:
    """Seconds since the epoch as RFC 3339 (UTC), None for None."""
    if seconds is None:
        return None
    return rfc3339(seconds, "seconds")


class FleetView:
    """The fleet from `store`; with `runtime` (inside the daemon) what the process knows too."""

    def __init__(self, store: Store, config: Config,
                 runtime: GatewayRuntime | None = None) -> None:
        self.store = store
        self._config = config
        self.runtime = runtime
        self.page_url: str | None = None
        """The status page serving this view, if any."""
        self.since: float | None = None
        """When that page started (with the daemon)."""
        self.inventory = Inventory(store)
        self.state = CloudState(store)
        self.outbox = Outbox(store)

    @property
    def config(self) -> Config:
        """The gateway's config in force (a reload replaces it)."""
        return self._config if self.runtime is None else self.runtime.config()

    @property
    def poll_errors(self) -> Mapping[int, str]:
        return {} if self.runtime is None else self.runtime.poll_errors()

    def _state(self, missing: bool, device_id: int, printer_state: str | None) -> str:
        if missing:
            return "missing"
        if device_id in self.poll_errors:
            return "unreachable"
        if self.runtime is not None and self.runtime.last_outcome(device_id) is Outcome.ASLEEP:
            return "asleep"
        return printer_state or "not-read"

    def _next_read(self, device_id: int) -> str | None:
        """When the daemon reads the device next (its schedule is on the monotonic clock)."""
        wait = None if self.runtime is None else self.runtime.next_reading_in(device_id)
        return None if wait is None else iso(time.time() + wait)

    # -- for /metrics: cheap, no JSON parsed ---------------------------------------------------

    def state_counts(self) -> dict[str, int]:
        """Devices by state (every state in `STATES`, zero included)."""
        counts = Counter(self.device_states().values())
        return {state: counts.get(state, 0) for state in {*STATES, *counts}}

    def device_states(self) -> dict[int, str]:
        """Each device's state (`STATES`), by its row id."""
        rows = self.store.conn.execute(
            "SELECT d.id, d.missing_since IS NOT NULL, r.printer_state FROM devices d "
            "LEFT JOIN device_readings r ON r.device_id = d.id").fetchall()
        return {device_id: self._state(bool(missing), device_id, printer_state)
                for device_id, missing, printer_state in rows}

    def command_counts(self) -> dict[tuple[str, str], int]:
        """Commands received, by (kind, result); `pending` while not completed."""
        rows = self.store.conn.execute(
            "SELECT kind, coalesce(result, 'pending'), COUNT(*) FROM commands GROUP BY 1, 2")
        return {(kind, result): count for kind, result, count in rows}

    def forecasts(self) -> list[tuple[int, str, float | None, int | None]]:
        """Every supply forecast of the newest readings: (device row, supply index, days to
        empty, pages remaining), the estimates None where there is none."""
        result = []
        for device_id, summary in self.store.conn.execute(
                "SELECT device_id, summary FROM device_readings ORDER BY device_id"):
            for f in json.loads(summary).get("forecasts") or ():
                result.append((device_id, f["index"], f["days_to_empty"], f["pages_remaining"]))
        return result

    # -- the document --------------------------------------------------------------------------

    def snapshot(self, now: float | None = None) -> dict[str, Any]:
        """The `/api/status` document (times as RFC 3339, UTC)."""
        now = time.time() if now is None else now
        devices = sorted(self.devices(self.inventory.devices()),
                         key=lambda d: (d["name"].casefold(), d["id"]))
        by_state = Counter(d["state"] for d in devices)
        outbox = self._outbox()
        return {
            "generated_at": iso(now),
            "gateway": {"name": self.config.gateway.name, "version": VERSION,
                        "gateway_id": self.state.get("gateway_id")},
            "daemon": self._daemon(),
            "cloud": self._cloud(),
            "outbox": outbox,
            "summary": {"devices": len(devices),
                        "by_state": {s: by_state[s] for s in STATES if by_state[s]},
                        "alerts": sum(len(d["alerts"]) for d in devices),
                        "low_supplies": sum(s["low"] for d in devices for s in d["supplies"])},
            "devices": devices,
            "errors": self._errors(devices, outbox["last_error"]),
        }

    def device(self, device_id: int) -> dict[str, Any] | None:
        """One device as in `snapshot()["devices"]`, None when there is no such device."""
        try:
            device = self.inventory.get(device_id)
        except KeyError:
            return None
        return self.devices([device])[0]

    def history(self, device_id: int) -> dict[str, list[tuple[float, int]]]:
        """Supply index → its level points (seconds since the epoch, percent), oldest first."""
        points: dict[str, list[tuple[float, int]]] = {}
        for index, read_at, level in self.store.conn.execute(
                "SELECT supply_index, read_at, level_percent FROM level_history "
                "WHERE device_id = ? ORDER BY read_at", (device_id,)):
            points.setdefault(index, []).append((read_at, level))
        return points

    def devices(self, devices: Iterable[Device]) -> list[dict[str, Any]]:
        conn = self.store.conn
        readings = {row["device_id"]: row for row in conn.execute(
            "SELECT device_id, summary, uploaded_at, uploaded_read_at FROM device_readings")}
        printers = dict(conn.execute("SELECT device_id, printer_id FROM cloud_printers"))
        services: dict[int, list[dict[str, Any]]] = {}
        for row in conn.execute("SELECT device_id, service_id, application_id, state, decision, "
                                "decision_reason, decision_detail "
                                "FROM applications ORDER BY device_id, service_id"):
            services.setdefault(row["device_id"], []).append({
                "service_id": row["service_id"], "application_id": row["application_id"],
                "activation_state": row["state"], "decision": row["decision"],
                "reason": row["decision_reason"], "reason_text": row["decision_detail"]})
        pending = {row[0]: row[1] for row in conn.execute(
            "SELECT device_id, COUNT(*) FROM outbox GROUP BY device_id")}
        refused = self.state.refusals()
        return [self._device(d, readings.get(d.id), printers.get(d.id), services.get(d.id, []),
                             pending.get(d.id, 0), refused.get(d.id)) for d in devices]

    def _device(self, device: Device, reading: sqlite3.Row | None, printer_id: str | None,
                services: list[dict[str, Any]], pending: int,
                refusal: RegistrationRefusal | None = None) -> dict[str, Any]:
        summary = json.loads(reading["summary"]) if reading is not None else None
        identity = summary["identity"] if summary else {}
        state = summary["state"] if summary else {}
        return {
            "id": device.id,
            "name": (device.hostname or identity.get("hostname") or device.model
                     or device.address or f"device {device.id}"),
            "manufacturer": device.manufacturer or identity.get("manufacturer"),
            "model": device.model or identity.get("model"),
            "serial": device.serial or identity.get("serial"),
            "address": device.address,
            "location": identity.get("location"),
            "printer_id": printer_id,
            "state": self._state(device.missing_since is not None, device.id,
                                 state.get("printer_state")),
            "reasons": state.get("reasons", []),
            "message": state.get("message"),
            "poll_error": self.poll_errors.get(device.id),
            "read_at": summary["read_at"] if summary else None,
            "next_read_at": self._next_read(device.id),
            "supplies": _supplies(summary or {}),
            "alerts": state.get("alerts", []),
            "contract": (summary or {}).get("contract") or {"supported": False},
            "services": services,
            "last_upload": None if reading is None or reading["uploaded_at"] is None else {
                "at": iso(reading["uploaded_at"]), "read_at": reading["uploaded_read_at"]},
            "pending_uploads": pending,
            "problems": (summary or {}).get("problems", []),
            "registration_refused": None if refusal is None else {
                "at": iso(refusal.refused_at), "status": refusal.status,
                "reason": refusal.reason},
        }

    def _daemon(self) -> dict[str, Any]:
        return {"running": self.runtime is not None, "status_page": self.page_url,
                "since": iso(self.since)}

    def _cloud(self) -> dict[str, Any]:
        url = self.config.cloud.url
        last_sync = self.state.get("last_sync")
        cloud: dict[str, Any] = {
            "configured": url is not None, "url": None if url is None else str(url),
            "last_sync": iso(float(last_sync)) if last_sync else None,
            "connected": None, "channel": None, "last_error": None, "errors": None}
        status = None if self.runtime is None else self.runtime.link_state()
        if status is not None:
            cloud.update(connected=status.connected, channel=status.channel,
                         last_error=status.last_error, errors=status.errors,
                         changes_handled=status.changes_handled,
                         activations_sent=status.activations_sent)
        return cloud

    def _outbox(self) -> dict[str, Any]:
        stats = self.outbox.stats()
        row = self.store.conn.execute(
            "SELECT last_error FROM outbox WHERE last_error IS NOT NULL "
            "ORDER BY next_attempt_at DESC LIMIT 1").fetchone()
        return {"depth": stats.depth, "oldest_queued_at": iso(stats.oldest_queued_at),
                "next_attempt_at": iso(stats.next_attempt_at), "delivered": stats.delivered,
                "rejected": stats.rejected, "dropped": stats.dropped,
                "last_error": None if row is None else row[0]}

    def _errors(self, devices: list[dict[str, Any]],
                outbox_error: str | None) -> list[dict[str, Any]]:
        """What needs a look: the link's last error while it is down, devices that cannot be
        registered or did not answer, the outbox's last delivery error and the cloud's last
        rejection."""
        errors: list[dict[str, Any]] = []
        link = None if self.runtime is None else self.runtime.link_state()
        if link is not None and link.last_error and not link.connected:
            errors.append({"source": "cloud", "device_id": None, "message": link.last_error})
        skipped = {} if link is None else dict(link.skipped)
        for d in devices:  # kept in the store: shown without the daemon, and after a restart
            if d["registration_refused"] and d["id"] not in skipped:
                skipped[d["id"]] = d["registration_refused"]["reason"]
        errors += [{"source": "registration", "device_id": device_id, "message": why}
                   for device_id, why in sorted(skipped.items())]
        errors += [{"source": "poll", "device_id": d["id"], "message": d["poll_error"]}
                   for d in devices if d["poll_error"]]
        if outbox_error:
            errors.append({"source": "outbox", "device_id": None, "message": outbox_error})
        rejected = self.store.conn.execute(
            "SELECT printer_id, code, detail FROM outbox_rejected ORDER BY rejected_at DESC "
            "LIMIT 1").fetchone()
        if rejected is not None:
            errors.append({"source": "rejected", "device_id": self.state.device_for_printer(
                rejected["printer_id"]), "message": f"{rejected['code']}: {rejected['detail']}"})
        return errors


def _supplies(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The reading's supplies, each with its bar colour, whether it is low, and its forecast
    (`SupplyForecast.to_json()`, None from a reading stored before forecasts)."""
    forecasts = {f["index"]: f for f in summary.get("forecasts") or ()}
    return [{**supply, "family": colour_family(supply["color"]), "low": is_low(supply),
             "forecast": forecasts.get(supply["index"])} for supply in summary.get("supplies", [])]


# -- words for people ------------------------------------------------------------------------------

def relative(value: str | None, now: datetime) -> str:
    """An RFC 3339 time as seen from `now`: `3 min ago`, `in 5 s`, or `never` for None."""
    if value is None:
        return "never"
    seconds = (now - datetime.fromisoformat(value)).total_seconds()
    span = next((f"{abs(seconds) / size:.0f} {unit}" for unit, size in
                 (("d", 86400), ("h", 3600), ("min", 60)) if abs(seconds) >= size),
                f"{abs(seconds):.0f} s")
    return f"in {span}" if seconds < -0.5 else f"{span} ago"


def link_text(cloud: Mapping[str, Any]) -> str:
    """The cloud link in a few words, e.g. `connected (push)`."""
    if not cloud["configured"]:
        return "not configured"
    if cloud["connected"] is None:
        return "unknown (the daemon is not running)"
    return f"connected ({cloud['channel']})" if cloud["connected"] else "not connected"
