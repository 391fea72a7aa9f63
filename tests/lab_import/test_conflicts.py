"""Only a corrected result replaces a final one; a second final is a conflict for staff."""

from datetime import timedelta

from sqlalchemy import func, select

from ep.domain.audit import Actor, description
from ep.domain.lab_import import import_file, inbox_files
from ep.domain.release import release_order
from ep.domain.residents import order_results
from ep.domain.result_conflicts import decide_conflict, open_conflicts
from ep.models import AuditEvent, Notification, Order, Result
from tests.lab_import.conftest import SAMPLES

ORIGINAL = (SAMPLES / "oru_r01_two_groups_utf8.hl7").read_bytes()  # HbA1c 48, KLINKEM_SUS


def _from_another_lab(value: bytes, *, control: bytes = b"000777") -> bytes:
    """The same report, as a second lab facility sends it: another final HbA1c value."""
    return (
        ORIGINAL.replace(b"KLINKEM_SUS", b"LABMED_OREBRO")
        .replace(b"000123", control)
        .replace(b"||48|mmol/mol|", b"||" + value + b"|mmol/mol|")
    )


def _import_all(session, config, now):
    return [import_file(session, path, config, now=now) for path in inbox_files(config, now=now)]


def _hba1c_shown(session, resident, order) -> str | None:
    session.expire_all()
    shown = order_results(session, person=resident, order=session.get(Order, order.id))
    return {r.analysis_code: r.value_text for r in shown}.get("NPU27300")


def _released(session, config, drop, order, now):
    drop("original.hl7", ORIGINAL)
    _import_all(session, config, now)
    assert release_order(session, session.get(Order, order.id), now=now)
    session.commit()


def _held_conflict(session, config, drop, order, now) -> Result:
    """HbA1c 48 released to the resident, then 99 from another lab: the held value."""
    _released(session, config, drop, order, now)
    drop("second-lab.hl7", _from_another_lab(b"99"))
    _import_all(session, config, now + timedelta(hours=1))
    return session.scalars(select(Result).where(Result.conflict == "open")).one()


def _notifications(session) -> int:
    return session.scalar(select(func.count()).select_from(Notification))


def test_a_second_final_from_another_lab_is_held_and_the_released_value_stays(
    session, config, drop, resident, tolvan_order, now
):
    _released(session, config, drop, tolvan_order, now)
    assert _hba1c_shown(session, resident, tolvan_order) == "48"
    notified = _notifications(session)

    later = now + timedelta(hours=2)
    drop("second-lab.hl7", _from_another_lab(b"99"))
    [message] = _import_all(session, config, later)

    assert message.status == "imported"
    assert _hba1c_shown(session, resident, tolvan_order) == "48"
    assert session.get(Order, tolvan_order.id).status == "released"
    assert _notifications(session) == notified  # nothing new to tell the resident
    [held] = session.scalars(select(Result).where(Result.conflict == "open")).all()
    assert (held.value_text, held.status, held.lab_message_id) == ("99", "F", message.id)
    staff = Actor("user", "SE2321000016-S001")
    [conflict] = open_conflicts(session, actor=staff, now=later)
    assert (conflict.current.value_text, conflict.held.value_text) == ("48", "99")
    assert (conflict.current_source, conflict.held_source) == ("KLINKEM_SUS", "LABMED_OREBRO")


def test_a_resent_final_of_the_same_value_is_history_not_a_conflict(
    session, config, drop, resident, tolvan_order, now
):
    _released(session, config, drop, tolvan_order, now)
    drop("resent.hl7", _from_another_lab(b"48"))
    _import_all(session, config, now + timedelta(hours=1))

    assert session.scalar(select(func.count()).where(Result.conflict.is_not(None))) == 0
    assert _hba1c_shown(session, resident, tolvan_order) == "48"


def test_staff_replacing_a_conflict_show_the_new_value_after_the_release_tells_the_resident(
    session, config, drop, resident, staff_user, tolvan_order, now
):
    held = _held_conflict(session, config, drop, tolvan_order, now)
    staff = Actor.for_user(staff_user)
    decided = now + timedelta(hours=3)
    notified = _notifications(session)

    decide_conflict(session, result_id=held.id, decision="replace", actor=staff, now=decided)
    session.commit()

    order = session.get(Order, tolvan_order.id)
    assert (order.status, order.resulted_at) == ("resulted", decided)
    # like a correction: the new value waits for the release (its package's policy)
    assert _hba1c_shown(session, resident, tolvan_order) is None
    assert release_order(session, session.get(Order, tolvan_order.id), now=decided)
    session.commit()
    assert _hba1c_shown(session, resident, tolvan_order) == "99"
    assert _notifications(session) == notified + 1
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "update:result-conflict-replace")
    ).one()
    assert (event.actor_id, event.patient_personnummer) == (staff_user.hsa_id, "191212121212")
    assert description(event.details) == {
        "text": "conflict-replaced",
        "analysis": "NPU27300",
        "new": "99 mmol/mol",
        "current": "48 mmol/mol",
    }
    assert open_conflicts(session, actor=staff, now=decided) == []


def test_staff_keeping_the_value_in_force_change_nothing_the_resident_sees(
    session, config, drop, resident, staff_user, tolvan_order, now
):
    held = _held_conflict(session, config, drop, tolvan_order, now)
    staff = Actor.for_user(staff_user)

    decide_conflict(session, result_id=held.id, decision="keep", actor=staff, now=now)
    session.commit()

    held = session.get(Result, held.id)
    assert (held.conflict, held.conflict_decided_by_id) == ("kept", staff_user.id)
    assert session.get(Order, tolvan_order.id).status == "released"
    assert _hba1c_shown(session, resident, tolvan_order) == "48"
    assert open_conflicts(session, actor=staff, now=now) == []
