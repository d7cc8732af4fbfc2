"""When an output may send: its quiet hours and its rate limit (pure, given the time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.alerts.model import Alert
from gateway.settings.alerts import QuietHours


def quiet_until(quiet: QuietHours | None, alert: Alert, now: float) -> float | None:
    """When the quiet hours holding `alert` back end (Unix seconds); None when it may go out
    now (no quiet hours, outside them, or critical where critical alerts are allowed)."""
    if quiet is None or (quiet.allow == "critical" and alert.severity == "critical"):
        return None
    zone = ZoneInfo(quiet.time_zone or alert.time_zone)
    local = datetime.fromtimestamp(now, zone)
    minute = local.hour * 60 + local.minute
    start, end = QuietHours.minutes(quiet.start), QuietHours.minutes(quiet.end)
    inside = start <= minute < end if start < end else minute >= start or minute < end
    if not inside:
        return None
    day = local.date() + timedelta(days=1 if start > end and minute >= start else 0)
    ends = datetime(day.year, day.month, day.day, end // 60, end % 60, tzinfo=zone)
    return ends.timestamp()


@dataclass
class TokenBucket:
    """`burst` messages at once, refilled at `per_hour`; in memory (a restart starts full)."""

    burst: int
    per_hour: int
    tokens: float = -1.0
    at: float = 0.0

    def available(self, now: float) -> float:
        if self.tokens < 0:
            self.tokens, self.at = float(self.burst), now
        self.tokens = min(float(self.burst),
                          self.tokens + (now - self.at) * self.per_hour / 3600.0)
        self.at = now
        return self.tokens

    def take(self, now: float) -> None:
        self.available(now)
        self.tokens -= 1.0

    def next_token(self, now: float) -> float:
        """When one whole token will be there."""
        missing = max(0.0, 1.0 - self.available(now))
        return now + missing * 3600.0 / self.per_hour
