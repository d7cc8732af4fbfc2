"""The `jobs` table (revision 0002, issue 21): timers run once across workers (`cloud.jobs`).

Written out like 0001 (`cloud.db.UTCDateTime` is a naive `DateTime`), so this file never changes
when the model does.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_run_by", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name")
    )


def downgrade() -> None:
    op.drop_table("jobs")
