"""Small builders for the rows the batches work on (committed, so subprocesses see them)."""

from datetime import timedelta
from itertools import count

from ep.batches.spine import BatchSpec, Schedule
from ep.domain.reminders import refresh_due_again
from ep.identity import new_order_number
from ep.models import Offer, Order, Package, Person, Result

_serial = count(1)


def package(session, *, now, **values) -> Package:
    n = next(_serial)
    row = Package(
        code=values.pop("code", f"PKG{n}"),
        name_sv=f"Paket {n}",
        name_en=f"Package {n}",
        created_at=now,
        **values,
    )
    session.add(row)
    session.flush()
    return row


def person(session, *, now, **values) -> Person:
    n = next(_serial)
    values.setdefault("personnummer", f"1990{n:08d}"[:12])
    values.setdefault("given_name", f"Person{n}")
    row = Person(created_at=now, **values)
    session.add(row)
    session.flush()
    return row


def offer(session, *, person, package, now, **values) -> Offer:
    values.setdefault("valid_from", now - timedelta(days=30))
    values.setdefault("valid_until", now + timedelta(days=60))
    values.setdefault("created_at", values["valid_from"])
    row = Offer(person=person, package=package, **values)
    session.add(row)
    session.flush()
    return row


def order(session, *, person, package, now, **values) -> Order:
    values.setdefault("ordered_at", now - timedelta(days=1))
    values.setdefault("expires_at", now + timedelta(days=29))
    row = Order(number=new_order_number(), person=person, package=package, **values)
    session.add(row)
    session.flush()
    if row.offer_id is not None:
        # what EP's own paths do after changing an offer's orders
        refresh_due_again(session, Offer.id == row.offer_id)
    return row


def result(session, *, order, now, **values) -> Result:
    values.setdefault("analysis_code", "NPU27300")
    values.setdefault("value_text", "38")
    values.setdefault("received_at", now)
    row = Result(order=order, **values)
    session.add(row)
    session.flush()
    return row


def expiring_orders(session, now, count, *, people=1, **person_values) -> set[str]:
    """``count`` orders expiring tomorrow, spread over ``people`` residents, each due for an
    order-expiring reminder; commit and return those reminders' dedupe keys."""
    pkg = package(session, now=now, remind_expiring_within_days=3)
    residents = [
        person(session, now=now, **{k: v.format(n=n) for k, v in person_values.items()})
        for n in range(people)
    ]
    orders = [
        order(
            session,
            person=residents[n % people],
            package=pkg,
            now=now,
            expires_at=now + timedelta(days=1),
        )
        for n in range(count)
    ]
    session.commit()
    return {f"reminder:order-expiring:{made.id}" for made in orders}


def spec(name: str) -> BatchSpec:
    """A spine entry for a test batch (not one of EP's: no configuration key, no schedule)."""
    return BatchSpec(name, name.lower(), 30, Schedule(every_minutes=5), "A test batch.", __name__)
