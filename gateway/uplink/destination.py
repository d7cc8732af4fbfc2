"""The connection destination (S0601-S0602): the regional endpoint the cloud's entry URL names
for the gateway's region, kept in the store with its `valid_until` and asked for again before that
passes.

The cloud may move a region's endpoint; its answer holds until `valid_until`.  The gateway asks
again `REFRESH_LEAD` of the remaining validity before it ends (at least `REFRESH_MIN` seconds from
now); a failed request keeps the stored endpoint (it still answers, most likely) and is retried
with back-off (`RETRY_MIN` doubling to `RETRY_MAX`, jittered), each failure logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from gateway.uplink.cloud_state import CloudState
from protocols.cloud.client import CloudClient
from protocols.cloud.registration import ConnectionDestinationRequest
from protocols.cloud.transport import checked_url
from protocols.version import VERSION

log = logging.getLogger(__name__)

REFRESH_LEAD = 0.1
"""Asked again when this share of the validity the cloud gave is left."""
REFRESH_MIN = 1.0
RETRY_MIN = 1.0
RETRY_MAX = 300.0


@dataclass(frozen=True)
class Destination:
    base_url: str
    valid_until: float | None
    """Seconds since the epoch; None: not known (stored by an older version)."""


def parse_valid_until(text: str) -> float | None:
    """`valid_until` as seconds since the epoch; None when it is not a readable date-time."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


class DestinationStore:
    """The stored destination, and asking the cloud for it."""

    def __init__(self, state: CloudState, region: Callable[[], str],
                 entry: Callable[[], CloudClient], clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.region = region
        self.entry = entry
        """A client for the cloud's entry URL (`[cloud] url`)."""
        self.clock = clock

    def stored(self) -> Destination | None:
        """The stored destination for the configured region; one not usable (stored unchecked by
        an older version) is discarded, to be asked for again."""
        url = self.state.get("base_url")
        if url is None or self.state.get("region") != self.region():
            return None
        try:
            url = checked_url(url, secure="https", plain="http")
        except ValueError as exc:
            log.warning("cloud: stored connection destination discarded: %s", exc)
            self.state.delete("base_url")
            return None
        until = self.state.get("valid_until")
        return Destination(url, None if until is None else float(until))

    async def resolve(self) -> Destination:
        """S0601-S0602 now; the answer stored.  Raises `CloudError`."""
        region = self.region()
        async with self.entry() as entry:
            answer = await entry.resolve_connection_destination(
                ConnectionDestinationRequest(region, gateway_version=VERSION))
        until = parse_valid_until(answer.valid_until)
        previous = self.state.get("base_url")
        self.state.set("base_url", answer.base_url)
        self.state.set("region", region)
        if until is None:
            self.state.delete("valid_until")
        else:
            self.state.set("valid_until", repr(until))
        if previous != answer.base_url:
            log.info("cloud: region %s served by %s (valid until %s)", region, answer.base_url,
                     answer.valid_until)
        return Destination(answer.base_url, until)

    def refresh_in(self, destination: Destination | None) -> float:
        """Seconds until the destination is to be asked for again: now when there is none or
        its validity is not known (stored by an older version)."""
        if destination is None or destination.valid_until is None:
            return 0.0
        remaining = destination.valid_until - self.clock()
        return max(REFRESH_MIN, remaining * (1 - REFRESH_LEAD))
