from datetime import timedelta

import pytest

from ep.domain import DomainError
from ep.domain.audit import Actor
from ep.domain.sampling import mark_sampled, open_orders_for
from ep.identity import InvalidIdentifier, new_order_number
from ep.models import Order, Package


@pytest.fixture
def order(db_session, resident, now):
    package = Package(code="THYROID", name_sv="Sköldkörtel", name_en="Thyroid")
    db_session.add(package)
    db_session.flush()
    order = Order(
        number=new_order_number(),
        person_id=resident.id,
        package_id=package.id,
        expires_at=now + timedelta(days=30),
        ordered_at=now,
    )
    db_session.add(order)
    db_session.commit()
    return order


def test_open_orders_are_found_by_any_form_of_the_personnummer(db_session, order, staff_user, now):
    actor = Actor.for_user(staff_user)
    assert open_orders_for(db_session, personnummer="121212+1212", actor=actor, now=now) == [order]
    with pytest.raises(InvalidIdentifier):
        open_orders_for(db_session, personnummer="121212", actor=actor, now=now)


def test_an_order_is_sampled_once_and_not_after_it_expired(db_session, order, staff_user, now):
    actor = Actor.for_user(staff_user)
    with pytest.raises(DomainError):
        mark_sampled(db_session, order=order, actor=actor, now=order.expires_at)
    mark_sampled(db_session, order=order, actor=actor, now=now)
    assert (order.status, order.sampled_by_id) == ("sampled", staff_user.id)
    with pytest.raises(DomainError):
        mark_sampled(db_session, order=order, actor=actor, now=now)
