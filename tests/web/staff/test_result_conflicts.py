"""The conflict worklist: two labs sent different final values; staff decide which applies."""

import hashlib

import pytest
from sqlalchemy import select

from ep.domain.results import record_results
from ep.labformats import Observation
from ep.models import LabMessage, Order, Result
from tests.web.staff.support import audit_count, audit_events, make_order


def _lab_message(session, source: str, now) -> LabMessage:
    payload = f"MSH|^~\\&|LIMS|{source}|".encode()
    message = LabMessage(
        source=source,
        format="hl7v2",
        control_id=f"{source}-1",
        payload=payload,
        sha256=hashlib.sha256(payload).hexdigest(),
        status="imported",
        received_at=now,
    )
    session.add(message)
    session.flush()
    return message


def _hba1c(value: str) -> Observation:
    return Observation(
        "NPU27300", "B-HbA1c", value, float(value), "mmol/mol", "27-42", 27, 42, "H", "F", None
    )


@pytest.fixture
def conflict(db_session, resident, catalogue, now):
    """Tolvan's HbA1c: 48 from one lab (in force), then 99 from another (held back)."""
    order = make_order(db_session, resident, catalogue["DIABETES"], now=now, status="sampled")
    for source, value in (("KLINKEM_SUS", "48"), ("LABMED_OREBRO", "99")):
        record_results(
            db_session,
            order=order,
            observations=[_hba1c(value)],
            now=now,
            lab_message=_lab_message(db_session, source, now),
        )
    db_session.commit()
    return db_session.scalars(select(Result).where(Result.conflict == "open")).one()


def test_the_worklist_shows_both_values_and_their_labs_and_logs_the_read(
    staff, conflict, db_session
):
    page = staff.get("/staff/unmatched").text

    assert "Motstridiga provsvar" in page
    assert "48 mmol/mol" in page and "(KLINKEM_SUS)" in page
    assert "99 mmol/mol" in page and "(LABMED_OREBRO)" in page
    assert "19121212-1212" in page
    events = audit_events(db_session, action="read:result-conflicts")
    assert [e.patient_personnummer for e in events] == ["191212121212"]


def test_staff_let_the_new_value_replace_the_one_in_force(staff, staff_user, conflict, db_session):
    token = staff.token("/staff/unmatched")

    response = staff.post(
        f"/staff/conflicts/{conflict.id}",
        {"decision": "replace"},
        token=token,
        follow_redirects=True,
    )

    assert response.status_code == 200
    assert "och visas för invånaren" in response.text
    assert "Det finns inga motstridiga provsvar." in response.text
    db_session.commit()  # a new transaction sees what the app committed
    current = db_session.scalars(
        select(Result.value_text).where(
            Result.order_id == conflict.order_id, Result.superseded_at.is_(None)
        )
    ).all()
    assert current == ["99"]
    assert db_session.get(Order, conflict.order_id).status == "resulted"
    assert audit_count(db_session, action="update:result-conflict-replace") == 1


def test_a_decision_without_the_csrf_token_is_refused_and_changes_nothing(
    staff, conflict, db_session
):
    response = staff.client.post(
        f"/staff/conflicts/{conflict.id}", data={"decision": "replace"}, headers=staff.headers
    )

    assert response.status_code == 400
    db_session.commit()  # a new transaction sees what the app committed
    assert db_session.get(Result, conflict.id).conflict == "open"


def test_a_conflict_decided_already_is_not_decided_again(staff, conflict, db_session):
    token = staff.token("/staff/unmatched")
    staff.post(f"/staff/conflicts/{conflict.id}", {"decision": "keep"}, token=token)

    again = staff.post(
        f"/staff/conflicts/{conflict.id}",
        {"decision": "replace"},
        token=token,
        follow_redirects=True,
    )

    assert "Någon annan har redan avgjort det provsvaret." in again.text
    db_session.commit()  # a new transaction sees what the app committed
    assert db_session.get(Result, conflict.id).conflict == "kept"
    assert audit_count(db_session, action="update:result-conflict-replace") == 0
