"""Region scale: every foreign key indexed, partial indexes for what waits, PURGE by date

A region's five years (a million residents, 3 M orders, 12 M results) made three things
grow with history: a delete of one row scanned each table whose foreign key to it had no
index (PURGE: about a second per deleted result), the batches and operator pages read
every released order or imported lab message to find the few still waiting, and PURGE
looked for what is past retention among everything kept. Each index below names the query
that needs it.

On PostgreSQL the indexes are built CONCURRENTLY, outside a transaction, so a running
installation keeps writing while they are built (minutes on the big tables). A build that
was interrupted leaves an invalid index; it is dropped and built again on the next upgrade.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 05:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# (index, table, columns, partial-index condition or None)
INDEXES = (
    # foreign keys, each indexed on its referencing side: deleting the referenced row
    # (PURGE deletes orders, results, lab messages and batch runs) looks them up
    ("ix_offer_package_id", "offer", ["package_id"], None),
    ("ix_offer_assigned_by_id", "offer", ["assigned_by_id"], None),
    ("ix_kit_package_id", "kit", ["package_id"], None),
    ("ix_order_package_id", "order", ["package_id"], None),
    ("ix_order_location_id", "order", ["location_id"], None),
    ("ix_order_sampled_by_id", "order", ["sampled_by_id"], None),
    ("ix_order_contacted_by_id", "order", ["contacted_by_id"], "contacted_by_id IS NOT NULL"),
    ("ix_inbox_message_order_id", "inbox_message", ["order_id"], None),
    (
        "ix_lab_message_resolved_by_id",
        "lab_message",
        ["resolved_by_id"],
        "resolved_by_id IS NOT NULL",
    ),
    ("ix_result_analysis_id", "result", ["analysis_id"], None),
    # also PURGE's "no kept result refers to this lab message"
    ("ix_result_lab_message_id", "result", ["lab_message_id"], None),
    (
        "ix_result_superseded_by_id",
        "result",
        ["superseded_by_id"],
        "superseded_by_id IS NOT NULL",
    ),
    ("ix_result_entered_by_id", "result", ["entered_by_id"], "entered_by_id IS NOT NULL"),
    ("ix_package_analysis_analysis_id", "package_analysis", ["analysis_id"], None),
    ("ix_batch_heartbeat_last_run_id", "batch_heartbeat", ["last_run_id"], None),
    ("ix_batch_heartbeat_running_run_id", "batch_heartbeat", ["running_run_id"], None),
    # NOTIFYRESULTS: the results not yet released, not every order ever released
    (
        "ix_result_unreleased_order_id",
        "result",
        ["order_id"],
        "released_at IS NULL AND superseded_at IS NULL",
    ),
    # the quarantined count (operator page, /metrics, ep check) and the unmatched worklist
    (
        "ix_lab_message_quarantined",
        "lab_message",
        ["status", "received_at"],
        "status IN ('rejected', 'unmatched') AND resolved_at IS NULL",
    ),
    # the STI worklist: orders held for staff contact, oldest result first
    (
        "ix_order_held_resulted_at",
        "order",
        ["resulted_at", "id"],
        "held_for_contact IS true AND contacted_at IS NULL",
    ),
    # NOTIFYREMINDERS: the order finders walk the orders waiting for sampling by id, the
    # offer finders the active and the recurring offers
    ("ix_order_open_id", "order", ["id"], "status = 'ordered'"),
    ("ix_offer_active_id", "offer", ["id"], "status = 'active'"),
    ("ix_offer_recurring_id", "offer", ["id"], "recurrence_months IS NOT NULL"),
    # PURGE: what is past retention is found by date among the old rows only
    ("ix_order_ordered_at", "order", ["ordered_at"], None),
    ("ix_offer_valid_until", "offer", ["valid_until"], None),
    ("ix_notification_created_at", "notification", ["created_at"], None),
    ("ix_inbox_message_created_at", "inbox_message", ["created_at"], None),
    ("ix_lab_message_received_at", "lab_message", ["received_at"], None),
    ("ix_batch_run_finished_at", "batch_run", ["finished_at"], None),
)


def _where(condition: str | None, dialect: str) -> dict:
    if condition is None:
        return {}
    # SQLite spells true as 1
    text = condition.replace("IS true", "IS 1") if dialect == "sqlite" else condition
    return {f"{dialect}_where": sa.text(text)}


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect != "postgresql":
        for name, table, columns, condition in INDEXES:
            op.create_index(name, table, columns, **_where(condition, dialect))
        return
    with op.get_context().autocommit_block():
        for name, table, columns, condition in INDEXES:
            # an interrupted CONCURRENTLY build leaves an invalid index behind
            op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
            op.create_index(
                name, table, columns, postgresql_concurrently=True, **_where(condition, dialect)
            )


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect != "postgresql":
        for name, table, _columns, _condition in reversed(INDEXES):
            op.drop_index(name, table_name=table)
        return
    with op.get_context().autocommit_block():
        for name, table, _columns, _condition in reversed(INDEXES):
            op.drop_index(name, table_name=table, postgresql_concurrently=True)
