"""The tables of the member notices, webhook attempts, contract page usage, contract cartridge
binding, provider deliveries and supply cycles (declared on `cloud.db.Base`, so
`Database.create_schema` creates them with the rest).

Kept out of `cloud.db` so that module stays the core schema; importing any module that uses these
tables (`cloud.member_notices`, `cloud.webhooks`, `cloud.contract_usage`) registers them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.db import Base, Id, UTCDateTime, WebhookDelivery


class MemberNotice(WebhookDelivery, Base):
    """A notice to the member site (`cloud.member_notices`), delivered to the member webhook by
    `cloud.webhooks.WebhookSender` like the orders."""

    __tablename__ = "member_notices"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    """The notice ID, derived from `key`: the Idempotency-Key of every delivery attempt."""
    key: Mapped[str] = mapped_column(String(255), unique=True)
    member_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(32))


class WebhookAttempt(Base):
    """One delivery attempt of a webhook (an order or a member notice)."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(Id)
    """The order ID or notice ID."""
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[int | None] = mapped_column(Integer)
    """The receiver's HTTP status; None when no answer came."""
    error: Mapped[str | None] = mapped_column(Text)


class ContractUsage(Base):
    """Contract pages of a printer in one period of its contract (`cloud.contract_usage`)."""

    __tablename__ = "contract_usage"
    printer_id: Mapped[str] = mapped_column(ForeignKey("printers.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    """The period's label in the contract's time zone, e.g. `2026-12` for a month."""
    base_counter: Mapped[int] = mapped_column(Integer)
    """The contract counter at the period's first reading (after a reset: its new origin)."""
    last_counter: Mapped[int] = mapped_column(Integer)
    pages: Mapped[int] = mapped_column(Integer)
    """Pages counted in the period so far (resets add what was counted before them)."""
    counted_before_reset: Mapped[int] = mapped_column(Integer, default=0)
    last_read_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """When `last_counter` was read (older readings arriving late are not counted)."""
    limit_reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CartridgeBinding(Base):
    """A contract cartridge and the printer it is bound to (where it was last seen used)."""

    __tablename__ = "cartridge_bindings"
    cartridge_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    printer_id: Mapped[str] = mapped_column(ForeignKey("printers.id"), index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CartridgeMove(Base):
    """A contract cartridge seen in another printer than the one it was bound to."""

    __tablename__ = "cartridge_moves"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cartridge_id: Mapped[str] = mapped_column(String(128), index=True)
    from_printer_id: Mapped[str] = mapped_column(ForeignKey("printers.id"))
    to_printer_id: Mapped[str] = mapped_column(ForeignKey("printers.id"))
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """When the cloud read it in the other printer."""


class ProviderDelivery(WebhookDelivery, Base):
    """A notice (activation, suspension…) or a consumable order to a service's provider
    (`cloud.providers`), delivered to the service's `provider_endpoint` (`url`, taken when the
    delivery is recorded) by `cloud.webhooks.WebhookSender`; `state` is `no-endpoint` when the
    service had none: recorded, never sent."""

    __tablename__ = "provider_deliveries"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    """Derived from `key`: the Idempotency-Key of every delivery attempt."""
    key: Mapped[str] = mapped_column(String(255), unique=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    printer_id: Mapped[str] = mapped_column(ForeignKey("printers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    """`notice` or `order`."""
    event: Mapped[str] = mapped_column(String(32))
    """A notice's event (`activated`…) or `consumable-order`."""
    url: Mapped[str | None] = mapped_column(String(2048))


class SupplyCycle(Base):
    """The current cartridge cycle of one supply of a printer (`cloud.providers`): a consumable
    order is placed at most once per (service, printer, supply, cycle)."""

    __tablename__ = "supply_cycles"
    printer_id: Mapped[str] = mapped_column(ForeignKey("printers.id"), primary_key=True)
    supply_index: Mapped[str] = mapped_column(String(32), primary_key=True)
    cycle: Mapped[int] = mapped_column(Integer, default=1)
    last_level: Mapped[int | None] = mapped_column(Integer)
    cartridge_id: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
