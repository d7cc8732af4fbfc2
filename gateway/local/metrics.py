"""The gateway's Prometheus metrics, in a registry of its own per `Gateway` (served at `/metrics`).

Counted in this process as things happen (reset at a restart, as Prometheus counters may be):

- `printgw_poll_duration_seconds{result}` histogram: one reading by the poller, `answered` or
  `unreachable` (time waiting for the concurrency limit excluded; a discovery run's reading of
  a device counts as its poll but is not timed here);
- `printgw_poll_errors_total{reason}`: readings that got nothing (`unreachable`, `no-address`);
- `printgw_uploads_total{result}`: status entries the outbox sender settled or failed to deliver
  (`accepted`, `duplicate`, `rejected`, `failed`).

Read from the store at each scrape (`FleetCollector`: what the store knows stays right across
restarts and needs no bookkeeping):

- `printgw_devices{state}`: devices by state (`live_view.STATES`);
- `printgw_outbox_depth`, `printgw_outbox_oldest_age_seconds`, `printgw_outbox_dropped_total`;
- `printgw_commands{kind,result}`: contract-mode commands received, by kind and outcome (`done`,
  `refused`, `failed`, or `pending` while not completed — a gauge: a command moves on);
- `printgw_cloud_connected`: 1 while the cloud link is connected (only with a cloud configured);
- `printgw_supply_days_to_empty{device,supply}`, `printgw_supply_pages_remaining{device,supply}`:
  each supply's forecast at the device's newest reading (`device` the device's row id as in
  `/devices/{id}`, `supply` its index); a supply without a forecast (not enough history) or
  without a page counter has no series;
- every printer's and supply's own metrics (`gateway/local/device_metrics.py`).

And `printgw_build_info{version,python}`, the process (`process_*`) and Python (`python_info`,
`python_gc_*`) metrics of prometheus_client's own collectors.  docs/metrics.md lists them all.
"""

from __future__ import annotations

import asyncio
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from gateway.local.device_metrics import DeviceCollector
from gateway.local.live_view import FleetView
from gateway.uplink.sender import FlushReport
from protocols.version import VERSION

POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UPLOAD_RESULTS = ("accepted", "duplicate", "rejected", "failed")
POLL_ERRORS = ("unreachable", "no-address")


class GatewayMetrics:
    """The registry: the metrics counted as things happen, those of the process, and (once
    `read_store` is called) those read from the store at each scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._reads_store = False
        Info("printgw_build", "The running printgw (value 1)", registry=self.registry).info(
            {"version": VERSION, "python": platform.python_version()})
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.poll_duration = Histogram(
            "printgw_poll_duration_seconds", "Time to read one device", ["result"],
            buckets=POLL_BUCKETS, registry=self.registry)
        self.poll_errors = Counter(
            "printgw_poll_errors", "Device readings that got no answer", ["reason"],
            registry=self.registry)
        self.uploads = Counter(
            "printgw_uploads", "Status entries the cloud settled or that failed to upload",
            ["result"], registry=self.registry)
        for result in ("answered", "unreachable"):  # every series present from the start
            self.poll_duration.labels(result)
        for reason in POLL_ERRORS:
            self.poll_errors.labels(reason)
        for result in UPLOAD_RESULTS:
            self.uploads.labels(result)

    def polled(self, seconds: float, answered: bool) -> None:
        self.poll_duration.labels("answered" if answered else "unreachable").observe(seconds)
        if not answered:
            self.poll_errors.labels("unreachable").inc()

    def no_address(self) -> None:
        self.poll_errors.labels("no-address").inc()

    def read_store(self, view: FleetView) -> None:
        """Serve the fleet's and every device's metrics from `view` at each scrape (the first
        view given stays: the status page and the metrics listener share the registry)."""
        if not self._reads_store:
            self._reads_store = True
            self.registry.register(FleetCollector(view))
            self.registry.register(DeviceCollector(view))

    def flushed(self, report: FlushReport) -> None:
        """Count one `OutboxSender.flush`'s results."""
        for result in UPLOAD_RESULTS:
            count = getattr(report, result)
            if count:
                self.uploads.labels(result).inc(count)


@dataclass(frozen=True)
class Collected:
    """Metric families collected already: a registry to format without touching the store."""

    families: list[Metric]

    def collect(self) -> list[Metric]:
        return self.families


async def exposition(registry: CollectorRegistry, accept: str = "") -> tuple[bytes, str]:
    """`/metrics`: the registry in the format an `Accept` header asks for (the text format, or
    OpenMetrics), and its content type.  Collected on the event loop (the store's connection is
    the loop's), formatted in a worker thread: with a thousand devices the text alone takes
    tenths of a second that polling would otherwise wait (docs/metrics.md)."""
    encoder, content_type = choose_encoder(accept)
    collected = Collected(list(registry.collect()))
    return await asyncio.to_thread(encoder, collected), content_type


class FleetCollector(Collector):
    """The metrics read from the store at each scrape, through a `FleetView`."""

    def __init__(self, view: FleetView) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        devices = GaugeMetricFamily("printgw_devices", "Devices by state", labels=["state"])
        for state, count in sorted(self.view.state_counts().items()):
            devices.add_metric([state], count)
        yield devices
        stats = self.view.outbox.stats()
        yield GaugeMetricFamily("printgw_outbox_depth", "Status entries waiting for the cloud",
                                value=stats.depth)
        age = 0.0 if stats.oldest_queued_at is None else time.time() - stats.oldest_queued_at
        yield GaugeMetricFamily("printgw_outbox_oldest_age_seconds",
                                "Age of the oldest entry in the outbox (0 when empty)",
                                value=max(0.0, age))
        yield CounterMetricFamily("printgw_outbox_dropped",
                                  "Entries dropped because the outbox was full",
                                  value=stats.dropped)
        commands = GaugeMetricFamily("printgw_commands",
                                     "Contract-mode commands received, by kind and result",
                                     labels=["kind", "result"])
        for (kind, result), count in sorted(self.view.command_counts().items()):
            commands.add_metric([kind, result], count)
        yield commands
        yield from self._forecasts()
        link = None if self.view.runtime is None else self.view.runtime.link_state()
        if link is not None:
            yield GaugeMetricFamily("printgw_cloud_connected", "1 while the cloud link is up",
                                    value=int(link.connected))

    def _forecasts(self) -> Iterator[Metric]:
        days = GaugeMetricFamily("printgw_supply_days_to_empty",
                                 "Days until the supply runs out (a receptacle: is full), forecast",
                                 labels=["device", "supply"])
        pages = GaugeMetricFamily("printgw_supply_pages_remaining",
                                  "Pages the supply has left, forecast",
                                  labels=["device", "supply"])
        for device_id, index, days_left, pages_left in self.view.forecasts():
            if days_left is not None:
                days.add_metric([str(device_id), index], days_left)
            if pages_left is not None:
                pages.add_metric([str(device_id), index], pages_left)
        yield days
        yield pages
