"""The integration API and the MLLP receiver

- api_idempotency: the answer given to each Idempotency-Key, per calling system
- mllp_listener: each `ep mllp serve` listener's state, for the health check
- order.sampled_location_id: where a sampling system says the sample was taken

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 05:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "api_idempotency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_hsa_id", sa.String(length=31), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency")),
        sa.UniqueConstraint(
            "client_hsa_id", "key", name=op.f("uq_api_idempotency_client_hsa_id_key")
        ),
    )
    with op.batch_alter_table("api_idempotency", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_idempotency_created_at"), ["created_at"])

    op.create_table(
        "mllp_listener",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("listening_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mllp_listener")),
        sa.UniqueConstraint("hostname", "address", name=op.f("uq_mllp_listener_hostname_address")),
    )

    # a nullable column without a default: no rewrite of the order table
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("order", sa.Column("sampled_location_id", sa.Integer(), nullable=True))
        # the order table is big: the foreign key checked apart, the index built without
        # locking out writes
        op.create_foreign_key(
            "fk_order_sampled_location_id_sampling_location",
            "order",
            "sampling_location",
            ["sampled_location_id"],
            ["id"],
            postgresql_not_valid=True,
        )
        with op.get_context().autocommit_block():
            op.execute(
                'ALTER TABLE "order" VALIDATE CONSTRAINT '
                "fk_order_sampled_location_id_sampling_location"
            )
            op.create_index(
                "ix_order_sampled_location_id",
                "order",
                ["sampled_location_id"],
                postgresql_concurrently=True,
            )
        return
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sampled_location_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_order_sampled_location_id_sampling_location"),
            "sampling_location",
            ["sampled_location_id"],
            ["id"],
        )
    op.create_index("ix_order_sampled_location_id", "order", ["sampled_location_id"])

def downgrade():
    op.drop_index("ix_order_sampled_location_id", table_name="order")
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_order_sampled_location_id_sampling_location"), type_="foreignkey"
        )
        batch_op.drop_column("sampled_location_id")
    op.drop_table("mllp_listener")
    with op.batch_alter_table("api_idempotency", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_idempotency_created_at"))
    op.drop_table("api_idempotency")
