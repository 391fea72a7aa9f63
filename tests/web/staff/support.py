"""What the staff and EP.Admin page tests share: a signed-in client, orders, audit counts."""

import hashlib
import re
from datetime import timedelta

import pytest
from flask import session
from flask_wtf.csrf import generate_csrf
from sqlalchemy import func, select

from ep.domain.demo import load_demo
from ep.identity import new_order_number
from ep.models import AuditEvent, LabMessage, Order, Package, Result, SamplingLocation

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class SignedIn:
    """A Flask test client that sends one user's certificate and the page's CSRF token."""

    def __init__(self, client, headers, hsa_id=None):
        self.client = client
        self.headers = headers
        self.hsa_id = hsa_id

    def get(self, path, **kwargs):
        return self.client.get(path, headers=self.headers, **kwargs)

    def token(self, path):
        """The CSRF token of the form on ``path`` (reading the page may log a read)."""
        page = self.get(path)
        match = _TOKEN.search(page.text)
        assert match, f"no CSRF token on {path} ({page.status_code})"
        return match[1]

    def post(self, path, data, *, token, **kwargs):
        return self.client.post(
            path, data={"csrf_token": token, **data}, headers=self.headers, **kwargs
        )


def csrf_token_for(client, app) -> str:
    """A valid CSRF token in ``client``'s session, for a user who cannot load any form."""
    with app.test_request_context():
        token = generate_csrf()
        raw = session["csrf_token"]
    with client.session_transaction() as client_session:
        client_session["csrf_token"] = raw
    return token


def make_order(session, person, package, *, now, status="ordered", location=None, **extra):
    """An order as the resident's pages would have placed it."""
    values = dict(
        number=new_order_number(),
        person_id=person.id,
        package_id=package.id,
        location_id=location.id if location else None,
        home_kit=package.home_kit,
        status=status,
        ordered_at=now - timedelta(days=2),
        expires_at=now + timedelta(days=package.order_validity_days),
    )
    order = Order(**{**values, **extra})
    session.add(order)
    session.commit()
    return order


def held_positive(db_session, person, package, now):
    """An STI order whose chlamydia result is positive, held for staff to call."""
    order = make_order(
        db_session, person, package, now=now, status="resulted", held_for_contact=True
    )
    order.resulted_at = now
    for code, value, flag in (("21613-5", "Positiv", "POS"), ("24111-7", "Negativ", "NEG")):
        db_session.add(
            Result(
                order_id=order.id,
                analysis_code=code,
                value_text=value,
                ref_range="Negativ",
                flag=flag,
                status="F",
                received_at=now,
            )
        )
    db_session.commit()
    return order


def add_unmatched_message(session, payload: bytes, *, personnummer: str, now) -> LabMessage:
    """A lab message IMPORTRESULTS kept as unmatched: its order EP-0000-0000 does not exist."""
    message = LabMessage(
        source="KLINKEM_SUS",
        format="hl7v2",
        control_id="KK-1",
        filename="KK-1.hl7",
        payload=payload,
        sha256=hashlib.sha256(payload).hexdigest(),
        status="unmatched",
        error="no order EP-0000-0000",
        order_number="EP-0000-0000",
        personnummer=personnummer,
        received_at=now,
    )
    session.add(message)
    session.commit()
    return message


def audit_events(session, **where):
    """The audit events matching ``where`` (column=value), oldest first."""
    session.commit()  # a new transaction sees what the app committed
    conditions = [getattr(AuditEvent, name) == value for name, value in where.items()]
    return list(session.scalars(select(AuditEvent).where(*conditions).order_by(AuditEvent.id)))


def audit_count(session, **where) -> int:
    session.commit()
    conditions = [getattr(AuditEvent, name) == value for name, value in where.items()]
    return session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions))


# -- fixtures (imported by tests/web/staff/conftest.py and tests/web/admin/conftest.py) --


@pytest.fixture
def catalogue(db_session, resident, now):
    """The demo catalogue (packages, analyses, locations), by package code."""
    load_demo(db_session, now=now)
    db_session.commit()
    return {p.code: p for p in db_session.scalars(select(Package))}


@pytest.fixture
def location(db_session, catalogue):
    return db_session.scalar(select(SamplingLocation).where(SamplingLocation.code == "PROV-CITY"))


@pytest.fixture
def staff(cert_client, cert_header, staff_user):
    """The staff member Sara, signed in with her certificate."""
    return SignedIn(cert_client, cert_header(staff_user), staff_user.hsa_id)


@pytest.fixture
def admin(cert_client, cert_header, admin_user):
    """The EP.Admin Adam, signed in with his certificate."""
    return SignedIn(cert_client, cert_header(admin_user), admin_user.hsa_id)
