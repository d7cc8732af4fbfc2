"""What every handler reaches through the application: settings, database, change stream."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from aiohttp import web

from cloud.changes import ChangeStream
from cloud.db import Database
from cloud.idempotency import IdempotencyKeys
from cloud.wake_bus import WakeBus


@dataclass(frozen=True)
class Settings:
    operator_tokens: tuple[str, ...]
    """The operator bearer tokens (compared by their SHA-256, in constant time)."""
    regions: Mapping[str, str] | None = None
    """Region → regional base URL; None: every region is served by this server itself."""
    public_url: str | None = None
    """This server's base URL as gateways reach it; None: taken from each request."""
    heartbeat_seconds: int = 30
    poll_interval_seconds: int = 30
    change_retention: timedelta = field(default=timedelta(days=7))
    idempotency_retention: timedelta = field(default=timedelta(hours=24))
    member_webhook: str | None = None
    """URL the member notices are POSTed to (`cloud.member_notices`); None: they stay pending."""
    webhook_secret: bytes | None = field(default=None, repr=False)
    """Key of the webhooks' `Printgw-Signature` (orders and member notices); never logged."""
    upgrade_schema: bool = False
    """Migrate an older database's schema at start (`serve --upgrade-database`); else refuse."""
    housekeeping_seconds: float = 3600.0
    """Between prunings (`cloud.app.prune`) of what is past its retention, once across workers."""


@dataclass(frozen=True)
class Cloud:
    settings: Settings
    db: Database
    changes: ChangeStream
    keys: IdempotencyKeys
    wakes: WakeBus
    """Wake-ups across the worker processes (`cloud.wake_bus`); the change stream's included."""


CLOUD = web.AppKey("cloud", Cloud)


def cloud(request: web.Request) -> Cloud:
    return request.app[CLOUD]
