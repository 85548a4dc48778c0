"""The series points index covers the measurement id on PostgreSQL.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_INDEX = "ix_measurements_series_id_job_id_value_unit"
_COLUMNS = ["series_id", "job_id", "value", "unit"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite indexes always carry the rowid
    op.drop_index(_INDEX, table_name="measurements")
    op.create_index(_INDEX, "measurements", _COLUMNS, postgresql_include=["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(_INDEX, table_name="measurements")
    op.create_index(_INDEX, "measurements", _COLUMNS)
