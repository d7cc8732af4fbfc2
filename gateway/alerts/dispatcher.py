"""Delivering each output's queue: one task per output, so a dead SMTP server delays neither the
webhook nor polling nor the cloud uplink.

A worker takes its due alerts in order.  Those its quiet hours hold back wait for the end of the
window; those past `[alerts] expire_after` are dropped and logged.  The rate limit is a token
bucket per output: while tokens last, one message per alert; when what is waiting exceeds what the
bucket holds, the rest goes out as one summary message (as soon as there is a token), never
dropped.  A failed delivery is retried with back-off (5 s doubling up to `retry_max`); the
alerts stay in the queue until the output took them.  A reload that changes an output restarts
its worker; a removed output's alerts stay queued until an output of that name is configured
again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from gateway.alerts.email import EmailSender
from gateway.alerts.policy import TokenBucket, quiet_until
from gateway.alerts.queue import AlertQueue, Queued
from gateway.alerts.senders import DeliveryError, Sender
from gateway.alerts.syslog import SyslogSender
from gateway.alerts.webhook import WebhookSender
from gateway.settings.alerts import AlertOutput, EmailOutput, SyslogOutput, WebhookOutput
from gateway.settings.schema import Config
from gateway.wake import first_of

log = logging.getLogger(__name__)

RETRY_INITIAL = 5.0
IDLE = 60.0
"""A worker with nothing due looks at its queue again after this long at the latest."""


def sender_for(output: AlertOutput, gateway: str) -> Sender:
    if isinstance(output, WebhookOutput):
        return WebhookSender(output, gateway)
    if isinstance(output, EmailOutput):
        return EmailSender(output, gateway)
    assert isinstance(output, SyslogOutput)
    return SyslogSender(output, gateway)


class AlertDispatcher:
    def __init__(self, config: Callable[[], Config], queue: AlertQueue,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.queue = queue
        self.clock = clock
        self._wake = asyncio.Event()
        self._workers: dict[str, tuple[AlertOutput, asyncio.Task[None], asyncio.Event]] = {}

    def wake(self) -> None:
        """Alerts were queued, or the config changed."""
        self._wake.set()
        for _output, _task, event in self._workers.values():
            event.set()

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                self._wake.clear()
                self._start_workers()
                await first_of(stop, self._wake, seconds=IDLE)
        finally:
            tasks = [task for _output, task, _event in self._workers.values()]
            self._workers.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def flush(self) -> None:
        """Deliver what each output may take now, once (`printgw run --once`); what fails or
        must wait stays queued for the next run."""
        config = self.config()
        for output in config.alerts.outputs():
            sender = sender_for(output, config.gateway.name)
            bucket = TokenBucket(output.burst, output.rate_per_hour)
            try:
                while (await self._deliver_some(output, sender, bucket, RETRY_INITIAL)) == \
                        (0.0, False):
                    pass
            finally:
                await sender.close()

    def _start_workers(self) -> None:
        """One worker per configured output; one whose settings changed is started anew."""
        config = self.config()
        wanted = {str(o.name): o for o in config.alerts.outputs()}
        for name, (output, task, _event) in list(self._workers.items()):
            if wanted.get(name) != output or task.done():
                task.cancel()
                del self._workers[name]
        for name, output in wanted.items():
            if name not in self._workers:
                event = asyncio.Event()
                task = asyncio.create_task(
                    self._work(output, sender_for(output, config.gateway.name), event),
                    name=f"alerts-{name}")
                self._workers[name] = (output, task, event)

    async def _work(self, output: AlertOutput, sender: Sender, wake: asyncio.Event) -> None:
        name = str(output.name)
        bucket = TokenBucket(output.burst, output.rate_per_hour)
        delay = 0.0
        try:
            while True:
                wake.clear()
                retry = min(self.config().alerts.retry_max, max(RETRY_INITIAL, delay * 2))
                try:
                    wait, failed = await self._deliver_some(output, sender, bucket, retry)
                except Exception:  # a database error, say: the alerts stay queued
                    log.exception("alerts: %s: delivery failed", name)
                    wait, failed = RETRY_INITIAL, False
                delay = retry if failed else 0.0
                if wait is None or wait > 0:
                    await first_of(wake, seconds=IDLE if wait is None else min(wait, IDLE))
        finally:
            with contextlib.suppress(Exception):
                await sender.close()

    async def _deliver_some(self, output: AlertOutput, sender: Sender, bucket: TokenBucket,
                            retry: float) -> tuple[float | None, bool]:
        """Deliver what is due now, as far as the rate limit allows (a failure: tried again in
        `retry` seconds); (seconds until there is more to do, None: nothing queued; whether a
        delivery failed)."""
        name, now = str(output.name), self.clock()
        due = self._ready(output, self.queue.due(name, now), now)
        if not due:
            next_due = self.queue.next_due(name)
            return (None if next_due is None else max(0.0, next_due - self.clock())), False
        tokens = bucket.available(now)
        if tokens < 1:
            return bucket.next_token(now) - now, False
        summary = len(due) > 1 and tokens < 2
        batch = due if summary else due[:1]
        alerts = [item.alert for item in batch]
        try:
            await sender.send(alerts, summary)
        except DeliveryError as exc:
            # the output is down: all that waits for it waits together, in its order
            self.queue.later([item.seq for item in due], self.clock() + retry, str(exc))
            log.warning("alerts: %s is not taking alerts (%s); %d waiting, trying again in "
                        "%.0f s", name, exc, len(due), retry, extra={"output": name})
            return retry, True
        bucket.take(self.clock())
        self.queue.done([item.seq for item in batch])
        log.info("alerts: %s: sent %s", name, f"a summary of {len(batch)} alerts" if summary
                 else f"{alerts[0].kind} of device {alerts[0].device_id}",
                 extra={"output": name})
        return 0.0, False

    def _ready(self, output: AlertOutput, due: list[Queued], now: float) -> list[Queued]:
        """`due` less what quiet hours hold back (postponed to their end) and what expired
        (dropped, logged)."""
        expire = self.config().alerts.expire_after
        ready: list[Queued] = []
        held: dict[float, list[int]] = {}
        expired: list[Queued] = []
        for item in due:
            if now - item.queued_at > expire:
                expired.append(item)
                continue
            until = quiet_until(output.quiet_hours, item.alert, now)
            if until is None:
                ready.append(item)
            else:
                held.setdefault(until, []).append(item.seq)
        for until, seqs in held.items():
            self.queue.later(seqs, until, None)
            log.info("alerts: %s: %d alert(s) held back by quiet hours for %.0f min",
                     output.name, len(seqs), (until - now) / 60, extra={"output": output.name})
        if expired:
            self.queue.done([item.seq for item in expired])
            for item in expired:
                log.error("alerts: %s: dropped after %s undelivered: %s", output.name,
                          _age(now - item.queued_at), item.alert.subject,
                          extra={"output": output.name})
        return ready


def _age(seconds: float) -> str:
    return f"{seconds / 3600:.0f} h" if seconds >= 3600 else f"{seconds:.0f} s"

