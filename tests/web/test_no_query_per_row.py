"""No list page runs a query per row: each renders with 1 and with 30 rows in the same
number of SQL statements.

A query per row is invisible on a test database and costs a region dearly (the staff
patient page ran 45 statements for a resident with 87 orders). Counting statements is
cheap and does not depend on the machine, so it runs with every `make test`.
"""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event
from stdnum import luhn

from ep.domain.demo import load_demo
from ep.extensions import db
from ep.models import (
    AuditEvent,
    BatchRun,
    InboxMessage,
    LabMessage,
    Offer,
    Order,
    Package,
    Person,
    Result,
    SamplingLocation,
    User,
)
from ep.models.batches import BatchHeartbeat
from ep.timeutil import utcnow
from tests.pki import PKI

HTTPS = "https://localhost"
RESIDENT = "191212121212"


def personnummer(serial: int) -> str:
    body = f"800101{serial:03d}"
    return f"19{body}{luhn.calc_check_digit(body)}"


def _order(session, person, package, location, now, *, status="released", **extra):
    order = Order(
        number=f"EP-{person.id:04d}-{extra.pop('serial', 0):04d}"[:20],
        person_id=person.id,
        package_id=package.id,
        location_id=location.id,
        status=status,
        ordered_at=now - timedelta(days=10),
        expires_at=now + timedelta(days=20),
        sampled_at=now - timedelta(days=9),
        resulted_at=now - timedelta(days=8),
        released_at=now - timedelta(days=8) if status == "released" else None,
        **extra,
    )
    session.add(order)
    session.flush()
    for code in ("NPU27300", "NPU02192"):
        session.add(
            Result(
                order_id=order.id,
                analysis_code=code,
                value_text="Positiv" if extra.get("held_for_contact") else "5,1",
                value_numeric=None if extra.get("held_for_contact") else 5.1,
                flag="POS" if extra.get("held_for_contact") else "N",
                status="F",
                received_at=now - timedelta(days=8),
                released_at=order.released_at,
            )
        )
    return order


def seed(session, numbers: range, now) -> dict:
    """A row of everything a list page shows for each number, each with its own related
    rows (location, package, resident, user), so a lazy load per row would show."""
    load_demo(session, now=now)
    person = session.query(Person).filter_by(personnummer=RESIDENT).one()
    packages = session.query(Package).order_by(Package.id).all()
    location = session.query(SamplingLocation).first()
    for number in numbers:
        place = SamplingLocation(code=f"L{number}", name=f"Provtagning {number}", city="Stad")
        session.add(place)
        session.flush()
        package = packages[number % len(packages)]
        _order(session, person, package, place, now, serial=number)
        session.add(
            Offer(
                person_id=person.id,
                package_id=package.id,
                valid_from=now - timedelta(days=1),
                valid_until=now + timedelta(days=30),
                status="active",
            )
        )
        session.add(
            InboxMessage(
                person_id=person.id,
                dedupe_key=f"test:{number}",
                subject=f"Meddelande {number}",
                body="Text",
                created_at=now - timedelta(minutes=number),
            )
        )
        user = User(hsa_id=f"SE2321000016-U{number:03d}", name=f"Användare {number}")
        session.add(user)
        session.add(
            AuditEvent(
                at=now - timedelta(minutes=number),
                actor_type="user",
                actor_id=user.hsa_id,
                actor_name=user.name,
                patient_personnummer=RESIDENT,
                action="read:patient",
            )
        )
        held = Person(personnummer=personnummer(number), given_name=f"Person {number}")
        session.add(held)
        session.flush()
        sti = session.query(Package).filter_by(code="STI-HOME").one()
        _order(
            session,
            held,
            sti,
            location,
            now,
            status="resulted",
            held_for_contact=True,
            serial=1000 + number,
        )
        session.add(
            LabMessage(
                source="KLINKEM",
                format="hl7v2",
                payload=b"MSH|",
                sha256=f"{number:064d}",
                status="unmatched",
                order_number="EP-0000-0000",
                personnummer=held.personnummer,
                received_at=now - timedelta(minutes=number),
            )
        )
        run = BatchRun(
            batch="PURGE",
            host=f"host{number}",
            pid=number,
            started_at=now - timedelta(hours=number + 1),
            finished_at=now - timedelta(hours=number),
            status="succeeded",
        )
        session.add(run)
    session.flush()
    session.merge(BatchHeartbeat(batch="PURGE", last_run_id=run.id, last_activity_at=now))
    targets = dict(person_id=person.id)
    session.commit()
    return targets


PAGES = (
    ("resident", "/results"),
    ("resident", "/orders"),
    ("resident", "/offers"),
    ("resident", "/inbox"),
    ("resident", "/access-log"),
    ("staff", "/staff/patients/{person_id}"),
    ("staff", "/staff/worklist"),
    ("staff", "/staff/unmatched"),
    ("admin", "/EP.Admin/"),
    ("admin", "POST /EP.Admin/audit"),
    ("operator", "/OmniqOperator/"),
)


@contextmanager
def counting(engines):
    statements = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def pki(instance_path):
    return PKI(instance_path / "pki-n-plus-one")


@pytest.fixture
def statements_per_page(make_app, db_session, pki, staff_user, admin_user, operator_user):
    """``statements_per_page(numbers) -> {page: statements}`` after seeding those rows."""
    users = {"staff": staff_user, "admin": admin_user, "operator": operator_user}
    headers = {role: pki.header(user) for role, user in users.items()}

    app = make_app(CitizenLogin="dev", **pki.settings())
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        engines = {db.engine, app.extensions["ep_operator_engine"]}

    def measure(numbers: range) -> dict[str, int]:
        db_session.rollback()  # a snapshot older than the app's writes could not write
        targets = seed(db_session, numbers, utcnow())
        client = app.test_client()
        login = {"personnummer": RESIDENT}
        with client.post("/login", data=login, base_url=HTTPS) as response:
            assert response.status_code == 302
        counts = {}
        for audience, page in PAGES:
            method, _, path = page.rpartition(" ")
            kwargs = {"base_url": HTTPS, "method": method or "GET"}
            if audience != "resident":
                kwargs["headers"] = headers[audience]
            url = path.format(**targets)
            # warm first: templates, the user's roles; each response closed, so that its
            # request's session has ended before the next
            with client.open(url, **kwargs) as response:
                assert response.status_code == 200, page
            with counting(engines) as statements, client.open(url, **kwargs) as response:
                assert response.status_code == 200, page
            counts[page] = len(statements)
        return counts

    return measure


def test_every_list_page_runs_as_many_statements_for_30_rows_as_for_1(statements_per_page):
    one = statements_per_page(range(1))
    thirty = statements_per_page(range(1, 30))
    assert thirty == one
