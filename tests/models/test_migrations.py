"""The migrations and the models describe the same schema, on SQLite and PostgreSQL."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select

from ep.extensions import db
from ep.models import AuditEvent, Base
from ep.timeutil import utcnow


def test_autogenerate_finds_no_difference_between_models_and_migrations(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_the_test_database_is_at_the_latest_revision(app):
    head = ScriptDirectory(app.extensions["migrate"].directory).get_current_head()
    with app.app_context(), db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head


def test_timestamps_come_back_timezone_aware_in_utc(db_session, now):
    db_session.add(AuditEvent(at=now, actor_type="system", actor_id="test", action="test"))
    db_session.commit()
    db_session.expire_all()
    stored = db_session.scalar(select(AuditEvent.at))
    assert stored.tzinfo is not None
    assert stored == now


def test_a_naive_timestamp_is_refused(db_session):
    naive = utcnow().replace(tzinfo=None)
    db_session.add(AuditEvent(at=naive, actor_type="system", actor_id="t", action="t"))
    with pytest.raises(Exception, match="naive datetime"):
        db_session.flush()
