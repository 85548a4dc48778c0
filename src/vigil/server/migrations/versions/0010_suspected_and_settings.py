"""Early warnings: suspected regressions, and who is told of them.

Revision ID: 0010
Revises: 0009

``regressions.suspected`` marks a record made from the newest values of a series before a
change point can be confirmed; later values confirm it (``suspected`` false) or dissolve
it. ``regressions.suspicion_announced`` says the suspicion was told to the subscribers who
asked for suspicions, so that they are not told again at its confirmation.
``subscriptions.notify_on`` is ``confirmed`` (every existing subscription) or
``suspected``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("regressions") as batch:
        batch.add_column(
            sa.Column("suspected", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column(
                "suspicion_announced", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(
            sa.Column("notify_on", sa.String(length=16), nullable=False, server_default="confirmed")
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("notify_on")
    with op.batch_alter_table("regressions") as batch:
        batch.drop_column("suspicion_announced")
        batch.drop_column("suspected")
