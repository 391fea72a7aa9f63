"""Staff attach an unmatched lab message to the right order, and the read is audited."""

import pytest
from sqlalchemy import select

from ep.domain import DomainError
from ep.domain.audit import Actor
from ep.domain.lab_import import attach_lab_message, import_file, inbox_files
from ep.models import AuditEvent, Result
from tests.lab_import.conftest import SAMPLES


def test_staff_attach_an_unmatched_message_and_the_results_reach_the_order(
    session, config, drop, tolvan_order, staff_user, now
):
    sample = (SAMPLES / "oru_r01_two_groups_utf8.hl7").read_bytes()
    drop("typo.hl7", sample.replace(b"EP-7K3M-9QX1", b"EP-7K3M-9QX2"))  # wrong check char
    [path] = inbox_files(config, now=now)
    message = import_file(session, path, config, now=now)
    assert message.status == "unmatched"
    assert "check character" in message.error

    results = attach_lab_message(
        session,
        message=message,
        order=tolvan_order,
        actor=Actor.for_user(staff_user, "192.0.2.10"),
        now=now,
    )
    session.commit()

    assert len(results) == 4
    assert {r.lab_message_id for r in results} == {message.id}
    assert (message.status, message.order_id) == ("imported", tolvan_order.id)
    assert (message.resolved_at, message.resolved_by_id) == (now, staff_user.id)
    assert tolvan_order.status == "resulted"
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "lab_message.attach")
    ).one()
    assert (event.actor_id, event.action) == ("SE2321000016-S001", "lab_message.attach")
    assert event.patient_personnummer == "191212121212"
    assert event.client_addr == "192.0.2.10"
    assert "EP-7K3M-9QX1" in event.details


def test_only_an_unmatched_message_can_be_attached(
    session, config, drop, tolvan_order, staff_user, now
):
    drop("ok.hl7", sample="oru_r01_two_groups_utf8.hl7")
    [path] = inbox_files(config, now=now)
    message = import_file(session, path, config, now=now)

    with pytest.raises(DomainError, match="is imported, not unmatched"):
        attach_lab_message(
            session, message=message, order=tolvan_order, actor=Actor.for_user(staff_user), now=now
        )
    assert len(session.scalars(select(Result)).all()) == 4
