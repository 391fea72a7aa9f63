"""PURGE may delete audit events older than five years, and nothing younger

The audit log stays append-only: every UPDATE and every DELETE is still refused, except a
DELETE of an event older than five years (by the database's own clock) in a transaction
that has said it is purging (SET LOCAL ep.purge_audit = 'on'). So the legal minimum is
enforced by the database itself, whatever RetainAuditEventsDays says.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 08:55:00

"""
from alembic import op


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PURGE_AFTER_FIVE_YEARS = """
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND current_setting('ep.purge_audit', true) = 'on'
       AND OLD.at < now() - interval '5 years' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only (PDL): % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only (PDL): % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PURGE_AFTER_FIVE_YEARS)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)
