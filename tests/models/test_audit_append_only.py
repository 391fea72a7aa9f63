import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError

from ep.models import AuditEvent
from tests.support import is_postgres


@pytest.fixture
def event(db_session, now):
    row = AuditEvent(at=now, actor_type="system", actor_id="test", action="read:results")
    db_session.add(row)
    db_session.commit()
    return row


@pytest.fixture
def postgres_only(database_url):
    if not is_postgres(database_url):
        pytest.skip("the append-only trigger is PostgreSQL's (set EP_TEST_DATABASE_URL)")


@pytest.mark.postgres
def test_an_update_of_the_audit_log_fails_in_the_database(postgres_only, db_session, event):
    with pytest.raises(DBAPIError, match="append-only"):
        db_session.execute(update(AuditEvent).values(action="nothing to see"))
    db_session.rollback()


@pytest.mark.postgres
def test_a_delete_from_the_audit_log_fails_in_the_database(postgres_only, db_session, event):
    with pytest.raises(DBAPIError, match="append-only"):
        db_session.execute(delete(AuditEvent))
    db_session.rollback()
