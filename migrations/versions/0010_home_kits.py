"""Home kits: the delivery address confirmed at order, and when staff posted the kit;
per analysis, what a result means and the next step, by outcome, in Swedish and English

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-01 06:20:00

"""
import sqlalchemy as sa
from alembic import op


revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None


GUIDANCE = [
    f"{outcome}_{part}_{language}"
    for outcome in ("abnormal", "normal")
    for part in ("meaning", "next")
    for language in ("sv", "en")
]


def upgrade():
    with op.batch_alter_table("analysis", schema=None) as batch_op:
        for name in GUIDANCE:
            batch_op.add_column(sa.Column(name, sa.Text(), nullable=True))
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_address", sa.String(length=300), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # kit grows with every home test: the foreign key checked apart, the index built
        # without locking out writes
        op.add_column("kit", sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        op.add_column("kit", sa.Column("sent_by_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_kit_sent_by_id_user", "kit", "user", ["sent_by_id"], ["id"],
            postgresql_not_valid=True,
        )
        with op.get_context().autocommit_block():
            op.execute("ALTER TABLE kit VALIDATE CONSTRAINT fk_kit_sent_by_id_user")
            op.create_index(
                "ix_kit_sent_by_id", "kit", ["sent_by_id"], postgresql_concurrently=True
            )
        return
    with op.batch_alter_table("kit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sent_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_kit_sent_by_id_user"), "user", ["sent_by_id"], ["id"]
        )
        # a new column, NULL in every row: the index is empty when built
        batch_op.create_index(batch_op.f("ix_kit_sent_by_id"), ["sent_by_id"], unique=False)

def downgrade():
    with op.batch_alter_table("kit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kit_sent_by_id"))
        batch_op.drop_constraint(batch_op.f("fk_kit_sent_by_id_user"), type_="foreignkey")
        batch_op.drop_column("sent_by_id")
        batch_op.drop_column("sent_at")
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.drop_column("delivery_address")
    with op.batch_alter_table("analysis", schema=None) as batch_op:
        for name in reversed(GUIDANCE):
            batch_op.drop_column(name)
