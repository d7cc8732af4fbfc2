"""Per-printer metrics, read from the store at each scrape (`DeviceCollector`): what
snmp_exporter's printer module gives, for every device the gateway knows, from the newest reading
the gateway already took (a scrape reads no printer).

Labels follow Prometheus practice: the series of a device carry only `device` (its row id, as in
`/devices/{id}`), and a supply's only `device` and `supply` (its index); the descriptive labels
live once in the info metrics, joined where a query needs them:

    printgw_supply_level_percent
      * on (device, supply) group_left (description, color) printgw_supply_info
      * on (device) group_left (serial, model) printgw_device_info

so a serial number or a description read differently does not break the level's series.  One
metric per page counter (the counters overlap: total, colour and mono are no sum of each other,
so a `counter` label would make `sum()` meaningless).  States (the printer state, a supply's
level state, the contract mode) are one series with value 1 for the current state: `sum by
(state)` counts devices, and a device has one series rather than one per possible state.

Cost: two queries over `devices`/`device_readings` and one JSON document parsed per device
(measured in docs/metrics.md); nothing is kept between scrapes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gateway.local.fleet_query import site_name
from gateway.local.live_view import FleetView, is_low

COUNTERS: dict[str, tuple[str, str]] = {
    "total": ("printgw_device_pages", "Impressions the device counts in all (its total meter)"),
    "color": ("printgw_device_color_pages", "Full-colour impressions"),
    "mono": ("printgw_device_mono_pages", "Black-and-white impressions"),
    "two_color": ("printgw_device_two_color_pages",
                  "Two-colour (and single-colour other than black) impressions"),
    "print": ("printgw_device_print_pages", "Impressions of print jobs"),
    "copy": ("printgw_device_copy_pages", "Impressions of copy jobs"),
    "fax": ("printgw_device_fax_pages", "Impressions of received faxes printed"),
    "scan": ("printgw_device_scan_pages", "Pages scanned"),
    "large": ("printgw_device_large_pages", "Impressions on large media (A3/ledger class)"),
    "small": ("printgw_device_small_pages", "Impressions on small media (A4/letter and below)"),
    "duplex": ("printgw_device_duplex_sheets", "Sheets printed on both sides"),
    "contract": ("printgw_device_contract_pages", "Impressions counted by the contract MIB"),
    "cartridge_replacements": ("printgw_device_cartridge_replacements",
                               "Cartridges replaced, as the contract MIB counts them"),
}
"""`Counters` field → (counter name without `_total`, help): every field has its metric
(tests/local/test_metrics_devices.py checks it)."""

SEVERITIES = ("critical", "warning", "other")
"""Alert severities as counted: the Printer-MIB's `warningBinaryChangeEvent` is a warning;
an alert without a severity, or any other, is `other`."""
DOWN_STATES = frozenset({"unreachable", "missing", "not-read"})
"""A device in one of these `live_view.STATES` is not up."""


@dataclass(frozen=True)
class DeviceRow:
    """One device as the metrics see it: its inventory row and its newest reading's summary
    (`gateway.fleet.readings.summary_json`; {} before the first reading)."""

    id: int
    serial: str
    manufacturer: str
    model: str
    hostname: str
    address: str
    read_at: float | None
    uploaded_at: float | None
    summary: Mapping[str, Any]


def device_rows(view: FleetView) -> list[DeviceRow]:
    """Every device of the store, with its current address (IPv4 first, the newest first)."""
    rows = view.store.conn.cursor()
    rows.row_factory = None  # plain tuples: thousands of rows
    result = []
    for (device_id, serial, manufacturer, model, hostname, address, read_at, uploaded_at,
         summary) in rows.execute(
            "SELECT d.id, d.serial, d.manufacturer, d.model, d.hostname, "
            "(SELECT a.address FROM device_addresses a WHERE a.device_id = d.id AND a.current = 1 "
            " ORDER BY instr(a.address, ':') > 0, a.last_seen DESC LIMIT 1), "
            "r.read_at, r.uploaded_at, r.summary "
            "FROM devices d LEFT JOIN device_readings r ON r.device_id = d.id ORDER BY d.id"):
        document = json.loads(summary) if summary else {}
        identity = document.get("identity") or {}
        result.append(DeviceRow(
            id=device_id, serial=serial or identity.get("serial") or "",
            manufacturer=manufacturer or identity.get("manufacturer") or "",
            model=model or identity.get("model") or "",
            hostname=hostname or identity.get("hostname") or "", address=address or "",
            read_at=read_at, uploaded_at=uploaded_at, summary=document))
    return result


def severity(value: str | None) -> str:
    if value in ("critical", "warning"):
        return value
    return "warning" if value == "warningBinaryChangeEvent" else "other"


class _Families:
    """The metric families of one scrape, filled device by device."""

    def __init__(self) -> None:
        device, supply = ["device"], ["device", "supply"]
        self.info = InfoMetricFamily(
            "printgw_device", "A device's identity (value 1), to join by `device`",
            labels=["device", "serial", "manufacturer", "model", "address", "site"])
        self.up = GaugeMetricFamily(
            "printgw_device_up", "1 when the device answered its last reading", labels=device)
        self.state = GaugeMetricFamily(
            "printgw_device_state", "The device's state (value 1): the printer state of its "
            "newest reading, or asleep, unreachable, missing, not-read", labels=["device", "state"])
        self.protocol_up = GaugeMetricFamily(
            "printgw_device_protocol_up", "Whether each protocol answered the newest reading",
            labels=["device", "protocol"])
        self.read_at = GaugeMetricFamily(
            "printgw_device_last_read_timestamp_seconds",
            "When the newest reading was taken (seconds since the epoch)", labels=device)
        self.uploaded_at = GaugeMetricFamily(
            "printgw_device_last_upload_timestamp_seconds",
            "When the cloud last took a status of the device (seconds since the epoch)",
            labels=device)
        self.alerts = GaugeMetricFamily(
            "printgw_device_alerts", "Alerts the device shows, by severity",
            labels=["device", "severity"])
        self.contract = GaugeMetricFamily(
            "printgw_device_contract_mode", "The contract mode (value 1) of a device with the "
            "contract function", labels=["device", "mode"])
        self.prohibited = GaugeMetricFamily(
            "printgw_device_printing_prohibited",
            "1 while the contract MIB prohibits printing", labels=device)
        self.counters = {name: CounterMetricFamily(metric, text, labels=device)
                         for name, (metric, text) in COUNTERS.items()}
        self.supply_info = InfoMetricFamily(
            "printgw_supply", "A supply's description (value 1), to join by `device, supply`",
            labels=["device", "supply", "kind", "color", "description"])
        self.level = GaugeMetricFamily(
            "printgw_supply_level_percent", "A supply's level (a receptacle's: room left)",
            labels=supply)
        self.level_state = GaugeMetricFamily(
            "printgw_supply_level_state", "How the level is known (value 1): known, "
            "some-remaining, unknown, unrestricted, unavailable",
            labels=["device", "supply", "state"])
        self.low = GaugeMetricFamily(
            "printgw_supply_low", "1 when the level is at or below the supply's low threshold "
            "(the device's own, else 10 %)", labels=supply)

    def all(self) -> Iterator[Metric]:
        yield from (self.info, self.up, self.state, self.protocol_up, self.read_at,
                    self.uploaded_at, self.alerts, self.contract, self.prohibited)
        yield from self.counters.values()
        yield from (self.supply_info, self.level, self.level_state, self.low)

    def add(self, row: DeviceRow, state: str, site: str) -> None:
        device = str(row.id)
        self.info.add_metric([device, row.serial, row.manufacturer, row.model, row.address,
                              site], {})
        self.up.add_metric([device], 0 if state in DOWN_STATES else 1)
        self.state.add_metric([device, state], 1)
        if row.read_at is not None:
            self.read_at.add_metric([device], row.read_at)
        if row.uploaded_at is not None:
            self.uploaded_at.add_metric([device], row.uploaded_at)
        if row.summary:
            self._reading(device, row.summary)

    def _reading(self, device: str, summary: Mapping[str, Any]) -> None:
        for protocol, answered in sorted((summary.get("reachable") or {}).items()):
            self.protocol_up.add_metric([device, protocol], int(bool(answered)))
        counts = dict.fromkeys(SEVERITIES, 0)
        for alert in (summary.get("state") or {}).get("alerts") or ():
            counts[severity(alert.get("severity"))] += 1
        for name, count in counts.items():
            self.alerts.add_metric([device, name], count)
        contract = summary.get("contract") or {}
        if contract.get("supported"):
            if contract.get("mode"):
                self.contract.add_metric([device, contract["mode"]], 1)
            if contract.get("printing_prohibited") is not None:
                self.prohibited.add_metric([device], int(contract["printing_prohibited"]))
        for name, value in (summary.get("counters") or {}).items():
            if name in self.counters and isinstance(value, int):
                self.counters[name].add_metric([device], value)
        for supply in summary.get("supplies") or ():
            self._supply(device, supply)

    def _supply(self, device: str, supply: Mapping[str, Any]) -> None:
        labels = [device, supply["index"]]
        self.supply_info.add_metric(labels, {
            "kind": supply.get("kind") or "", "color": supply.get("color") or "",
            "description": supply.get("description") or ""})
        self.level_state.add_metric([*labels, supply.get("level_state") or "unknown"], 1)
        if supply.get("level_percent") is not None:
            self.level.add_metric(labels, supply["level_percent"])
            self.low.add_metric(labels, int(is_low(supply)))


class DeviceCollector(Collector):
    """The per-device and per-supply metrics, read through a `FleetView` at each scrape."""

    def __init__(self, view: FleetView) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        states = self.view.device_states()
        rules = self.view.config.gateway.sites
        families = _Families()
        for row in device_rows(self.view):
            site = site_name(rules, {"address": row.address, "name": row.hostname})
            families.add(row, states.get(row.id, "not-read"), site)
        yield from families.all()
