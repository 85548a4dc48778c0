"""Log search blocks (trigrams under FTS5 on SQLite, GIN on PostgreSQL), live events, and
log lines without a foreign key.

Revision ID: 0005
Revises: 0004

``log_blocks`` holds the distinct trigrams of each block of up to 1,024 consecutive log
lines; SQLite indexes them with the FTS5 table ``log_blocks_fts`` (kept in step by
triggers), PostgreSQL with a GIN index. On PostgreSQL the line id sequence then counts
in steps of 1,024: each ``nextval`` reserves the ids of one block, so that the blocks of
writers running at once never overlap. Lines already stored are indexed here, 1,024 at a
time in id order. ``live_events`` carries the live events from the process that commits
a change to the streaming clients of every process. ``log_lines.run_id`` loses its
foreign key, whose check cost each line as much as the rest of its insert.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Frozen copies of the code's values: this revision must build what it built when written.
_BLOCK_LINES = 1024
_GIN = "ix_log_blocks_grams"


def _grams(messages: list[str]) -> list[int]:
    data = "\n".join(messages).casefold().encode("utf-8", "surrogatepass")
    if len(data) < 3:
        return []
    raw = np.frombuffer(data, dtype=np.uint8).astype(np.int32)
    return cast("list[int]", np.unique((raw[:-2] << 16) | (raw[1:-1] << 8) | raw[2:]).tolist())


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    with op.batch_alter_table("log_lines") as batch:
        batch.drop_constraint("fk_log_lines_run_id_log_runs", type_="foreignkey")
    op.create_table(
        "log_blocks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column(
            "grams",
            sa.Text().with_variant(postgresql.ARRAY(sa.Integer()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["log_runs.id"],
            name=op.f("fk_log_blocks_run_id_log_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_blocks")),
    )
    op.create_index(op.f("ix_log_blocks_run_id_id"), "log_blocks", ["run_id", "id"])
    op.create_table(
        "live_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "topics",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_events")),
    )
    if postgres:
        op.create_index(_GIN, "log_blocks", ["grams"], postgresql_using="gin")
        # The sequence of log_lines.id (a BIGSERIAL since revision 0003).
        op.execute("ALTER SEQUENCE log_lines_id_seq INCREMENT BY 1024")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE log_blocks_fts USING fts5(grams, content='log_blocks',"
            " content_rowid='id', detail='none', columnsize=0)"
        )
        op.execute(
            "CREATE TRIGGER log_blocks_fts_insert AFTER INSERT ON log_blocks BEGIN"
            " INSERT INTO log_blocks_fts(rowid, grams) VALUES (new.id, new.grams); END"
        )
        op.execute(
            "CREATE TRIGGER log_blocks_fts_delete AFTER DELETE ON log_blocks BEGIN"
            " INSERT INTO log_blocks_fts(log_blocks_fts, rowid, grams)"
            " VALUES ('delete', old.id, old.grams); END"
        )
    _index_stored_lines(bind, postgres)


def _index_stored_lines(bind: sa.Connection, postgres: bool) -> None:
    blocks = sa.table(
        "log_blocks",
        sa.column("id", sa.BigInteger()),
        sa.column("last_id", sa.BigInteger()),
        sa.column("run_id", sa.Integer()),
        sa.column("grams"),
    )
    query = sa.text("SELECT id, run_id, message FROM log_lines ORDER BY id")
    rows = bind.execute(query.execution_options(stream_results=True, yield_per=_BLOCK_LINES))
    for part in rows.partitions(_BLOCK_LINES):
        runs = {run_id for _, run_id, _ in part}
        grams = _grams([message for _, _, message in part])
        bind.execute(
            blocks.insert().values(
                id=part[0][0],
                last_id=part[-1][0],
                run_id=runs.pop() if len(runs) == 1 else None,
                grams=grams if postgres else " ".join(f"{code:06x}" for code in grams),
            )
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER SEQUENCE log_lines_id_seq INCREMENT BY 1")
        op.drop_index(_GIN, table_name="log_blocks")
    else:
        op.execute("DROP TRIGGER log_blocks_fts_delete")
        op.execute("DROP TRIGGER log_blocks_fts_insert")
        op.execute("DROP TABLE log_blocks_fts")
    op.drop_table("live_events")
    op.drop_index(op.f("ix_log_blocks_run_id_id"), table_name="log_blocks")
    op.drop_table("log_blocks")
    with op.batch_alter_table("log_lines") as batch:
        batch.create_foreign_key(
            "fk_log_lines_run_id_log_runs", "log_runs", ["run_id"], ["id"], ondelete="CASCADE"
        )
