"""A resident's read of their own orders and results is in the PDL log before the page is
sent: one event per page view, written in a short transaction of its own; a page whose
event cannot be written is not shown. Served by the real gunicorn (the shipped
configuration: gthread, 2 workers) over plain HTTP, as behind nginx."""

import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from http.client import HTTPConnection
from pathlib import Path

import pytest
from sqlalchemy import select, text

from ep.models import AuditEvent
from tests.support import start_gunicorn
from tests.web.citizen.conftest import csrf_token, released_order

COOKIE = re.compile(r"^([^=;]+)=([^;]*)")
VALUES = {"NPU27300": ("47", 47.0, "H"), "NPU02192": ("5,4", 5.4, None)}


@contextmanager
def gunicorn(config: Path):
    """The real gunicorn with deploy/gunicorn.conf.py on a free port; yields the port."""
    # plain HTTP from 127.0.0.1, as behind nginx
    process, port = start_gunicorn(config, ClientCertificateSource="header")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(port, "/login")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def session_cookie(response) -> str:
    """The session cookie a response sets, as a request sends it back (name=token)."""
    match = COOKIE.match(response.getheader("Set-Cookie", ""))
    assert match, "no session cookie"
    return match.group(0)


def log_in(port: int, personnummer: str) -> str:
    """The dev login, as a browser does it; the session cookie (name=token)."""
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/login")
        response = conn.getresponse()
        token = csrf_token(response.read().decode())
        cookie = session_cookie(response)
        conn.request(
            "POST",
            "/login",
            body=f"csrf_token={token}&personnummer={personnummer}",
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 302
    return session_cookie(response)


def get(port: int, path: str, cookie: str = "") -> tuple[int, str]:
    conn = HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def own_reads(session, action: str | None = None) -> list[AuditEvent]:
    session.commit()  # a fresh read: the server wrote on connections of its own
    query = select(AuditEvent).where(AuditEvent.actor_type == "resident")
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query.order_by(AuditEvent.id)))


@pytest.fixture
def with_results(db_session, resident, catalogue, now):
    """Tolvan with two released DIABETES orders."""
    orders = [
        released_order(
            db_session,
            resident,
            catalogue["DIABETES"],
            when=now - timedelta(days=days),
            values=VALUES,
            now=now,
        )
        for days in (200, 20)
    ]
    db_session.commit()
    return orders


@pytest.fixture
def refused_audit(db_session):
    """The database refuses every new audit event (a trigger), as a failing write would."""
    postgresql = db_session.get_bind().dialect.name == "postgresql"
    if postgresql:
        db_session.execute(
            text(
                "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'audit refused'; END $$"
            )
        )
        db_session.execute(
            text(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_event "
                "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
            )
        )
    else:
        db_session.execute(
            text(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
            )
        )
    db_session.commit()
    yield
    db_session.rollback()
    on_table = " ON audit_event" if postgresql else ""
    db_session.execute(text(f"DROP TRIGGER refuse_audit{on_table}"))
    if postgresql:
        db_session.execute(text("DROP FUNCTION refuse_audit()"))
    db_session.commit()


def test_each_page_of_own_orders_or_results_logs_one_read_of_the_resident(
    dev_app, config_path, db_session, resident, with_results
):
    first, latest = with_results
    pages = {
        "/": ("read:own-start", "person", str(resident.id), "Hej Tolvan"),
        "/results": ("read:own-results", "person", str(resident.id), first.number),
        "/results/print": ("read:own-results", "person", str(resident.id), first.number),
        "/orders": ("read:own-orders", "person", str(resident.id), first.number),
        f"/orders/{latest.id}": ("read:own-order", "order", latest.number, latest.number),
    }
    with gunicorn(config_path) as port:
        cookie = log_in(port, resident.personnummer)
        for path, (action, object_type, object_id, shown) in pages.items():
            before = len(own_reads(db_session))
            status, page = get(port, path, cookie)
            assert status == 200, path
            assert shown in page, path
            events = own_reads(db_session)
            assert len(events) == before + 1, path
            event = events[-1]
            assert (event.action, event.object_type, event.object_id) == (
                action,
                object_type,
                object_id,
            )
            assert (event.actor_id, event.patient_personnummer) == ((resident.personnummer,) * 2)
            assert event.client_addr == "127.0.0.1"
        # pages that show no orders or results log nothing
        before = len(own_reads(db_session))
        for path in ("/offers", "/inbox", "/settings", "/kakor"):
            assert get(port, path, cookie)[0] == 200, path
        assert len(own_reads(db_session)) == before
        # the resident's access log lists who else read their data, not their own reads
        status, page = get(port, "/access-log", cookie)
        assert status == 200
        assert "Läste sin" not in page


def test_many_residents_reading_at_once_each_get_their_page_and_one_event(
    dev_app, config_path, db_session, resident, with_results
):
    """16 at once on both workers: on SQLite every event takes the one write lock; none
    may fail for another's write (a transaction that read before writing would)."""
    with gunicorn(config_path) as port:
        cookie = log_in(port, resident.personnummer)
        before = len(own_reads(db_session, "read:own-results"))

        def read(_):
            return [get(port, "/results", cookie)[0] for _ in range(8)]

        with ThreadPoolExecutor(16) as pool:
            statuses = [s for batch in pool.map(read, range(16)) for s in batch]
        assert statuses == [200] * 128
        assert len(own_reads(db_session, "read:own-results")) == before + 128


def test_a_page_whose_read_cannot_be_logged_is_not_shown(
    dev_app, config_path, db_session, resident, with_results, refused_audit
):
    with gunicorn(config_path) as port:
        cookie = log_in(port, resident.personnummer)
        for path in ("/", "/results", "/orders", f"/orders/{with_results[1].id}"):
            status, page = get(port, path, cookie)
            assert status == 500, path
            assert with_results[1].number not in page, path
            assert "B-HbA1c" not in page, path
        # pages that log nothing are still shown
        assert get(port, "/settings", cookie)[0] == 200
    assert own_reads(db_session) == []
