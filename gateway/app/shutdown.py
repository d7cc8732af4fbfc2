"""Stopping the daemon without losing anything (SIGTERM, SIGINT; a second signal stops at once).

No reading starts any more; readings and an upload under way get `gateway.shutdown_grace` to
finish, then they are cancelled.  That loses nothing: a reading is committed, with the entries it
causes, in one transaction once it is complete (with the others gathered for its group commit,
which the shutdown commits at once), so a cancelled one leaves no trace and is simply taken again
after the restart; an upload's entries leave the outbox only when the cloud's answer
has been read, so a cancelled upload is sent again (the same entries in the same order: the same
batch and `Idempotency-Key`; the cloud deduplicates each entry ID in any case); a command is stored
before it is applied and its acknowledgements before they are sent (`gateway/commands/relay.py`).
What the readings queued during the grace period is offered to the cloud once more before the
exit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from gateway.app.cloud_loop import CloudUplink
from gateway.app.poll_loop import PollLoop
from gateway.uplink.outbox import Outbox

log = logging.getLogger(__name__)


class Shutdown:
    def __init__(self) -> None:
        self._hurry = asyncio.Event()

    def hurry(self) -> None:
        """Stop at once: what is still under way is cancelled without waiting for the grace
        period (a second SIGTERM or Ctrl-C)."""
        self._hurry.set()

    async def run(self, grace: float, loops: list[asyncio.Task[None]], polling: PollLoop,
                  link_task: asyncio.Task[None] | None, uplink: CloudUplink | None,
                  outbox: Outbox) -> None:
        """No new reading; what is under way gets `grace` seconds, then is cancelled."""
        deadline = time.monotonic() + grace
        log.info("stopping: readings and uploads under way get up to %g s to finish", grace,
                 extra={"in_flight": len(polling.reads)})
        await self.finish(loops, deadline=0.0)
        dropped = await self.finish(list(polling.reads.values()), deadline)
        if dropped:
            log.info("stopping: %d readings not finished in time, dropped (read again after "
                     "the restart)", len(dropped))
        polling.intake.flush()  # the readings gathered for a group commit
        if polling.sync_task is not None:  # a FIG. 7 round not finished is done again
            await self.finish([polling.sync_task], deadline=0.0)
        if link_task is not None and uplink is not None:
            await self.finish([link_task], deadline)
            if uplink.connected and outbox.depth():
                await self.finish([asyncio.create_task(uplink.deliver())], deadline)
            if uplink.relay is not None and uplink.connected:
                await self.finish([asyncio.create_task(uplink.relay.flush_acks())], deadline)
        log.info("stopped: %d statuses in the outbox for the next start", outbox.depth())

    async def finish(self, tasks: Iterable[asyncio.Task[object]] | Iterable[asyncio.Task[None]],
                     deadline: float) -> set[asyncio.Task[object]]:
        """Wait for `tasks` until `deadline` (monotonic) or `hurry()`; cancel the ones still
        running and return them."""
        pending: set[asyncio.Task[object]] = {t for t in tasks if not t.done()}  # type: ignore[misc]
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            while pending and not self._hurry.is_set() and time.monotonic() < deadline:
                done, _ = await asyncio.wait(pending | {hurry},
                                             timeout=deadline - time.monotonic(),
                                             return_when=asyncio.FIRST_COMPLETED)
                pending -= done
        finally:
            hurry.cancel()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return pending
