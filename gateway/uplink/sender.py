"""Sending the outbox: `OutboxSender` empties it through `CloudClient.upload_statuses` in batches,
settles each entry by the cloud's answer and backs off when the cloud cannot take them."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from gateway.uplink.outbox import Outbox, Pending
from gateway.wake import first_of
from protocols.cloud.client import CloudClient
from protocols.cloud.errors import (
    CloudError,
    CloudProtocolError,
    CloudRejected,
    CloudUnavailable,
)
from protocols.cloud.models import ActivationResult, StatusBatchResult

log = logging.getLogger(__name__)

ERROR_PAUSE = 5.0
"""Seconds `OutboxSender.run` waits after a database error before trying again."""


def batch_key(entry_ids: Sequence[str]) -> str:
    """The `Idempotency-Key` of a batch: the same entries in the same order give the same key."""
    return hashlib.sha256("\n".join(entry_ids).encode("ascii")).hexdigest()


@dataclass
class FlushReport:
    """What one `OutboxSender.flush` did.

    `ignored_data_types`: per printer ID, the data types the cloud dropped from accepted entries
    (the transmission data type table is stale: fetch the control information again).
    `activations`: per printer ID, the FIG. 9 activation results of first uploads.
    `error`: the last whole-batch failure, when there was one.
    """

    requests: int = 0
    sent: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    failed: int = 0
    ignored_data_types: dict[str, set[str]] = field(default_factory=dict)
    activations: dict[str, list[ActivationResult]] = field(default_factory=dict)
    error: str | None = None
    delivered_readings: dict[int, str] = field(default_factory=dict)
    """Per device row: the `read_at` of its newest entry the cloud now has (the status page's
    "last upload")."""


class OutboxSender:
    """Sends due outbox entries to the cloud in batches and settles them by the answer.

    `client` is a `CloudClient` or a function returning the current one (the uplink replaces
    its client when the regional endpoint or the token changes).  After a batch fails as a
    whole, nothing is sent until that batch is due again, so a cloud that is down is not asked
    again for every new entry.
    """

    def __init__(self, outbox: Outbox, client: CloudClient | Callable[[], CloudClient], *,
                 batch_size: int = 500) -> None:
        if not 1 <= batch_size <= 500:
            raise ValueError(f"batch_size must be 1..500 (the cloud's limit), not {batch_size}")
        self.outbox = outbox
        self._client: Callable[[], CloudClient] = (
            (lambda: client) if isinstance(client, CloudClient) else client)
        self.batch_size = batch_size
        self._hold_until = 0.0
        self._flushing = asyncio.Lock()

    async def flush(self) -> FlushReport:
        """Send every due entry (batches of at most `batch_size`); stop at the first batch that
        fails as a whole.  Flushes run one at a time."""
        report = FlushReport()
        async with self._flushing:
            if self.outbox.clock() < self._hold_until:
                return report
            client = self._client()
            while batch := self.outbox.due(self.batch_size):
                if not await self._send(client, batch, report):
                    break
        return report

    def next_flush_at(self) -> float | None:
        """When a flush may send something next; None while the outbox is empty."""
        next_at = self.outbox.next_attempt_at()
        return None if next_at is None else max(next_at, self._hold_until)

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, *,
                  on_report: Callable[[FlushReport], Awaitable[None]] | None = None) -> None:
        """Flush, then sleep until the next entry is due or `wake` is set; until `stop` is set.

        Set `wake` after putting entries.  `on_report` gets each flush's report that sent
        something (ignored data types and FIG. 9 activations are for the caller to act on).
        Database errors are logged and retried after `ERROR_PAUSE` seconds; cloud errors never
        leave `flush`.
        """
        while not stop.is_set():
            wake.clear()
            try:
                report = await self.flush()
            except sqlite3.Error:
                log.exception("outbox: database error; trying again in %g s", ERROR_PAUSE)
                delay: float | None = ERROR_PAUSE
            else:
                if on_report is not None and report.requests:
                    await on_report(report)
                next_at = self.next_flush_at()
                delay = None if next_at is None else max(0.0, next_at - self.outbox.clock())
            await first_of(stop, wake, seconds=delay)

    async def _send(self, client: CloudClient, batch: list[Pending],
                    report: FlushReport) -> bool:
        """Upload one batch; True when every entry was settled (delivered or rejected)."""
        ids = [pending.entry_id for pending in batch]
        report.requests += 1
        report.sent += len(batch)
        try:
            answer = await client.upload_statuses([p.entry for p in batch], batch_key(ids))
        except CloudRejected as exc:
            if exc.status == 413:
                return await self._split(client, batch, report, exc)
            log.error("the cloud refused a batch of %d status entries; they stay queued: %s",
                      len(batch), exc)
            self._fail(ids, exc, report)
            return False
        except CloudUnavailable as exc:
            self._fail(ids, exc, report, retry_after=exc.retry_after)
            return False
        except CloudProtocolError as exc:
            self._fail(ids, exc, report)
            return False
        return self._settle(batch, answer, report)

    async def _split(self, client: CloudClient, batch: list[Pending], report: FlushReport,
                     exc: CloudError) -> bool:
        """413: send each half on its own; a single entry too large is rejected locally (it
        can never be accepted)."""
        if len(batch) == 1:
            self.outbox.rejected(batch[0].entry_id, "payload-too-large", str(exc))
            report.rejected += 1
            return True
        half = len(batch) // 2
        return (await self._send(client, batch[:half], report)
                and await self._send(client, batch[half:], report))

    def _settle(self, batch: list[Pending], answer: StatusBatchResult,
                report: FlushReport) -> bool:
        results = {result.entry_id: result for result in answer.results}
        delivered: list[str] = []
        missing: list[str] = []
        for pending in batch:
            result = results.get(pending.entry_id)
            if result is None:
                missing.append(pending.entry_id)
                continue
            if result.activations:
                report.activations.setdefault(pending.printer_id, []).extend(
                    result.activations)
            if result.status == "rejected":
                reason = result.reason
                detail = reason.detail if reason is not None else ""
                if reason is not None and reason.pointer:
                    detail += f" (at {reason.pointer})"
                self.outbox.rejected(pending.entry_id,
                                     reason.code if reason is not None else "rejected", detail)
                report.rejected += 1
                continue
            delivered.append(pending.entry_id)
            if pending.device_id is not None:  # batches are in queue order: the last is newest
                report.delivered_readings[pending.device_id] = pending.entry.read_at
            if result.status == "duplicate":
                report.duplicate += 1
            else:
                report.accepted += 1
                if result.ignored_data_types:
                    report.ignored_data_types.setdefault(pending.printer_id, set()).update(
                        result.ignored_data_types)
        self.outbox.delivered(delivered)
        if missing:
            self._fail(missing, CloudProtocolError(
                "uploadStatuses", f"the answer has no result for {len(missing)} entries"),
                report)
            return False
        return True

    def _fail(self, ids: list[str], exc: CloudError, report: FlushReport, *,
              retry_after: float | None = None) -> None:
        next_at = self.outbox.failed(ids, str(exc), retry_after=retry_after)
        self._hold_until = max(self._hold_until, next_at)
        report.failed += len(ids)
        report.error = str(exc)
        log.warning("%d status entries not delivered, next attempt in %.1f s: %s", len(ids),
                    next_at - self.outbox.clock(), exc)
