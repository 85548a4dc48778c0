"""Webhook signing secrets, the subscription of an outbox message, and delivery error detail.

Revision ID: 0006
Revises: 0005

``subscriptions.secret`` is the key of the HMAC-SHA256 signature of every delivery to a
webhook subscription, stored as it is (the server must be able to sign with it);
``secret_created_at`` says when it was made or last rotated. Every webhook subscription
that already exists gets a fresh secret here (its owner reads it by rotating it).
``outbox.subscription_id`` names the subscription a webhook message is signed for;
pending webhook messages are linked to the oldest subscription of their URL.
``outbox.error_detail`` keeps the network detail of the last failed attempt, shown to
administrators only; ``last_error`` keeps a reason without it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen copy of the code's key format: this revision must build what it built when written.
_KEY_PREFIX = "whsec_"


def _new_secret() -> str:
    return _KEY_PREFIX + secrets.token_urlsafe(32)


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("secret", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("secret_created_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("subscription_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("error_detail", sa.Text(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_outbox_subscription_id_subscriptions"),
            "subscriptions",
            ["subscription_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(op.f("ix_outbox_subscription_id"), ["subscription_id"])
    _fill(op.get_bind())


def _fill(bind: sa.Connection) -> None:
    subscriptions = sa.table(
        "subscriptions",
        sa.column("id", sa.Integer()),
        sa.column("channel", sa.String()),
        sa.column("target", sa.String()),
        sa.column("secret", sa.String()),
        sa.column("secret_created_at", sa.DateTime(timezone=True)),
    )
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.BigInteger()),
        sa.column("channel", sa.String()),
        sa.column("target", sa.String()),
        sa.column("subscription_id", sa.Integer()),
        sa.column("delivered_at", sa.DateTime(timezone=True)),
        sa.column("failed_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    rows = bind.execute(
        sa.select(subscriptions.c.id, subscriptions.c.target)
        .where(subscriptions.c.channel == "webhook")
        .order_by(subscriptions.c.id)
    ).all()
    first: dict[str, int] = {}
    for subscription_id, target in rows:
        first.setdefault(target, subscription_id)
        bind.execute(
            subscriptions.update()
            .where(subscriptions.c.id == subscription_id)
            .values(secret=_new_secret(), secret_created_at=now)
        )
    for target, subscription_id in first.items():
        bind.execute(
            outbox.update()
            .where(
                outbox.c.channel == "webhook",
                outbox.c.target == target,
                outbox.c.delivered_at.is_(None),
                outbox.c.failed_at.is_(None),
            )
            .values(subscription_id=subscription_id)
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index(op.f("ix_outbox_subscription_id"))
        batch.drop_constraint(op.f("fk_outbox_subscription_id_subscriptions"), type_="foreignkey")
        batch.drop_column("error_detail")
        batch.drop_column("subscription_id")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("secret_created_at")
        batch.drop_column("secret")
