"""Roles of users and tokens, token expiry, web sessions and the audit log.

Revision ID: 0007
Revises: 0006

``users.roles`` and ``tokens.roles`` hold role names separated by spaces. Users that
exist get ``admin`` when they were administrators, else ``submitter triager`` (what
any token could do before: post jobs and triage), so that the CI tokens that exist keep
working; each existing token gets its user's roles. ``tokens.expires_at`` is new; the
tokens that exist keep ``NULL``, which means "made before tokens expired: never
expires" (listed as such by ``vigil token list``, for an administrator to revoke).
``web_sessions`` holds the web log-ins (the SHA-256 of the cookie's key), ``audit_log``
the administrative actions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Frozen copies of the code's values: this revision must build what it built when written.
_ADMIN_ROLES = "admin"
_LEGACY_ROLES = "submitter triager"


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: SQLite would otherwise copy ``users``, whose
    # drop (foreign keys on) would cascade to every table referring to it.
    op.add_column(
        "users", sa.Column("roles", sa.String(length=128), server_default="", nullable=False)
    )
    op.add_column(
        "tokens", sa.Column("roles", sa.String(length=128), server_default="", nullable=False)
    )
    op.add_column("tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    _fill(op.get_bind())
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("roles", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_web_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["tokens.id"],
            name=op.f("fk_web_sessions_token_id_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_web_sessions_key_hash")),
    )
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"])
    op.create_index(op.f("ix_web_sessions_token_id"), "web_sessions", ["token_id"])
    op.create_index(op.f("ix_web_sessions_expires_at"), "web_sessions", ["expires_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=1024), nullable=False),
        sa.Column(
            "summary",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_audit_log_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_action_id"), "audit_log", ["action", "id"])


def _fill(bind: sa.Connection) -> None:
    users = sa.table(
        "users",
        sa.column("id", sa.Integer()),
        sa.column("is_admin", sa.Boolean()),
        sa.column("roles", sa.String()),
    )
    tokens = sa.table("tokens", sa.column("user_id", sa.Integer()), sa.column("roles", sa.String()))
    bind.execute(users.update().where(users.c.is_admin.is_(True)).values(roles=_ADMIN_ROLES))
    bind.execute(
        users.update()
        .where(sa.or_(users.c.is_admin.is_(False), users.c.is_admin.is_(None)))
        .values(roles=_LEGACY_ROLES)
    )
    owner_roles = sa.select(users.c.roles).where(users.c.id == tokens.c.user_id).scalar_subquery()
    bind.execute(tokens.update().values(roles=owner_roles))


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_action_id"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_web_sessions_expires_at"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_token_id"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    # DROP COLUMN in place (SQLite 3.35+), for the same reason as the ADD COLUMN above.
    op.execute("ALTER TABLE tokens DROP COLUMN expires_at")
    op.execute("ALTER TABLE tokens DROP COLUMN roles")
    op.execute("ALTER TABLE users DROP COLUMN roles")
