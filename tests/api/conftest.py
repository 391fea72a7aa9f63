"""/api/v1 through the Flask test client with real certificates in the proxy header, the
demo catalogue, and orders for the demo residents."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from ep.domain.demo import load_demo
from ep.models import AuditEvent, Kit, Order, Package
from tests.conftest import _user

HL7 = "application/hl7-v2"
FHIR = "application/fhir+json"
TOLVAN_ORDER = "EP-7K3M-9QX1"  # DIABETES, in most lab samples
GRETA_ORDER = "EP-4HB2-R8NB"  # STI-HOME, in the chlamydia sample


@pytest.fixture
def api_app(make_app, app, pki):
    """The app trusting the test CA, certificates read from the proxy header."""
    return make_app(**pki.settings())


@pytest.fixture
def api(api_app, pki, integration_user):
    """A client calling as the integration system, with its function certificate."""
    return Caller(api_app.test_client(), pki.header(integration_user))


class Caller:
    def __init__(self, client, headers):
        self.client = client
        self.headers = headers

    def get(self, url, **kwargs):
        return self.client.get(url, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def post(self, url, **kwargs):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.post(url, headers=headers, **kwargs)


@pytest.fixture
def integration_user(db_session, now):
    return _user(db_session, "SE2321000016-I001", "Provtagningssystem Syd", ["integration"], now)


@pytest.fixture
def catalogue(api_app, db_session, resident, other_resident, now):
    load_demo(db_session, now=now - timedelta(minutes=5))
    db_session.commit()


def make_order(session, person, package_code, number, now, *, status="ordered", kit=None):
    package = session.scalar(select(Package).where(Package.code == package_code))
    order = Order(
        number=number,
        person_id=person.id,
        package_id=package.id,
        status=status,
        ordered_at=now - timedelta(days=3),
        expires_at=now + timedelta(days=27),
        sampled_at=now - timedelta(days=1) if status != "ordered" else None,
        home_kit=kit is not None,
    )
    if kit is not None:
        order.kit = Kit(code=kit, package_id=package.id, person_id=person.id, registered_at=now)
    session.add(order)
    session.commit()
    return order


@pytest.fixture
def tolvan_order(catalogue, db_session, resident, now):
    return make_order(db_session, resident, "DIABETES", TOLVAN_ORDER, now)


@pytest.fixture
def sampled_orders(catalogue, db_session, resident, other_resident, now):
    """Both sample orders, sampled a day ago, waiting for the lab."""
    return (
        make_order(db_session, resident, "DIABETES", TOLVAN_ORDER, now, status="sampled"),
        make_order(db_session, other_resident, "STI-HOME", GRETA_ORDER, now, status="sampled"),
    )


def audit_events(session, action=None):
    session.rollback()
    query = select(AuditEvent).order_by(AuditEvent.id)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query))
