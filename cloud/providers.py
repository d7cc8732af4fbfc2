"""What a service's provider is told: notices of the state of its service on each printer
(activated, suspended, resumed, cancelled, deactivated) and consumable orders, both delivered to
the service's `provider_endpoint` by the webhook machinery (`cloud.webhooks`: signed, retried,
one idempotency key per delivery).  `docs/webhooks.md` is the receiver's side.

A delivery is a `ProviderDelivery` row written in the transaction of the state change (or of the
upload) that causes it, under a deterministic key, so it exists exactly once whatever restarts.
A service without an endpoint gets its deliveries recorded in state `no-endpoint`, never sent.

Consumable orders (`observe_supplies`, per upload batch): a printer's supply has a cartridge
cycle (`SupplyCycle`) that starts again when the supply is replaced (a `supply-replaced` event
naming it, its level rising by `REFILL_JUMP` points or more, or a new cartridge ID).  When a
supply's level falls to or below an *active* service's `order_threshold_percent`, or the supply
empties (`supply-empty`, level 0), the service's provider gets one order per cycle: the order's
key is (service, printer, supply, cycle).
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud import times
from cloud.changes import ChangeStream
from cloud.db import Application, Database, Printer, Service
from cloud.notice_tables import ProviderDelivery
from cloud.supply_cycles import Cycle, SupplyCycles
from cloud.wake_bus import WakeBus
from cloud.webhooks import WebhookSender, wake_after_commit
from protocols.cloud.times import rfc3339

EVENTS = frozenset({"activated", "deactivated", "suspended", "resumed", "cancelled"})
ORDER_EVENT = "consumable-order"
DELIVERY_NAMESPACE = uuid.UUID("0b7c5c8e-2a0f-4c4e-8f61-6d3f1a9b7e25")
"""Delivery IDs are UUIDv5 of the key in this namespace."""
REFILL_JUMP = 20
"""A supply whose level rises by this many points or more between readings was replaced."""


def kind_of(service: Service) -> str:
    """One provider per kind per printer; a service without a kind is its own kind."""
    return service.kind or service.id


class ProviderSender(WebhookSender):
    """Sends every pending provider delivery to the URL it carries."""

    def __init__(self, db: Database, secret: bytes | None, wakes: WakeBus | None = None) -> None:
        super().__init__(db, ProviderDelivery, None, per_row=True, secret=secret, wakes=wakes)


_CHANGES: weakref.WeakKeyDictionary[Any, ChangeStream] = weakref.WeakKeyDictionary()


def register_changes(db: Database, changes: ChangeStream) -> None:
    """Let code that runs inside a gateway's own call (an activation that switches provider)
    tell the gateway through its change stream (`changes_of`)."""
    _CHANGES[db.engine.sync_engine] = changes


def changes_of(session: AsyncSession) -> ChangeStream | None:
    bind = session.bind
    return _CHANGES.get(getattr(bind, "sync_engine", bind))


async def _record(session: AsyncSession, service: Service, printer: Printer, kind: str,
                  event: str, key: str, payload: dict[str, Any]) -> None:
    if (await session.execute(select(ProviderDelivery.id)
                              .where(ProviderDelivery.key == key))).first():
        return
    now = times.now()
    delivery_id = str(uuid.uuid5(DELIVERY_NAMESPACE, key))
    body = {**payload, "delivery_id": delivery_id, "event": event, "service_id": service.id,
            "kind": kind_of(service), "provider": service.provider, "printer_id": printer.id,
            "occurred_at": rfc3339(now)}
    url = service.provider_endpoint
    session.add(ProviderDelivery(
        id=delivery_id, key=key, service_id=service.id, printer_id=printer.id, kind=kind,
        event=event, url=url, payload=body, created_at=now,
        state="pending" if url else "no-endpoint", attempts=0, next_attempt_at=now))
    if url:
        await wake_after_commit(session, ProviderDelivery)


async def notify_provider(session: AsyncSession, printer: Printer, application: Application,
                          service: Service, event: str, reason: str | None = None) -> None:
    """Tell the service's provider that its service on `printer` changed state (`event`), in
    the caller's transaction.  The key counts the state changes of this (printer, service), so
    each change is one delivery."""
    if event not in EVENTS:
        raise ValueError(f"unknown provider event {event!r}")
    count = (await session.execute(select(func.count()).select_from(ProviderDelivery).where(
        ProviderDelivery.printer_id == printer.id, ProviderDelivery.service_id == service.id,
        ProviderDelivery.kind == "notice"))).scalar_one()
    await _record(session, service, printer, "notice", event,
                  f"notice:{printer.id}:{service.id}:{count + 1}:{event}", {
                      "application_id": (application.application_id
                                         or application.cancelled_application_id),
                      "serial": printer.serial, "model": printer.product_name,
                      "reason": reason})


# -- consumable orders -----------------------------------------------------------------------------

def _by_index(data: dict[str, Any], data_type: str) -> dict[str, dict[str, Any]]:
    return {item["index"]: item for item in data.get(data_type) or []
            if isinstance(item, dict) and "index" in item}


def _replaced(cycle: Cycle, event: str, named: str | None, index: str,
              level: int | None, cartridge_id: str | None) -> bool:
    if event == "supply-replaced" and named == index:
        return True
    if level is not None and cycle.last_level is not None \
            and level >= cycle.last_level + REFILL_JUMP:
        return True
    return cartridge_id is not None and cycle.cartridge_id not in (None, cartridge_id)


def _low(event: str, named: str | None, index: str, level: int | None, threshold: int,
         detail: dict[str, Any]) -> bool:
    if level is not None and level <= threshold:
        return True
    if named != index:
        return False
    crossed = detail.get("threshold_percent")
    return event == "supply-empty" or (event == "threshold-crossed"
                                       and isinstance(crossed, int) and crossed <= threshold)


async def observe_supplies(session: AsyncSession, printers: dict[str, Printer],
                           stored: Iterable[dict[str, Any]]) -> None:
    """Follow the cartridge cycles of the stored entries' supplies (the `statuses` rows of one
    batch, oldest reading first) and order consumables for the printers' active services that
    have an `order_threshold_percent`."""
    entries = sorted(stored, key=lambda s: s["read_at"])
    ids = list({s["printer_id"] for s in entries})
    ordering: dict[str, list[tuple[Application, Service]]] = {i: [] for i in ids}
    for application, service in (await session.execute(
            select(Application, Service).join(Service, Application.service_id == Service.id)
            .where(Application.printer_id.in_(ids), Application.activation_state == "active",
                   Service.order_threshold_percent.is_not(None))
            .order_by(Application.seq))).all():
        ordering[application.printer_id].append((application, service))
    cycles = await SupplyCycles.load(session, ids)
    ordered: set[tuple[str, str, str, int]] = set()
    for status in entries:
        printer, data = printers[status["printer_id"]], status["data"]
        detail = status.get("event_detail") or {}
        named = detail.get("supply_index")
        levels = _by_index(data, "supplies.level")
        cartridges = _by_index(data, "supplies.cartridge")
        for index in sorted(set(levels) | ({named} if isinstance(named, str) else set())):
            level = levels.get(index, {}).get("level_percent")
            if levels.get(index, {}).get("class") == "filled":
                continue  # a receptacle (waste toner) fills up: nothing to order
            cycle = _cycle(cycles, printer.id, index, status, level,
                           cartridges.get(index, {}).get("cartridge_id"))
            for application, service in ordering[printer.id]:
                threshold = service.order_threshold_percent
                assert threshold is not None
                if (printer.id, service.id, index, cycle) not in ordered and _low(
                        status["event"], named, index, level, threshold, detail):
                    ordered.add((printer.id, service.id, index, cycle))
                    await _order(session, printer, application, service, index, cycle, data,
                                 level)
    await cycles.store(session)


def _cycle(cycles: SupplyCycles, printer_id: str, index: str, status: dict[str, Any],
           level: int | None, cartridge_id: str | None) -> int:
    """The supply's cycle after this reading (a new one when it was replaced)."""
    cycle = cycles.get(printer_id, index)
    if cycle is None:
        cycle = cycles.start(printer_id, index)
    elif _replaced(cycle, status["event"], (status.get("event_detail") or {}).get(
            "supply_index"), index, level, cartridge_id):
        cycle.cycle += 1
    if level is not None:
        cycle.last_level = level
    if cartridge_id is not None:
        cycle.cartridge_id = cartridge_id
    cycles.touch(cycle)
    return cycle.cycle


async def _order(session: AsyncSession, printer: Printer, application: Application,
                 service: Service, index: str, cycle: int, data: dict[str, Any],
                 level: int | None) -> None:
    kind = _by_index(data, "supplies.kind").get(index, {})
    await _record(session, service, printer, "order", ORDER_EVENT,
                  f"order:{service.id}:{printer.id}:{index}:{cycle}", {
                      "order_id": str(uuid.uuid5(DELIVERY_NAMESPACE, f"{service.id}:"
                                                 f"{printer.id}:{index}:{cycle}")),
                      "application_id": application.application_id,
                      "serial": printer.serial, "model": printer.product_name,
                      "supply": {
                          "index": index, "kind": kind.get("kind"),
                          "description": kind.get("description"),
                          "color": _by_index(data, "supplies.color").get(index, {}).get("color"),
                          "part_number": _by_index(data, "supplies.model").get(index, {}).get(
                              "part_number"),
                          "cycle": cycle},
                      "level_percent": level,
                      "threshold_percent": service.order_threshold_percent})


# -- the operator's view ---------------------------------------------------------------------------

def delivery_view(delivery: ProviderDelivery) -> dict[str, Any]:
    return {"delivery_id": delivery.id, "kind": delivery.kind, "event": delivery.event,
            "service_id": delivery.service_id, "printer_id": delivery.printer_id,
            "url": delivery.url, "payload": delivery.payload,
            "created_at": rfc3339(delivery.created_at),
            "delivery": {
                "state": delivery.state, "attempts": delivery.attempts,
                "last_error": delivery.last_error,
                "next_attempt_at": (rfc3339(delivery.next_attempt_at)
                                    if delivery.state == "pending" else None),
                "delivered_at": (rfc3339(delivery.delivered_at)
                                 if delivery.delivered_at else None)}}


async def list_deliveries(session: AsyncSession, service_id: str, limit: int,
                          printer_id: str | None = None) -> list[ProviderDelivery]:
    """The service's latest `limit` provider deliveries (of one printer, if given), oldest
    first."""
    statement = select(ProviderDelivery).where(ProviderDelivery.service_id == service_id)
    if printer_id is not None:
        statement = statement.where(ProviderDelivery.printer_id == printer_id)
    rows = await session.execute(statement.order_by(
        ProviderDelivery.created_at.desc(), ProviderDelivery.id.desc()).limit(limit))
    return list(reversed(rows.scalars().all()))
