"""Jobs keep the hash of their content, to tell a resent job from a different one.

Revision ID: 0008
Revises: 0007

``jobs.content_hash`` is the SHA-256 of the canonical JSON of the job's measurements,
meta and blobs as received (see ``services/jobs.py``, ``content_hash``). A job sent again
with the same identifier is the same job when the hashes agree (200) and a conflict when
they differ (409). Jobs stored before this revision keep NULL: a resend of one of them is
taken as the same job, as it was before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("content_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("content_hash")
