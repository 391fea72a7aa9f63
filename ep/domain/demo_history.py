"""The demo resident's history: two years of quarterly diabetes check-ups with released
results, so "Mina provsvar" shows a trend, plus a message and a staff read in the access log.

Idempotent like the rest of the demo: the orders have fixed order numbers and are only
added when missing.
"""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum import luhn

from ep.domain.audit import Actor, record
from ep.identity.ordernumber import ALPHABET
from ep.models import (
    Analysis,
    InboxMessage,
    Order,
    Package,
    Person,
    Result,
    SamplingLocation,
    User,
)
from ep.notify.texts import inbox_text

QUARTERS = 8
# B-HbA1c (mmol/mol) and P-Glukos (mmol/L) per quarter, oldest first: a rise, then better
HBA1C = (39, 41, 44, 47, 49, 46, 43, 41)
GLUCOSE = (5.6, 5.9, 6.3, 6.8, 7.1, 6.6, 6.1, 5.8)


def demo_order_number(index: int) -> str:
    """A fixed, valid order number for the demo's historical order ``index``."""
    body = f"DEMA{index:03d}"
    check = luhn.calc_check_digit(body, alphabet=ALPHABET)
    return f"EP-{body[:4]}-{body[4:]}{check}"


def _flag(value: float, low: float | None, high: float | None) -> str | None:
    if low is not None and value < low:
        return "L"
    if high is not None and value > high:
        return "H"
    return None


def _number(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def load_demo_history(
    session: Session, *, person: Person, staff: User | None, now: datetime
) -> list[str]:
    """Add the demo resident's released quarterly DIABETES results that are missing."""
    package = session.scalar(select(Package).where(Package.code == "DIABETES"))
    location = session.scalar(
        select(SamplingLocation).where(SamplingLocation.code == "VC-TOLVASEN")
    )
    assert package is not None and location is not None  # load_demo's catalogue, loaded first
    analyses = {
        a.code: a
        for a in session.scalars(
            select(Analysis).where(Analysis.code.in_(("NPU27300", "NPU02192")))
        )
    }
    added = []
    latest = None
    for index in range(QUARTERS):
        number = demo_order_number(index)
        if session.scalar(select(Order.id).where(Order.number == number)) is not None:
            continue
        sampled = now - timedelta(days=91 * (QUARTERS - index))
        released = sampled + timedelta(days=1)
        order = Order(
            number=number,
            person_id=person.id,
            package_id=package.id,
            location_id=location.id,
            status="released",
            ordered_at=sampled - timedelta(days=5),
            expires_at=sampled + timedelta(days=25),
            sampled_at=sampled,
            sampled_by_id=staff.id if staff else None,
            resulted_at=released,
            released_at=released,
        )
        session.add(order)
        session.flush()
        for code, value in (("NPU27300", HBA1C[index]), ("NPU02192", GLUCOSE[index])):
            analysis = analyses[code]
            low, high = analysis.ref_low, analysis.ref_high
            assert low is not None and high is not None  # the demo catalogue's ranges
            session.add(
                Result(
                    order_id=order.id,
                    analysis_code=code,
                    analysis_id=analysis.id,
                    value_text=_number(value),
                    value_numeric=float(value),
                    unit=analysis.unit,
                    ref_range=f"{_number(low)}–{_number(high)}",
                    ref_low=analysis.ref_low,
                    ref_high=analysis.ref_high,
                    flag=_flag(value, analysis.ref_low, analysis.ref_high),
                    status="F",
                    observed_at=sampled,
                    received_at=released,
                    released_at=released,
                )
            )
        added.append(f"released DIABETES results of {sampled:%Y-%m-%d} for Tolvan Tolvansson")
        latest = order
    if latest is not None:
        session.add(
            InboxMessage(
                person_id=person.id,
                dedupe_key=f"demo:result:{latest.number}",
                subject=inbox_text("result", "sv")[0],
                body=inbox_text("result", "sv")[1],
                order_id=latest.id,
                created_at=latest.released_at,
            )
        )
        if staff is not None and latest.released_at is not None:
            record(
                session,
                Actor.for_user(staff),
                "read:results",
                now=latest.released_at + timedelta(hours=2),
                patient=person.personnummer,
                object_type="order",
                object_id=latest.number,
            )
    session.flush()
    return added
