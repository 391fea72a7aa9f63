"""Storing lab results on an order: from IMPORTRESULTS and from staff typing them in.

A result is never overwritten. A new value for an analysis the order already has
supersedes the current row (``superseded_at``/``superseded_by_id``), so the resident
sees the latest value and the history shows what was reported before. The one
exception: a preliminary value arriving after a final one (messages crossing in the
post) is stored as history straight away instead of replacing the final value.
"""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ep.domain import DomainError
from ep.labformats import Observation
from ep.models import Analysis, LabMessage, Order, Result, User

# orders that can no longer receive results
CLOSED_ORDER_STATUSES = ("cancelled",)
FINAL_STATUSES = ("F", "C")


def record_results(
    session: Session,
    *,
    order: Order,
    observations: Iterable[Observation],
    now: datetime,
    lab_message: LabMessage | None = None,
    entered_by: User | None = None,
) -> list[Result]:
    """Store observations on ``order``, supersede what they replace, update its status."""
    if order.status in CLOSED_ORDER_STATUSES:
        raise DomainError(f"order {order.number} is {order.status}: it takes no results")
    observations = list(observations)
    current = {
        r.analysis_code: r
        for r in session.scalars(
            select(Result).where(Result.order_id == order.id, Result.superseded_at.is_(None))
        )
    }
    codes = {o.code for o in observations}
    analysis_ids = dict(
        session.execute(select(Analysis.code, Analysis.id).where(Analysis.code.in_(codes))).all()
    )

    created: list[Result] = []
    replaced: list[tuple[Result, Result]] = []  # (older, newer): older gets superseded
    for observation in observations:
        result = Result(
            order_id=order.id,
            analysis_code=observation.code,
            analysis_id=analysis_ids.get(observation.code),
            value_text=observation.value_text,
            value_numeric=observation.value_numeric,
            unit=observation.unit,
            ref_range=observation.ref_range,
            ref_low=observation.ref_low,
            ref_high=observation.ref_high,
            flag=observation.flag,
            status=observation.status,
            comment=observation.comment,
            observed_at=observation.observed_at,
            received_at=now,
            lab_message_id=lab_message.id if lab_message is not None else None,
            entered_by_id=entered_by.id if entered_by is not None else None,
        )
        created.append(result)
        earlier = current.get(observation.code)
        if earlier is None:
            current[observation.code] = result
        elif observation.status == "P" and earlier.status in FINAL_STATUSES:
            replaced.append((result, earlier))
        else:
            replaced.append((earlier, result))
            current[observation.code] = result
    session.add_all(created)
    session.flush()  # ids for superseded_by_id
    for older, newer in replaced:
        older.superseded_at = now
        older.superseded_by_id = newer.id

    _update_order_status(order, current, now=now, changed=created)
    session.flush()
    return created


def _update_order_status(
    order: Order, current: dict[str, Result], *, now: datetime, changed: list[Result]
) -> None:
    """sampled → partial (some analyses of the package) → resulted (all of them).

    Only final or corrected values count as resulted. A released order that receives a
    new final value goes back to resulted, so the release batch shows it to the resident.
    """
    wanted = {analysis.code for analysis in order.package.analyses}
    done = {code for code, result in current.items() if result.status in FINAL_STATUSES}
    complete = wanted <= done if wanted else bool(done)
    new_final = any(r.status in FINAL_STATUSES and r.superseded_at is None for r in changed)
    if complete and (order.status not in ("resulted", "released") or new_final):
        order.status = "resulted"
        order.resulted_at = now
    elif not complete and order.status in ("ordered", "sampled", "expired"):
        order.status = "partial"
