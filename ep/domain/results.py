"""Storing lab results on orders: from IMPORTRESULTS and from staff typing them in.

A result is never overwritten. A new value for an analysis the order already has
supersedes the current row (``superseded_at``/``superseded_by_id``), so the resident
sees the latest value and the history shows what was reported before. Except, as HL7
has it, that only a corrected (C) value replaces a final one from a lab:

- a preliminary value arriving after a final one (messages crossing on the way) is
  stored as history straight away;
- a second final value, the same as the current one (a resend), likewise;
- a second final value that differs (from another lab, or the same lab without saying
  it corrects) is a conflict: stored held back (``conflict = 'open'``), the value the
  resident may already have read stays, and staff decide (``decide_conflict``).

Staff typing a result in by hand are the ones deciding: their value replaces.

The work is done in bulk (a few statements for many orders), because IMPORTRESULTS
stores thousands of messages a run; ``record_results`` is the one-order form.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ep.domain import DomainError
from ep.domain.bulk import insert_rows, update_rows
from ep.domain.reminders import offers_of, refresh_due_again
from ep.labformats import Observation
from ep.models import Analysis, LabMessage, Order, Result, User, package_analysis
from ep.models.orders import OPEN_ORDER_STATUSES

# orders that can no longer receive results
CLOSED_ORDER_STATUSES = ("cancelled",)
FINAL_STATUSES = ("F", "C")
# an order not yet (fully) resulted; "expired" too: the sample was taken after all
BEFORE_PARTIAL = ("ordered", "sampled", "expired")
# a current value of an (order, analysis): (origin "db" or "new", its id or its index
# among the new rows, status, (value text, unit))
_Current = tuple[str, int, str, tuple[str | None, str | None]]


@dataclass(frozen=True)
class OrderRef:
    """What storing results needs to know of an order."""

    id: int
    number: str
    status: str
    package_id: int


@dataclass
class ResultsFor:
    """Observations for one order, from one lab message (or typed in by staff)."""

    order: OrderRef
    observations: Sequence[Observation]
    lab_message_id: int | None = None


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
    session.flush()
    ref = OrderRef(order.id, order.number, order.status, order.package_id)
    item = ResultsFor(ref, list(observations), lab_message.id if lab_message else None)
    ids, touched = store_results(
        session, [item], now=now, entered_by_id=entered_by.id if entered_by else None
    )
    # the bulk statements bypass the identity map: reload what they changed
    session.expire(order)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Result) and obj.id in touched:
            session.expire(obj)
    return list(session.scalars(select(Result).where(Result.id.in_(ids)).order_by(Result.id)))


def store_results(
    session: Session,
    items: Sequence[ResultsFor],
    *,
    now: datetime,
    entered_by_id: int | None = None,
) -> tuple[list[int], set[int]]:
    """Store results for many orders in a few statements; flush only.

    Items are applied in order, so a correction later in the same batch supersedes the
    value an earlier message brought. Returns the new result ids and the ids of older
    results that were superseded.
    """
    if not items:
        return [], set()
    order_ids = {item.order.id for item in items}
    codes = {o.code for item in items for o in item.observations}
    # (order, analysis) → (origin, id, status, value): the value the resident would see
    current: dict[tuple[int, str], _Current] = {
        (order_id, code): ("db", result_id, status, (value_text, unit))
        for result_id, order_id, code, status, value_text, unit in session.execute(
            select(
                Result.id,
                Result.order_id,
                Result.analysis_code,
                Result.status,
                Result.value_text,
                Result.unit,
            ).where(Result.order_id.in_(order_ids), Result.superseded_at.is_(None))
        )
    }
    analysis_ids = dict(
        session.execute(select(Analysis.code, Analysis.id).where(Analysis.code.in_(codes))).all()
    )

    rows: list[dict[str, Any]] = []
    links: list[tuple[_Current, _Current]] = []  # (older, newer): older gets superseded
    for item in items:
        for observation in item.observations:
            key = (item.order.id, observation.code)
            value = (observation.value_text, observation.unit)
            new: _Current = ("new", len(rows), observation.status, value)
            rows.append(
                {
                    "order_id": item.order.id,
                    "analysis_code": observation.code,
                    "analysis_id": analysis_ids.get(observation.code),
                    "value_text": observation.value_text,
                    "value_numeric": observation.value_numeric,
                    "unit": observation.unit,
                    "ref_range": observation.ref_range,
                    "ref_low": observation.ref_low,
                    "ref_high": observation.ref_high,
                    "flag": observation.flag,
                    "status": observation.status,
                    "comment": observation.comment,
                    "observed_at": observation.observed_at,
                    "received_at": now,
                    "lab_message_id": item.lab_message_id,
                    "entered_by_id": entered_by_id,
                    "conflict": None,
                }
            )
            earlier = current.get(key)
            if earlier is None:
                current[key] = new
            elif earlier[2] in FINAL_STATUSES and _held_back(observation, item, earlier):
                if observation.status == "F" and value != earlier[3]:
                    rows[-1]["conflict"] = "open"
                links.append((new, earlier))
            else:
                links.append((earlier, new))
                current[key] = new
    if not rows:
        return [], set()
    new_ids = insert_rows(session, Result, rows)

    def resolve(ref: _Current) -> int:
        return ref[1] if ref[0] == "db" else new_ids[ref[1]]

    superseded: list[dict[str, Any]] = [
        {"id": resolve(older), "superseded_at": now, "superseded_by_id": resolve(newer)}
        for older, newer in links
    ]
    if superseded:
        update_rows(session, Result, superseded)

    _update_orders(session, items, current, now=now)
    session.flush()
    return new_ids, {row["id"] for row in superseded}


def _held_back(observation: Observation, item: ResultsFor, earlier: _Current) -> bool:
    """Whether a value for an analysis with a final value stays history, not current."""
    if observation.status == "P":
        return True  # a preliminary value never replaces a final one
    if observation.status == "C" or item.lab_message_id is None:
        return False  # a correction, or staff typing the value in themselves
    return True  # a second final from a lab: a resend, or a conflict for staff


def _update_orders(
    session: Session,
    items: Sequence[ResultsFor],
    current: dict[tuple[int, str], _Current],
    *,
    now: datetime,
) -> None:
    """sampled → partial (some analyses of the package) → resulted (all of them).

    Only final or corrected values count as resulted. A released order that receives a
    new final value goes back to resulted, so the release batch shows it to the resident.
    """
    orders = {item.order.id: item.order for item in items}
    wanted: dict[int, set[str]] = {}
    for package_id, code in session.execute(
        select(package_analysis.c.package_id, Analysis.code)
        .join(Analysis, Analysis.id == package_analysis.c.analysis_id)
        .where(package_analysis.c.package_id.in_({o.package_id for o in orders.values()}))
    ):
        wanted.setdefault(package_id, set()).add(code)
    done: dict[int, set[str]] = {order_id: set() for order_id in orders}
    new_final: set[int] = set()
    for (order_id, code), (origin, _, status, _) in current.items():
        if order_id in done and status in FINAL_STATUSES:
            done[order_id].add(code)
            if origin == "new":
                new_final.add(order_id)

    changes = []
    for order_id, order in orders.items():
        package_codes = wanted.get(order.package_id, set())
        complete = package_codes <= done[order_id] if package_codes else bool(done[order_id])
        if complete and (order.status not in ("resulted", "released") or order_id in new_final):
            changes.append({"id": order_id, "status": "resulted", "resulted_at": now})
        elif not complete and order.status in BEFORE_PARTIAL:
            changes.append({"id": order_id, "status": "partial"})
    if changes:
        resulted = [c for c in changes if c["status"] == "resulted"]
        partial = [c for c in changes if c["status"] == "partial"]
        for group in (resulted, partial):  # one statement per shape of row
            update_rows(session, Order, group)
        # results for an order never marked sampled: it is no longer open, so its
        # recurring offer comes due again counted from the ordering
        changed = {c["id"] for c in changes}
        were_open = [
            order_id
            for order_id, order in orders.items()
            if order_id in changed and order.status in OPEN_ORDER_STATUSES
        ]
        if were_open:
            refresh_due_again(session, offers_of(Order.id.in_(were_open)))
