"""A second final lab value is held back as a conflict for staff to decide

Only a corrected (C) result replaces a final one. A second final (F) value for an
analysis that has a final value already, from another filler or with another value, is
stored held back (superseded by the value the resident sees) with conflict = 'open',
until staff keep the earlier value or let the new one replace it.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 05:30:00

"""
import sqlalchemy as sa
from alembic import op


revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("result", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conflict", sa.String(length=10), nullable=True))
        batch_op.add_column(
            sa.Column("conflict_decided_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("conflict_decided_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_result_conflict_decided_by_id_user"),
            "user",
            ["conflict_decided_by_id"],
            ["id"],
        )
    where = sa.text("conflict = 'open'")
    if op.get_bind().dialect.name == "postgresql":
        # result is one of the biggest tables: build the index without locking it
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_result_open_conflict",
                "result",
                ["received_at"],
                postgresql_where=where,
                postgresql_concurrently=True,
            )
    else:
        op.create_index(
            "ix_result_open_conflict", "result", ["received_at"], sqlite_where=where
        )


def downgrade():
    op.drop_index("ix_result_open_conflict", table_name="result")
    with op.batch_alter_table("result", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_result_conflict_decided_by_id_user"), type_="foreignkey"
        )
        batch_op.drop_column("conflict_decided_by_id")
        batch_op.drop_column("conflict_decided_at")
        batch_op.drop_column("conflict")
