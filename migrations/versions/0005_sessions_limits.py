"""server-side sessions and rate-limit counters

web_session: a resident's (or any browser's) session; the cookie carries only a random
token, whose hash is the key, so a logout or an idle session really ends it.
rate_limit_counter: fixed-window counters of the rate limits on login, kit codes and
staff look-ups, shared by every worker and host.

Both tables are new and empty, so their indexes need no CONCURRENTLY.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 05:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "web_session",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_web_session")),
    )
    op.create_index(
        op.f("ix_web_session_last_seen_at"), "web_session", ["last_seen_at"], unique=False
    )
    op.create_table(
        "rate_limit_counter",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_counter")),
    )
    op.create_index(
        op.f("ix_rate_limit_counter_expires_at"),
        "rate_limit_counter",
        ["expires_at"],
        unique=False,
    )


def downgrade():
    op.drop_index(op.f("ix_rate_limit_counter_expires_at"), table_name="rate_limit_counter")
    op.drop_table("rate_limit_counter")
    op.drop_index(op.f("ix_web_session_last_seen_at"), table_name="web_session")
    op.drop_table("web_session")
