"""Release 0.1.0's schema, written out (revision 0001).

Generated with Alembic's autogenerate from the models of release 0.1.0 (commit f6d9649) against
an empty database, then reviewed: the models' own types are replaced by what they store
(`cloud.db.UTCDateTime` is a naive `DateTime`, `Json` a `JSON`), so that this file never changes
when the models do.  A database made by 0.1.0 (`metadata.create_all`, no `alembic_version`) is
stamped with this revision (`cloud.migrate`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _index(table: str, column: str) -> None:
    """The index `index=True` gave one column: `ix_<table>_<column>`."""
    op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    op.create_table(
        "contract_processes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("old_printer_id", sa.String(length=36), nullable=True),
        sa.Column("new_printer_id", sa.String(length=36), nullable=True),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("status_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id")
    )
    _index("contract_processes", "member_id")
    _index("contract_processes", "new_printer_id")
    _index("contract_processes", "old_printer_id")
    _index("contract_processes", "outcome")
    op.create_table(
        "enrolment_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("spent_at", sa.DateTime(), nullable=True),
        sa.Column("gateway_id", sa.String(length=36), nullable=True),
        sa.Column("replay_key_hash", sa.String(length=64), nullable=True),
        sa.Column("replay_credential", sa.LargeBinary(), nullable=True),
        sa.Column("replay_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash")
    )
    op.create_table(
        "gateways",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("software_version", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(), nullable=False),
        sa.Column("change_seq", sa.Integer(), nullable=False),
        sa.Column("pruned_through", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash")
    )
    op.create_table(
        "idempotent_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope", "principal", "key")
    )
    _index("idempotent_requests", "created_at")
    op.create_table(
        "member_notices",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key")
    )
    _index("member_notices", "member_id")
    _index("member_notices", "state")
    op.create_table(
        "services",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("outline", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(length=256), nullable=False),
        sa.Column("data_types", sa.JSON(), nullable=False),
        sa.Column("compatible_cartridge_models", sa.JSON(), nullable=False),
        sa.Column("activation_by_first_upload", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=True),
        sa.Column("provider_endpoint", sa.String(length=2048), nullable=True),
        sa.Column("required_functions", sa.JSON(), nullable=True),
        sa.Column("order_threshold_percent", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id")
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("attempted_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id")
    )
    op.create_index("ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id", "id"])
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gateway_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gateway_id", "seq")
    )
    _index("changes", "occurred_at")
    op.create_table(
        "printers",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("gateway_id", sa.String(length=36), nullable=False),
        sa.Column("serial", sa.String(length=128), nullable=False),
        sa.Column("product_name", sa.String(length=256), nullable=False),
        sa.Column("manufacturer", sa.String(length=128), nullable=False),
        sa.Column("shipping_destination", sa.String(length=8), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("device_type", sa.String(length=16), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=True),
        sa.Column("mac", sa.String(length=17), nullable=True),
        sa.Column("firmware", sa.String(length=128), nullable=True),
        sa.Column("sys_object_id", sa.Text(), nullable=True),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("current_data_types", sa.JSON(), nullable=True),
        sa.Column("last_status_at", sa.DateTime(), nullable=True),
        sa.Column("contract", sa.JSON(), nullable=True),
        sa.Column("contract_read_at", sa.DateTime(), nullable=True),
        sa.Column("contract_supported", sa.Boolean(), nullable=True),
        sa.Column("contract_requested", sa.JSON(), nullable=True),
        sa.Column("unavailable_data_types", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("gateway_id", "serial"),
        sa.UniqueConstraint("id")
    )
    _index("printers", "gateway_id")
    op.create_table(
        "proposals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("process_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("strongly_recommended", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.String(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["process_id"], ["contract_processes.id"], ),
        sa.PrimaryKeyConstraint("id")
    )
    _index("proposals", "member_id")
    _index("proposals", "process_id")
    op.create_table(
        "applications",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("printer_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("application_id", sa.String(length=64), nullable=True),
        sa.Column("cancelled_application_id", sa.String(length=64), nullable=True),
        sa.Column("application_date", sa.Date(), nullable=False),
        sa.Column("activation_state", sa.String(length=16), nullable=False),
        sa.Column("activated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["printer_id"], ["printers.id"], ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("application_id"),
        sa.UniqueConstraint("printer_id", "service_id")
    )
    _index("applications", "cancelled_application_id")
    _index("applications", "printer_id")
    _index("applications", "service_id")
    op.create_table(
        "cartridge_bindings",
        sa.Column("cartridge_id", sa.String(length=128), nullable=False),
        sa.Column("printer_id", sa.String(length=36), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["printer_id"], ["printers.id"], ),
        sa.PrimaryKeyConstraint("cartridge_id")
    )
    _index("cartridge_bindings", "printer_id")
    op.create_table(
        "cartridge_moves",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cartridge_id", sa.String(length=128), nullable=False),
        sa.Column("from_printer_id", sa.String(length=36), nullable=False),
        sa.Column("to_printer_id", sa.String(length=36), nullable=False),
        sa.Column("moved_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["from_printer_id"], ["printers.id"], ),
        sa.ForeignKeyConstraint(["to_printer_id"], ["printers.id"], ),
        sa.PrimaryKeyConstraint("id")
    )
    _index("cartridge_moves", "cartridge_id")
    op.create_table(
        "cartridge_orders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("process_id", sa.String(length=36), nullable=False),
        sa.Column("printer_id", sa.String(length=36), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["printer_id"], ["printers.id"], ),
        sa.ForeignKeyConstraint(["process_id"], ["contract_processes.id"], ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("process_id")
    )
    _index("cartridge_orders", "state")
    op.create_table(
        "commands",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("printer_id", sa.String(length=36), nullable=False),
        sa.Column("gateway_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.JSON(), nullable=True),
        sa.Column("contract_state", sa.JSON(), nullable=True),
        sa.Column("service_setting", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], ),
        sa.ForeignKeyConstraint(["printer_id"], ["printers.id"], ),
        sa.PrimaryKeyConstraint("id")
    )
    _index("commands", "gateway_id")
    _index("commands", "printer_id")
    op.create_table(
        "contract_usage",
        sa.Column("printer_id", sa.String(length=36), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("base_counter", sa.Integer(), nullable=False),
        sa.Column("last_counter", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("counted_before_reset", sa.Integer(), nullable=False),
        sa.Column("last_read_at", sa.DateTime(), nullable=False),
        sa.Column("limit_reached_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["printer_id"], ["printers.id"], ),
        sa.PrimaryKeyConstraint("printer_id", "period")
    )
    op.create_table(
        "meter_readings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("printer_id", sa.String(length=36), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("counters", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["printer_id"], ["printers.id"], ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("printer_id", "period")
    )
    op.create_table(
        "meter_schedules",
        sa.Column("printer_id", sa.String(length=36), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["printer_id"], ["printers.id"], ),
        sa.PrimaryKeyConstraint("printer_id")
    )
    op.create_table(
        "printer_contracts",
        sa.Column("printer_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("flag", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("printing_prohibited", sa.Boolean(), nullable=False),
        sa.Column("page_limit", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("series", sa.String(length=128), nullable=False),
        sa.Column("process_id", sa.String(length=36), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("threshold_percent", sa.Integer(), nullable=False),
        sa.Column("model_source", sa.String(length=16), nullable=True),
        sa.Column("series_source", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["printer_id"], ["printers.id"], ),
        sa.PrimaryKeyConstraint("printer_id")
    )
    _index("printer_contracts", "member_id")
    op.create_table(
        "provider_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("printer_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["printer_id"], ["printers.id"], ),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"], ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key")
    )
    _index("provider_deliveries", "printer_id")
    _index("provider_deliveries", "service_id")
    _index("provider_deliveries", "state")
    op.create_table(
        "statuses",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gateway_id", sa.String(length=36), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("printer_id", sa.String(length=36), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("event_detail", sa.JSON(), nullable=True),
        sa.Column("application_ids", sa.JSON(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("data_types", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], ),
        sa.ForeignKeyConstraint(["printer_id"], ["printers.id"], ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("gateway_id", "entry_id")
    )
    op.create_index("ix_statuses_printer_seq", "statuses", ["printer_id", "seq"])
    op.create_table(
        "supply_cycles",
        sa.Column("printer_id", sa.String(length=36), nullable=False),
        sa.Column("supply_index", sa.String(length=32), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("last_level", sa.Integer(), nullable=True),
        sa.Column("cartridge_id", sa.String(length=128), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["printer_id"], ["printers.id"], ),
        sa.PrimaryKeyConstraint("printer_id", "supply_index")
    )


def downgrade() -> None:
    for table in ("supply_cycles", "statuses", "provider_deliveries", "printer_contracts",
                  "meter_schedules", "meter_readings", "contract_usage", "commands",
                  "cartridge_orders", "cartridge_moves", "cartridge_bindings", "applications",
                  "proposals", "printers", "changes", "webhook_attempts", "services",
                  "member_notices", "idempotent_requests", "gateways", "enrolment_tokens",
                  "contract_processes"):
        op.drop_table(table)
