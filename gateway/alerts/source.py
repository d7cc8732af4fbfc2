"""From readings to queued alerts, for every device the gateway reads, registered with a cloud or
not: the events `gateway.uplink.events.detect` finds against the device's last reading as the
alerts saw it (their own baseline, migration 12), plus `device-unreachable` / `device-back`.

Each alert is de-duplicated (the same kind and key for the same device within `[alerts]
dedup_window` is not sent again), routed to the outputs that take it, and queued for each of
them in the same transaction that moves the baseline on: a crash neither loses an alert nor makes
it twice.  Nothing is kept while no output is configured.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from gateway.alerts.model import Alert, at_least
from gateway.alerts.queue import AlertQueue
from gateway.device.model import DeviceStatus, Supply
from gateway.fleet.inventory import Device
from gateway.settings.alerts import AlertOutput, Severity
from gateway.settings.schema import Config
from gateway.settings.sites import site_for
from gateway.store import Store
from gateway.uplink.events import StatusEvent, baseline, detect

log = logging.getLogger(__name__)

_STATE_SEVERITY: dict[str, Severity] = {"stopped": "critical", "offline": "warning"}


class AlertSource:
    def __init__(self, config: Callable[[], Config], store: Store, wake: Callable[[], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.wake = wake
        self.clock = clock

    def reading(self, device: Device, status: DeviceStatus) -> None:
        """A reading of `device`, committed: queue the alerts it causes.  Never raises (an alert
        problem must not stop polling); logged instead."""
        config = self.config()
        if not config.alerts.outputs():
            return
        try:
            queued = self._reading(config, device, status)
        except Exception:
            log.exception("alerts: device %s: the reading's alerts could not be queued",
                          device.id)
            return
        if queued:
            self.wake()

    def unreachable(self, device: Device) -> None:
        """A reading of `device` got no answer."""
        config = self.config()
        if not config.alerts.outputs():
            return
        try:
            queued = self._unreachable(config, device)
        except Exception:
            log.exception("alerts: device %s: could not record that it does not answer",
                          device.id)
            return
        if queued:
            self.wake()

    def _reading(self, config: Config, device: Device, status: DeviceStatus) -> int:
        now = self.clock()
        with self.store.transaction() as db:
            row = db.execute("SELECT baseline, unreachable_alerted FROM alert_devices WHERE "
                             "device_id = ?", (device.id,)).fetchone()
            previous = None if row is None or row["baseline"] is None else \
                DeviceStatus.from_json(json.loads(row["baseline"]))
            alerts = [self._alert(config, device, status, previous, event, now)
                      for event in detect(previous, status, config.events)]
            if row is not None and row["unreachable_alerted"]:
                alerts.append(self._plain(config, device, "device-back", "info",
                                          "answers again", now))
            queued = self._accept(db, config, device, alerts, now)
            db.execute("INSERT INTO alert_devices (device_id, baseline) VALUES (?, ?) "
                       "ON CONFLICT (device_id) DO UPDATE SET baseline = excluded.baseline, "
                       "unreachable_since = NULL, unreachable_alerted = 0",
                       (device.id, json.dumps(baseline(previous, status).to_json())))
        return queued

    def _unreachable(self, config: Config, device: Device) -> int:
        now = self.clock()
        with self.store.transaction() as db:
            db.execute("INSERT INTO alert_devices (device_id, unreachable_since) VALUES (?, ?) "
                       "ON CONFLICT (device_id) DO UPDATE SET unreachable_since = "
                       "COALESCE(unreachable_since, excluded.unreachable_since)",
                       (device.id, now))
            since, alerted = db.execute(
                "SELECT unreachable_since, unreachable_alerted FROM alert_devices WHERE "
                "device_id = ?", (device.id,)).fetchone()
            after = config.alerts.unreachable_after or 0.0
            if alerted or now - since < after:
                return 0
            db.execute("UPDATE alert_devices SET unreachable_alerted = 1 WHERE device_id = ?",
                       (device.id,))
            alert = self._plain(config, device, "device-unreachable", "critical",
                                "does not answer", now)
            return self._accept(db, config, device, [alert], now)

    def _accept(self, db: sqlite3.Connection, config: Config, device: Device,
                alerts: list[Alert], now: float) -> int:
        """Queue each alert not sent within the window for every output that takes it."""
        window = config.alerts.dedup_window
        queued = 0
        for alert in alerts:
            last = db.execute("SELECT at FROM alert_sent WHERE device_id = ? AND kind = ? AND "
                              "key = ?", (device.id, alert.kind, alert.dedup_key)).fetchone()
            if last is not None and now - last["at"] < window:
                log.debug("alerts: device %s: %s again within the window, not sent", device.id,
                          alert.kind)
                continue
            outputs = [o for o in config.alerts.outputs() if takes(o, alert, device)]
            for output in outputs:
                AlertQueue.put(db, str(output.name), alert, now)
            if outputs:
                db.execute("INSERT OR REPLACE INTO alert_sent (device_id, kind, key, at) "
                           "VALUES (?, ?, ?, ?)", (device.id, alert.kind, alert.dedup_key, now))
                log.info("alerts: device %s: %s (%s) queued for %s", device.id, alert.kind,
                         alert.severity, ", ".join(str(o.name) for o in outputs),
                         extra={"device_id": device.id, "alert": alert.kind})
                queued += len(outputs)
        return queued

    def _plain(self, config: Config, device: Device, kind: str, severity: Severity, text: str,
               now: float) -> Alert:
        site = site_for(config.gateway.sites, config.gateway.time_zone,
                        config.gateway.shipping_destination,
                        [*device.addresses, device.hostname or ""])
        return Alert(alert_id=str(uuid.uuid4()), kind=kind, severity=severity,
                     device_id=device.id, serial=device.serial, model=device.model,
                     address=device.address, time_zone=site.time_zone, occurred_at=now,
                     text=text)

    def _alert(self, config: Config, device: Device, status: DeviceStatus,
               previous: DeviceStatus | None, event: StatusEvent, now: float) -> Alert:
        detail = event.detail
        plain = self._plain(config, device, event.kind, "info", event.kind, now)
        plain = replace(plain, serial=status.identity.serial or device.serial,
                        model=status.identity.model or device.model)
        if detail.supply_index is not None:
            return _supply_alert(plain, event, status, previous)
        if detail.alert_index is not None:
            return _device_alert(plain, event, status, previous)
        if event.kind == "state-changed":
            now_state = status.state.printer_state
            return replace(plain, severity=_STATE_SEVERITY.get(now_state, "info"),
                           printer_state=now_state, previous_state=detail.previous_state,
                           text=f"printer {now_state} (was {detail.previous_state})")
        if event.kind == "contract-mode-changed":
            return replace(plain, text=f"contract mode {status.contract.mode} (was "
                                       f"{detail.previous_mode})")
        return plain


def takes(output: AlertOutput, alert: Alert, device: Device) -> bool:
    """Whether `output` wants `alert` (its events, severity, networks and serials)."""
    if output.events and alert.kind not in output.events:
        return False
    if not at_least(alert.severity, output.severity):
        return False
    if not output.networks and not output.serials:
        return True
    if alert.serial is not None and alert.serial in output.serials:
        return True
    for address in device.addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue
        if any(ip in network for network in output.networks):
            return True
    return False


def _supply_alert(plain: Alert, event: StatusEvent, status: DeviceStatus,
                  previous: DeviceStatus | None) -> Alert:
    index = event.detail.supply_index
    supply = _supply(status, index) or (_supply(previous, index) if previous else None)
    name = _supply_name(supply, index)
    level = supply.level_percent if supply is not None else None
    filled = supply is not None and supply.supply_class == "filled"
    threshold = event.detail.threshold_percent
    if event.kind == "threshold-crossed":
        severity: Severity = "warning"
        text = (f"{name} {100 - (level or 0)} % full" if filled else
                f"{name} at {level} % (threshold {threshold} %)")
    elif event.kind == "supply-empty":
        severity, text = "critical", f"{name} {'full' if filled else 'empty'}"
    elif event.kind == "supply-replaced":
        severity, text = "info", f"{name} replaced (now {level} %)"
    else:
        severity, text = "info", f"{name}: {event.kind.replace('-', ' ')}"
    return replace(plain, severity=severity, text=text, supply_index=index, supply=name,
                   level_percent=level, threshold_percent=threshold)


def _device_alert(plain: Alert, event: StatusEvent, status: DeviceStatus,
                  previous: DeviceStatus | None) -> Alert:
    index = event.detail.alert_index
    source = status if event.kind == "alert-raised" else previous
    found = next((a for a in (source.state.alerts if source else []) if a.index == index), None)
    what = (found.description or found.code or "alert") if found else "alert"
    if event.kind == "alert-raised":
        severity: Severity = "critical" if found and found.severity and \
            "critical" in found.severity.lower() else "warning"
        text = f"alert: {what}"
    else:
        severity, text = "info", f"alert cleared: {what}"
    return replace(plain, severity=severity, text=text, alert_index=index,
                   alert_code=found.code if found else None)


def _supply(status: DeviceStatus, index: str | None) -> Supply | None:
    return next((s for s in status.supplies if s.index == index), None)


def _supply_name(supply: Supply | None, index: str | None) -> str:
    if supply is None:
        return f"supply {index}"
    if supply.description:
        return supply.description
    return " ".join(p for p in (supply.color, supply.kind) if p) or f"supply {index}"

