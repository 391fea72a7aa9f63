"""batch_run.queued: notifications queued, counted apart from those sent

A run's history shows queued, sent (succeeded), failed and skipped apart, so a run that
queued 20,000 reminders and then failed on the provider no longer reads as 20,000 done.
(The new run state "stopped" fits the existing status column.)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 05:40:00

"""
import sqlalchemy as sa
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("batch_run") as batch_op:
        batch_op.add_column(sa.Column("queued", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("batch_run") as batch_op:
        batch_op.drop_column("queued")
