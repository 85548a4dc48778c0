"""One record per change: the failing specifications inside a record, and fixed-by links.

Revision ID: 0009
Revises: 0008

``regressions.specifications`` lists the names of the specifications a record makes fail
(a change of level) or holds (a ``spec_failure``: one record per series, no longer one
per specification); records made before hold their one ``specification`` in it.
``regressions.fixed_by_job_id`` is the first job back at the earlier level when a later
change undid this one (the record is then ``fixed``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("regressions") as batch:
        batch.add_column(sa.Column("specifications", _JSON, nullable=True))
        batch.add_column(sa.Column("fixed_by_job_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_regressions_fixed_by_job_id_jobs"),
            "jobs",
            ["fixed_by_job_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(op.f("ix_regressions_fixed_by_job_id"), ["fixed_by_job_id"])
    regressions = sa.table(
        "regressions",
        sa.column("id", sa.Integer()),
        sa.column("specification", sa.String()),
        sa.column("specifications", _JSON),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(regressions.c.id, regressions.c.specification).where(
            regressions.c.specification.is_not(None)
        )
    ).all()
    for regression_id, name in rows:
        bind.execute(
            regressions.update()
            .where(regressions.c.id == regression_id)
            .values(specifications=[name])
        )


def downgrade() -> None:
    with op.batch_alter_table("regressions") as batch:
        batch.drop_index(op.f("ix_regressions_fixed_by_job_id"))
        batch.drop_constraint(op.f("fk_regressions_fixed_by_job_id_jobs"), type_="foreignkey")
        batch.drop_column("fixed_by_job_id")
        batch.drop_column("specifications")
