"""The reference cloud's tables (SQLAlchemy 2 declarative models) and its database access.

One URL picks the backend: `sqlite+aiosqlite:///path/cloud.db` (default) or
`postgresql+asyncpg://user:password@host/db`.  The schema is made and migrated by Alembic
(`cloud.migrate`, `cloud/migrations`: a model change needs a migration), so both work from an
empty database; nothing here is backend-specific SQL.  Times are stored as naive UTC and come
back aware.

Concurrency: SQLite has one writer, so write transactions are serialised by an in-process lock
(readers go on, WAL); on PostgreSQL they run concurrently and the callers rely on unique
constraints and row locks.  Several server processes (`printgw-cloud serve --workers N`,
`cloud.workers`) share one PostgreSQL database: what must reach the other processes after a commit
goes through `cloud.wake_bus` (LISTEN/NOTIFY); SQLite stays with one process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from cloud import db_retry
from cloud.migrate import SchemaState, prepare_schema

T = TypeVar("T")

DEFAULT_URL = "sqlite+aiosqlite:///printgw-cloud.db"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored without zone on every backend."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


Json = JSON(none_as_null=True)
Id = String(36)  # UUIDs in their canonical text form


class Base(DeclarativeBase):
    pass


class EnrolmentToken(Base):
    """A one-time enrolment token (only its hash).  Once spent, the credential it gave is kept
    encrypted with a key derived from the token and the Idempotency-Key of that call, so that
    only a retry of that call can read it back (24 h)."""

    __tablename__ = "enrolment_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    region: Mapped[str] = mapped_column(String(32))
    label: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    spent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gateway_id: Mapped[str | None] = mapped_column(Id)
    replay_key_hash: Mapped[str | None] = mapped_column(String(64))
    replay_credential: Mapped[bytes | None] = mapped_column(LargeBinary)
    replay_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Gateway(Base):
    __tablename__ = "gateways"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    hostname: Mapped[str | None] = mapped_column(String(255))
    software_version: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    change_seq: Mapped[int] = mapped_column(Integer, default=0)
    """Sequence number of the gateway's last change (its stream's head)."""
    pruned_through: Mapped[int] = mapped_column(Integer, default=0)
    """Changes up to this sequence number are no longer retained."""


class Printer(Base):
    __tablename__ = "printers"
    __table_args__ = (UniqueConstraint("gateway_id", "serial"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(Id, unique=True)
    gateway_id: Mapped[str] = mapped_column(ForeignKey("gateways.id"), index=True)
    serial: Mapped[str] = mapped_column(String(128))
    product_name: Mapped[str] = mapped_column(String(256))
    manufacturer: Mapped[str] = mapped_column(String(128))
    shipping_destination: Mapped[str] = mapped_column(String(8))
    time_zone: Mapped[str] = mapped_column(Text)
    device_type: Mapped[str] = mapped_column(String(16))
    uuid: Mapped[str | None] = mapped_column(Id)
    mac: Mapped[str | None] = mapped_column(String(17))
    firmware: Mapped[str | None] = mapped_column(String(128))
    sys_object_id: Mapped[str | None] = mapped_column(Text)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    current_data_types: Mapped[list[str] | None] = mapped_column(Json)
    """The transmission data types last reported (S0611); None before the first report."""
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contract: Mapped[dict[str, Any] | None] = mapped_column(Json)
    contract_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # -- H3 (issue 15): the contract function and what the contract asks of the gateway ------
    contract_supported: Mapped[bool | None] = mapped_column(Boolean)
    """From the registration (S0603): whether the device answered the contract MIB; None: its
    gateway has not said."""
    contract_requested: Mapped[dict[str, Any] | None] = mapped_column(Json)
    """What the printer's contract asked of its gateway when it was last announced
    (`cloud.contracts.announce_contract`): data types and threshold; None: nothing."""
    # -- issue 16 (Q5): why the gateway cannot deliver some requested data types ------------------
    unavailable_data_types: Mapped[list[dict[str, str]] | None] = mapped_column(Json)
    """The `unavailable` list of the last transmission data type report (S0611): data type and
    reason, replaced by each report; None before the first report."""


class Service(Base):
    __tablename__ = "services"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    outline: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(256))
    data_types: Mapped[list[str]] = mapped_column(Json)
    compatible_cartridge_models: Mapped[list[str]] = mapped_column(Json)
    activation_by_first_upload: Mapped[bool] = mapped_column(Boolean)
    # Issue 16 (providers, `cloud.providers`): one provider per kind per printer, the provider's
    # webhook, what the device must be able to do (FIG. 10), the consumable order threshold.
    kind: Mapped[str | None] = mapped_column(String(64))
    """None: the service ID is its kind."""
    provider_endpoint: Mapped[str | None] = mapped_column(String(2048))
    required_functions: Mapped[list[str] | None] = mapped_column(Json)
    order_threshold_percent: Mapped[int | None] = mapped_column(Integer)


class Application(Base):
    """A row of the application information table: one per (printer, service)."""

    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("printer_id", "service_id"),)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    printer_id: Mapped[str] = mapped_column(ForeignKey("printers.id"), index=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("services.id"), index=True)
    application_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    cancelled_application_id: Mapped[str | None] = mapped_column(String(64), index=True)
    """The ID it had before cancellation, so that activating it is refused as cancelled."""
    application_date: Mapped[date] = mapped_column(Date)
    activation_state: Mapped[str] = mapped_column(String(16))
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Status(Base):
    """A received status entry, stored once per (gateway, entry_id)."""

    __tablename__ = "statuses"
    __table_args__ = (UniqueConstraint("gateway_id", "entry_id"),
                      Index("ix_statuses_printer_seq", "printer_id", "seq"))
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gateway_id: Mapped[str] = mapped_column(ForeignKey("gateways.id"))
    entry_id: Mapped[str] = mapped_column(Id)
    printer_id: Mapped[str] = mapped_column(ForeignKey("printers.id"))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event: Mapped[str] = mapped_column(String(64))
    event_detail: Mapped[dict[str, Any] | None] = mapped_column(Json)
    application_ids: Mapped[list[str] | None] = mapped_column(Json)
    data: Mapped[dict[str, Any]] = mapped_column(Json)
    data_types: Mapped[str] = mapped_column(String(512))
    """The kept data types as `,a,b,` (empty when every type was ignored), for filtering."""


class IdempotentRequest(Base):
    """A request named by an Idempotency-Key: claimed while it runs, then its response."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("scope", "principal", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(32))
    principal: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(Json)


class Change(Base):
    """One change of a gateway's stream; `message` is the push message without its cursor."""

    __tablename__ = "changes"
    __table_args__ = (UniqueConstraint("gateway_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gateway_id: Mapped[str] = mapped_column(ForeignKey("gateways.id"))
    seq: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    message: Mapped[dict[str, Any]] = mapped_column(Json)


class Command(Base):
    __tablename__ = "commands"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    printer_id: Mapped[str] = mapped_column(ForeignKey("printers.id"), index=True)
    gateway_id: Mapped[str] = mapped_column(ForeignKey("gateways.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(Json)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[dict[str, Any] | None] = mapped_column(Json)
    contract_state: Mapped[dict[str, Any] | None] = mapped_column(Json)
    service_setting: Mapped[dict[str, Any] | None] = mapped_column(Json)
    """Issue 16 (Q5): a `set-service-enabled` command's effective setting, as acknowledged."""


class PrinterContract(Base):
    """A printer's flat-rate printing contract as the cloud records it (SPEC §7): the contract
    flag (`unconfirmed` until a transition is acknowledged done), mode and prohibition as the
    cloud last set them, page limit per period, model and series."""

    __tablename__ = "printer_contracts"
    printer_id: Mapped[str] = mapped_column(ForeignKey("printers.id"), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(128), index=True)
    flag: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(32))
    printing_prohibited: Mapped[bool] = mapped_column(Boolean)
    page_limit: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(128))
    series: Mapped[str] = mapped_column(String(128))
    process_id: Mapped[str | None] = mapped_column(Id)
    """The contract process that last changed the record."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # -- H2 (issue 15): the contract's own threshold and where model/series came from ---------
    threshold_percent: Mapped[int] = mapped_column(Integer, default=0)
    """The contract cartridge counts as run out at or below this remaining percent (S105,
    S201); the server's `--contract-threshold` unless the request named one."""
    model_source: Mapped[str | None] = mapped_column(String(16))
    """Where `model` came from: `reported` (supplies.kind), `member`, `product-name`."""
    series_source: Mapped[str | None] = mapped_column(String(16))
    """Where `series` came from: `reported` (supplies.model), `member`, `product-name`."""


class ContractProcess(Base):
    """A contract process (`cloud.contract_change.Process`, stored whole in `state` after every
    event) with what is needed to find it."""

    __tablename__ = "contract_processes"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[str] = mapped_column(String(128), index=True)
    old_printer_id: Mapped[str | None] = mapped_column(Id, index=True)
    new_printer_id: Mapped[str | None] = mapped_column(Id, index=True)
    step: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16), index=True)
    state: Mapped[dict[str, Any]] = mapped_column(Json)
    status_seq: Mapped[int] = mapped_column(Integer)
    """Status entries of its printers up to this sequence number have been read."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Proposal(Base):
    """A question put to the member on the member site (S105, S111, S121, S203)."""

    __tablename__ = "proposals"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("contract_processes.id"), index=True)
    member_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text)
    strongly_recommended: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(16))
    answer: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery:
    """The columns of a row the webhook machinery (`cloud.webhooks.WebhookSender`) delivers:
    its JSON body and its delivery state (a mixin of the delivered tables)."""

    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), index=True)
    """`pending` until the webhook answered 2xx, then `delivered`."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CartridgeOrder(WebhookDelivery, Base):
    """An order of contract cartridges (S110), one per process; its ID is the idempotency key
    sent to the order webhook with every delivery attempt."""

    __tablename__ = "cartridge_orders"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    process_id: Mapped[str] = mapped_column(ForeignKey("contract_processes.id"), unique=True)
    printer_id: Mapped[str] = mapped_column(ForeignKey("printers.id"))


# -- issue 17: meter schedules and snapshots (`cloud.meters`) --------------------------------------

class MeterScheduleRow(Base):
    """A printer's meter schedule (billing day) as the operator set it (`putMeterSchedule`)."""

    __tablename__ = "meter_schedules"
    printer_id: Mapped[str] = mapped_column(ForeignKey("printers.id"), primary_key=True)
    schedule: Mapped[dict[str, Any]] = mapped_column(Json)
    """The `MeterSchedule` object."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MeterReading(Base):
    """A `meter-snapshot` entry received: the first one per printer and period is kept."""

    __tablename__ = "meter_readings"
    __table_args__ = (UniqueConstraint("printer_id", "period"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    printer_id: Mapped[str] = mapped_column(ForeignKey("printers.id"))
    period: Mapped[str] = mapped_column(String(7))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    entry_id: Mapped[str] = mapped_column(Id)
    counters: Mapped[dict[str, Any]] = mapped_column(Json)
    """The entry's `counters.*` data by data type, as uploaded (with sources)."""


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` once the write transaction of `session` has committed (not on rollback)."""
    session.info.setdefault("after_commit", []).append(callback)


class Database:
    """The engine for a URL, the schema, and sessions for reading and for writing."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite database cannot be shared by the server's "
                             "connections: give a file (sqlite+aiosqlite:///path/cloud.db)")
        self.engine = create_async_engine(url)
        self.sqlite = self.engine.dialect.name == "sqlite"
        if self.sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = asyncio.Lock()

    async def create_schema(self, upgrade: bool = False) -> SchemaState:
        """The schema at this code's newest revision (`cloud.migrate.prepare_schema`): made
        in an empty database; `SchemaOutdated` for an older one unless `upgrade`."""
        async with self.engine.begin() as connection:
            return await connection.run_sync(prepare_schema, upgrade)

    async def close(self) -> None:
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed when the block ends, rolled back when it raises."""
        async with contextlib.AsyncExitStack() as stack:
            if self.sqlite:
                await stack.enter_async_context(self._writer)
            session = await stack.enter_async_context(self._sessions())
            async with session.begin():
                yield session
        for callback in session.info.get("after_commit", []):
            callback()

    async def transact(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """`work` in a write transaction, run again (`cloud.db_retry`: at most 5 runs, jittered
        pauses) when it loses a race to a concurrent transaction (PostgreSQL): a unique
        constraint (the next run sees the row the other one committed and answers accordingly:
        same printer ID, duplicate entry, 409…), a deadlock or a serialization failure."""
        attempts = 0
        while True:
            try:
                async with self.write() as session:
                    return await work(session)
            except DBAPIError as exc:
                attempts += 1
                if attempts == db_retry.MAX_ATTEMPTS or not db_retry.lost_race(exc):
                    raise
            await db_retry.pause(attempts)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
