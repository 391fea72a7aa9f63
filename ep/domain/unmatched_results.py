"""Lab messages IMPORTRESULTS could not match to an order, worked by staff by hand."""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from ep.domain import NotFound
from ep.domain.audit import Actor, record
from ep.domain.lab_import import attach_lab_message
from ep.domain.patient_access import log_list_reads
from ep.domain.staff_input import N_, Problems
from ep.identity import InvalidIdentifier, parse_order_number
from ep.labformats import Observation, ParseError, parse_lab_message
from ep.models import LabMessage, Order, Result


def unmatched_messages(session: Session, *, actor: Actor, now: datetime) -> list[LabMessage]:
    """Return the unmatched messages not yet attached, oldest first; log one read per patient.

    The list shows the personnummer each message names, which is that patient's data.
    """
    messages = list(
        session.scalars(
            select(LabMessage)
            # a few rows of the partial index ix_lab_message_quarantined, not every message
            .where(LabMessage.status == "unmatched", LabMessage.resolved_at.is_(None))
            .order_by(LabMessage.received_at, LabMessage.id)
            # the list shows what the message said, not the message itself
            .options(defer(LabMessage.payload))
        )
    )
    by_patient: dict[str, list[str]] = {}
    for message in messages:
        if message.personnummer:
            by_patient.setdefault(message.personnummer, []).append(str(message.id))
    log_list_reads(
        session, actor, "read:unmatched-results", by_patient, object_type="lab_message", now=now
    )
    return messages


def read_lab_message(
    session: Session, *, message_id: int, actor: Actor, now: datetime
) -> tuple[LabMessage, str, list[Observation] | None]:
    """Return one lab message, its text and its observations (None if unreadable); log it."""
    message = session.get(LabMessage, message_id)
    if message is None:
        raise NotFound(f"no lab message {message_id}")
    record(
        session,
        actor,
        "read:lab-message",
        now=now,
        patient=message.personnummer,
        object_type="lab_message",
        object_id=message.id,
    )
    try:
        observations = parse_lab_message(message.payload).observations
    except ParseError:
        observations = None
    return message, payload_text(message), observations


def payload_text(message: LabMessage) -> str:
    """The message as a person reads it: HL7 segments one to a line."""
    text = message.payload.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def attach_to_order(
    session: Session,
    *,
    message: LabMessage,
    order_number: str,
    confirmed_other_patient: bool,
    actor: Actor,
    now: datetime,
) -> tuple[Order, list[Result]]:
    """Attach an unmatched message to the order staff name; return the stored results.

    Raises InvalidInput (field ``order_number``) for a malformed or unknown number, or
    when the order is another patient's than the message names and that is not confirmed.
    """
    problems = Problems()
    order = None
    try:
        number = parse_order_number(order_number)
    except InvalidIdentifier:
        problems.add("order_number", N_("Skriv ordernumret som EP-XXXX-XXXX."))
    else:
        order = session.scalar(select(Order).where(Order.number == number))
        if order is None:
            problems.add("order_number", N_("Det finns ingen beställning med det numret."))
        elif (
            message.personnummer
            and message.personnummer != order.person.personnummer
            and not confirmed_other_patient
        ):
            problems.add(
                "order_number",
                N_(
                    "Beställningen gäller en annan person än provsvaret. Kontrollera och "
                    "bekräfta att svaret hör till den beställningen."
                ),
            )
    problems.raise_any()
    assert order is not None  # else a problem was raised
    return order, attach_lab_message(session, message=message, order=order, actor=actor, now=now)
