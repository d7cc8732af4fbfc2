"""What every handler reaches through the application: settings, database, change stream."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from aiohttp import web

from cloud.changes import ChangeStream
from cloud.db import Database
from cloud.idempotency import IdempotencyKeys


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


@dataclass(frozen=True)
class Cloud:
    settings: Settings
    db: Database
    changes: ChangeStream
    keys: IdempotencyKeys


CLOUD = web.AppKey("cloud", Cloud)


def cloud(request: web.Request) -> Cloud:
    return request.app[CLOUD]
