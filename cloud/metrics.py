"""The reference cloud's Prometheus metrics: every metric object lives here.

Other modules never touch prometheus_client: they call the small functions below (one line at
the place where the thing happens).  `cloud/health.py` serves them at `/metrics`, together with
the figures read from the database at each scrape (`scrape_families`).

One process (`printgw-cloud serve` without `--workers`): the values live in this process's own
registry.  Several workers: the supervising parent wraps the workers' lives in
`shared_metrics_dir()`, whose environment (`PROMETHEUS_MULTIPROC_DIR`, a fresh private
directory) every worker gets at spawn.  prometheus_client reads that variable when it is first
imported, so each worker then writes its values to files there, and the worker answering a
scrape adds up the files of all of them (`MultiProcessCollector`): a counter counts the requests
of every worker whichever worker is asked.  The parent calls `worker_exited(pid)` when a worker
ends, so that the gauges of live things (push connections, waiting long polls: `livesum`) stop
counting the dead worker's; its counters stay (a counter never goes back).

docs/cloud-scale-out.md ("Health and metrics") lists the metrics.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UNMATCHED_ROUTE = "(unmatched)"

# The directory of the workers' files while `shared_metrics_dir` is open (in the parent).
_shared_dir: Path | None = None

# In a worker (the variable set at spawn) the values go to the shared files and this registry
# stays empty; one process keeps them here.
_MULTIPROCESS = MULTIPROC_ENV in os.environ
_REGISTRY = CollectorRegistry()
_OWN = None if _MULTIPROCESS else _REGISTRY

_requests = Counter(
    "printgw_cloud_requests", "HTTP requests answered, by route template, method and status class",
    ["route", "method", "status"], registry=_OWN)
_request_seconds = Histogram(
    "printgw_cloud_request_duration_seconds",
    "Time to answer an HTTP request (until the handler returned; a push channel's whole life)",
    ["route", "method"], buckets=LATENCY_BUCKETS, registry=_OWN)
_statuses = Counter(
    "printgw_cloud_statuses_ingested",
    "Status entries uploaded by gateways: accepted (stored), duplicate (stored before), rejected",
    ["result"], registry=_OWN)
for _result in ("accepted", "duplicate", "rejected"):  # present at 0 before the first upload
    _statuses.labels(_result)
_push_connections = Gauge(
    "printgw_cloud_push_connections", "Open change push channels (WebSocket) of gateways",
    registry=_OWN, multiprocess_mode="livesum")
_long_polls = Gauge(
    "printgw_cloud_long_polls_waiting", "Change long polls waiting for a change",
    registry=_OWN, multiprocess_mode="livesum")
_webhook_attempts = Counter(
    "printgw_cloud_webhook_attempts", "Webhook delivery attempts, by outbox table",
    ["outbox"], registry=_OWN)
_webhook_failures = Counter(
    "printgw_cloud_webhook_failures",
    "Webhook delivery attempts that failed (no answer, or not 2xx), by outbox table",
    ["outbox"], registry=_OWN)


@contextmanager
def shared_metrics_dir() -> Iterator[dict[str, str]]:
    """For a supervising parent: the environment to give every worker it spawns, so that their
    metrics add up (a fresh private directory, removed with everything in it at exit)."""
    global _shared_dir
    path = Path(tempfile.mkdtemp(prefix="printgw-cloud-metrics-"))  # mode 0700
    _shared_dir = path
    try:
        yield {MULTIPROC_ENV: str(path)}
    finally:
        _shared_dir = None
        shutil.rmtree(path, ignore_errors=True)


def worker_exited(pid: int) -> None:
    """For the parent, when a worker ended (however): its live gauges no longer count."""
    if _shared_dir is not None:
        mark_process_dead(pid, str(_shared_dir))


def request_answered(route: str, method: str, status: int, seconds: float) -> None:
    """One HTTP request answered; `route` is the matched route's template, never a raw path."""
    _requests.labels(route, method, f"{status // 100}xx").inc()
    _request_seconds.labels(route, method).observe(seconds)


def statuses_ingested(counts: Mapping[str, int]) -> None:
    """One status upload committed: its `counts` (`accepted`: newly stored, `duplicate`: stored
    before, `rejected`), as the answer gives them."""
    for result, count in counts.items():
        _statuses.labels(result).inc(count)


def push_connection() -> AbstractContextManager[object]:
    """`with metrics.push_connection():` around the life of one open push channel."""
    return _push_connections.track_inprogress()


def long_poll_waiting() -> AbstractContextManager[object]:
    """`with metrics.long_poll_waiting():` around one long poll's wait for a change."""
    return _long_polls.track_inprogress()


def webhook_attempted(outbox: str, delivered: bool) -> None:
    """One webhook delivery attempt from `outbox` (the table), successful or not."""
    _webhook_attempts.labels(outbox).inc()
    if not delivered:
        _webhook_failures.labels(outbox).inc()


@dataclass(frozen=True)
class ReadGauge:
    """A gauge read at the scrape (from the database): `{label value: value}` with `label`, or
    `{"": value}` without."""

    name: str
    documentation: str
    values: Mapping[str, float]
    label: str | None = None

    def family(self) -> Metric:
        family = GaugeMetricFamily(self.name, self.documentation,
                                   labels=[self.label] if self.label else None)
        for label, value in self.values.items():
            family.add_metric([label] if self.label else [], value)
        return family


class _Families:
    """What one scrape shows: the counted values (of every worker) and the read ones."""

    def __init__(self, read: Iterable[ReadGauge]) -> None:
        self._read = [gauge.family() for gauge in read]

    def collect(self) -> Iterator[Metric]:
        if _MULTIPROCESS:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            yield from registry.collect()
        else:
            yield from _REGISTRY.collect()
        yield from self._read


def exposition(read: Iterable[ReadGauge]) -> bytes:
    """The text format of a scrape: every counted metric plus `read` (from the database now)."""
    return generate_latest(_Families(read))  # type: ignore[arg-type]
