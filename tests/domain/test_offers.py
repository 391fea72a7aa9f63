from datetime import timedelta

import pytest
from sqlalchemy import select

from ep.domain.audit import Actor
from ep.domain.offers import assign_offer
from ep.domain.staff_input import InvalidInput
from ep.models import AuditEvent, Package


@pytest.fixture
def thyroid(db_session):
    package = Package(code="THYROID", name_sv="Sköldkörtel", name_en="Thyroid")
    db_session.add(package)
    db_session.commit()
    return package


def test_an_offer_is_assigned_by_the_staff_member_and_logged_in_the_same_unit_of_work(
    db_session, resident, staff_user, thyroid, now
):
    actor = Actor.for_user(staff_user, client_addr="10.0.0.7")

    def assign():
        return assign_offer(
            db_session,
            person=resident,
            package=thyroid,
            valid_until=now + timedelta(days=90),
            recurrence_months=3,
            actor=actor,
            now=now,
        )

    assign()
    db_session.rollback()  # the caller decides: nothing is committed by the service
    assert db_session.scalar(select(AuditEvent).where(AuditEvent.action == "create:offer")) is None

    offer = assign()
    db_session.commit()
    assert (offer.status, offer.assigned_by_id, offer.valid_from) == ("active", staff_user.id, now)
    event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "create:offer"))
    assert (event.patient_personnummer, event.client_addr) == (resident.personnummer, "10.0.0.7")


def test_every_problem_with_an_offer_is_reported_at_once(db_session, resident, staff_user, now):
    with pytest.raises(InvalidInput) as raised:
        assign_offer(
            db_session,
            person=resident,
            package=None,
            valid_until=now - timedelta(days=1),
            recurrence_months=0,
            actor=Actor.for_user(staff_user),
            now=now,
        )
    assert set(raised.value.problems) == {"package", "valid_until", "recurrence_months"}
