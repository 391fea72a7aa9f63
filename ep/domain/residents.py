"""The resident's own data: login, settings, inbox, released results and the access log."""

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ep.domain import DomainError, NotFound
from ep.domain.audit import Actor, described, record
from ep.domain.orders import record_own_change, resident_actor
from ep.identity import InvalidIdentifier, parse_personnummer
from ep.models import Analysis, AuditEvent, InboxMessage, Order, Package, Person, Result, User
from ep.models.people import CHANNELS, LANGUAGES
from ep.timeutil import local

MOBILE_SEPARATORS = re.compile(r"[\s\-()]")
SWEDISH_MOBILE = re.compile(r"^(?:\+46|0046|0)(7\d{8})$")
INTERNATIONAL_NUMBER = re.compile(r"^\+[1-9]\d{7,14}$")
EMAIL = re.compile(
    r"^[^@\s<>\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$"
)
ACCESS_LOG_LIMIT = 500


class SettingsRefused(DomainError):
    """Some settings are invalid: ``problems`` maps a field name to a reason key."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(", ".join(f"{name}: {reason}" for name, reason in problems.items()))
        self.problems = problems


def login_person(
    session: Session,
    *,
    personnummer: str,
    now: datetime,
    given_name: str = "",
    family_name: str = "",
) -> Person:
    """Return the resident with this personnummer, created at their first login.

    A name the login carries is the resident's own (from their e-legitimation): it
    replaces what staff typed when they added the resident at the desk.
    """
    personnummer = parse_personnummer(personnummer, today=local(now).date())
    person = session.scalar(select(Person).where(Person.personnummer == personnummer))
    if person is None:
        person = Person(personnummer=personnummer, language="sv", created_at=now)
        session.add(person)
    given_name, family_name = (" ".join(n.split())[:100] for n in (given_name, family_name))
    if (
        given_name
        and family_name
        and (given_name, family_name)
        != (
            person.given_name,
            person.family_name,
        )
    ):
        person.given_name, person.family_name = given_name, family_name
    session.flush()
    return person


def login_verified_resident(
    session: Session,
    *,
    personnummer: str,
    given_name: str,
    family_name: str,
    how: str,
    client_addr: str | None,
    now: datetime,
) -> Person:
    """Log in a resident the identity provider vouched for; the name follows the provider.

    Raises InvalidIdentifier when ``personnummer`` is not one (nor a samordningsnummer).
    """
    person = login_person(session, personnummer=personnummer, now=now)
    # the provider's name is the registered one: kept up to date on every login
    if given_name.strip():
        person.given_name = given_name.strip()[:100]
    if family_name.strip():
        person.family_name = family_name.strip()[:100]
    record_session_event(
        session, person=person, action="login", details=how, client_addr=client_addr, now=now
    )
    return person


def record_session_event(
    session: Session,
    *,
    person: Person,
    action: str,
    client_addr: str | None,
    now: datetime,
    details: str | None = None,
) -> None:
    """Log the resident's login or logout, from where they did it."""
    record(
        session,
        replace(resident_actor(person), client_addr=client_addr),
        action,
        now=now,
        patient=person.personnummer,
        object_type="person",
        object_id=person.id,
        details=details,
    )
    session.flush()


@dataclass(frozen=True)
class OwnRead:
    """A resident's read of their own orders or results, as the PDL log keeps it.

    Plain values, taken while the page is made, so the event can be written after the
    page's own transaction has ended (ep.web.citizen.own_page).
    """

    actor: Actor
    action: str  # read:own-start, read:own-results, read:own-orders, read:own-order
    patient: str
    object_type: str
    object_id: str


def own_read(
    person: Person, action: str, *, client_addr: str | None, order: Order | None = None
) -> OwnRead:
    """The resident's read of a page of their own data: of one order, or of all of them."""
    return OwnRead(
        actor=replace(resident_actor(person), client_addr=client_addr),
        action=action,
        patient=person.personnummer,
        object_type="order" if order is not None else "person",
        object_id=order.number if order is not None else str(person.id),
    )


def record_own_read(session: Session, read: OwnRead, *, now: datetime) -> None:
    """Append the read to the session (committed by the caller before the page is sent)."""
    record(
        session,
        read.actor,
        read.action,
        now=now,
        patient=read.patient,
        object_type=read.object_type,
        object_id=read.object_id,
    )


def record_login_failure(
    session: Session,
    *,
    personnummer: str | None,
    reason: str,
    detail: str,
    client_addr: str | None,
    now: datetime,
) -> None:
    """Log a refused or failed login, with whom it was for when the provider said so."""
    try:
        known = parse_personnummer(personnummer, today=local(now).date()) if personnummer else None
    except InvalidIdentifier:
        known = None
    record(
        session,
        Actor("resident", known or "unknown", client_addr=client_addr),
        f"login:{reason}",
        now=now,
        patient=known,
        details=detail[:1000],
    )
    session.flush()


def normalise_mobile(text: str) -> str:
    """Return a mobile number as +46…; raise ValueError if it is not one."""
    compact = MOBILE_SEPARATORS.sub("", text or "")
    swedish = SWEDISH_MOBILE.match(compact)
    if swedish:
        return f"+46{swedish.group(1)}"
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if INTERNATIONAL_NUMBER.match(compact) and not compact.startswith("+46"):
        return compact
    raise ValueError(f"{text!r} is not a mobile number")


def normalise_email(text: str) -> str:
    """Return an e-mail address trimmed; raise ValueError if it is not one."""
    address = (text or "").strip()
    if len(address) > 254 or not EMAIL.match(address):
        raise ValueError(f"{text!r} is not an e-mail address")
    return address


def update_settings(
    session: Session,
    *,
    person: Person,
    channel: str | None,
    mobile: str,
    email: str,
    language: str,
    now: datetime,
) -> Person:
    """Change how the resident is notified and their language; SettingsRefused if invalid.

    ``channel`` None means the in-app inbox only. The chosen channel needs its address.
    """
    problems: dict[str, str] = {}
    values: dict[str, str | None] = {"mobile": None, "email": None}
    for name, text, normalise in (
        ("mobile", mobile, normalise_mobile),
        ("email", email, normalise_email),
    ):
        if (text or "").strip():
            try:
                values[name] = normalise(text)
            except ValueError:
                problems[name] = "invalid"
    if channel not in (None, *CHANNELS):
        problems["channel"] = "invalid"
    elif channel == "sms" and values["mobile"] is None and "mobile" not in problems:
        problems["mobile"] = "required"
    elif channel == "email" and values["email"] is None and "email" not in problems:
        problems["email"] = "required"
    if language not in LANGUAGES:
        problems["language"] = "invalid"
    if problems:
        raise SettingsRefused(problems)

    person.channel = channel
    person.mobile = values["mobile"]
    person.email = values["email"]
    person.language = language
    session.flush()
    record_own_change(
        session,
        person,
        "person:settings",
        now=now,
        object_type="person",
        object_id=person.personnummer,
        details=described("settings", channel=channel or "inbox", language=language),
    )
    return person


# -- inbox --


def my_messages(session: Session, *, person: Person) -> list[InboxMessage]:
    """Return the resident's inbox, newest first."""
    return list(
        session.scalars(
            select(InboxMessage)
            .where(InboxMessage.person_id == person.id)
            .order_by(InboxMessage.created_at.desc(), InboxMessage.id.desc())
        )
    )


def get_message(session: Session, *, person: Person, message_id: int) -> InboxMessage:
    """Return the resident's own message; NotFound for anyone else's, whatever the id."""
    message = session.scalar(
        select(InboxMessage).where(
            InboxMessage.id == message_id, InboxMessage.person_id == person.id
        )
    )
    if message is None:
        raise NotFound("no such message")
    return message


def mark_read(session: Session, *, person: Person, message: InboxMessage, now: datetime) -> bool:
    """Mark the resident's message read; return False if it was read already."""
    if message.person_id != person.id:
        raise NotFound("no such message")
    if message.read_at is not None:
        return False
    message.read_at = now
    session.flush()
    return True


def unread_count(session: Session, *, person: Person) -> int:
    """Return how many of the resident's messages are unread."""
    count = session.scalar(
        select(func.count(InboxMessage.id)).where(
            InboxMessage.person_id == person.id, InboxMessage.read_at.is_(None)
        )
    )
    return count or 0


# -- "Vem har tittat på mina uppgifter" --


def access_log(session: Session, *, person: Person) -> list[AuditEvent]:
    """Return the care staff's reads and changes of the resident's data, newest first."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.patient_personnummer == person.personnummer,
                AuditEvent.actor_type == "user",
            )
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(ACCESS_LOG_LIMIT)
        )
    )


@dataclass(frozen=True)
class Access:
    """One line of the resident's access log: the same person doing the same thing to the
    same object in a row is one line with a count, not a page of near-identical rows."""

    first_at: datetime
    last_at: datetime
    name: str
    roles: tuple[str, ...]
    care_unit: str | None
    action: str  # the audit action: read:patient, update:order, search:patient …
    object_type: str | None
    object_id: str | None
    times: int


def access_log_by_day(session: Session, *, person: Person) -> list[tuple[date, list[Access]]]:
    """The access log a resident can read: by Stockholm day, newest first, repeats folded."""
    events = access_log(session, person=person)
    hsa_ids = {event.actor_id for event in events}
    roles: dict[str, tuple[str, ...]] = {}
    if hsa_ids:
        for user in session.scalars(select(User).where(User.hsa_id.in_(hsa_ids))):
            roles[user.hsa_id] = tuple(sorted(user.roles))
    days: dict[date, list[Access]] = {}
    previous = None  # (day, who, action, object) of the line last added
    for event in events:
        day = local(event.at).date()
        lines = days.setdefault(day, [])
        key = (day, event.actor_id, event.action, event.object_type, event.object_id)
        if key == previous:
            # events come newest first: the earlier event moves the line's start back
            lines[-1] = replace(lines[-1], first_at=event.at, times=lines[-1].times + 1)
            continue
        previous = key
        lines.append(
            Access(
                first_at=event.at,
                last_at=event.at,
                name=event.actor_name or event.actor_id,
                roles=roles.get(event.actor_id, ()),
                care_unit=event.care_unit_name or event.care_unit_hsa_id,
                action=event.action,
                object_type=event.object_type,
                object_id=event.object_id,
                times=1,
            )
        )
    return list(days.items())


# -- "Mina provsvar" --


def derived_flag(result: "Result | ReleasedResult") -> str | None:
    """The lab's flag, or for an unflagged number the side of its reference range."""
    flag: str | None = result.flag
    if flag:
        return flag.upper()
    if result.value_numeric is None:
        return None
    if result.ref_low is not None and result.value_numeric < result.ref_low:
        return "L"
    if result.ref_high is not None and result.value_numeric > result.ref_high:
        return "H"
    if result.ref_low is not None or result.ref_high is not None:
        return "N"
    return None


@dataclass(frozen=True, slots=True)
class ReleasedOrder:
    """What the results page shows of an order (read as plain columns, not entities)."""

    id: int
    number: str
    ordered_at: datetime
    sampled_at: datetime | None
    package_name_sv: str
    package_name_en: str

    def package_name(self, language: str) -> str:
        return self.package_name_en if language == "en" else self.package_name_sv


@dataclass(frozen=True, slots=True)
class ReleasedResult:
    """One released, current result, with the same attribute names as Result."""

    analysis_code: str
    value_text: str
    value_numeric: float | None
    unit: str | None
    ref_range: str | None
    ref_low: float | None
    ref_high: float | None
    flag: str | None
    status: str
    comment: str | None
    observed_at: datetime | None
    released_at: datetime
    order: ReleasedOrder

    @property
    def taken_at(self) -> datetime:
        """When the sample was taken, as near as EP knows."""
        return self.observed_at or self.order.sampled_at or self.order.ordered_at


@dataclass
class OrderResults:
    """One order and its released, current results."""

    order: ReleasedOrder
    results: list[ReleasedResult] = field(default_factory=list)


@dataclass
class TrendPoint:
    when: datetime
    value: float
    value_text: str
    flag: str | None
    order_number: str


@dataclass
class Trend:
    """One analysis across the resident's orders, oldest first."""

    code: str
    analysis: Analysis | None
    unit: str | None
    ref_low: float | None
    ref_high: float | None
    points: list[TrendPoint] = field(default_factory=list)


@dataclass
class ResultsOverview:
    orders: list[OrderResults]  # newest first
    trends: list[Trend]
    analyses: dict[str, Analysis]


RESULT_COLUMNS = (
    Result.analysis_code,
    Result.value_text,
    Result.value_numeric,
    Result.unit,
    Result.ref_range,
    Result.ref_low,
    Result.ref_high,
    Result.flag,
    Result.status,
    Result.comment,
    Result.observed_at,
    Result.released_at,
)
ORDER_COLUMNS = (
    Order.id,
    Order.number,
    Order.ordered_at,
    Order.sampled_at,
    Package.name_sv,
    Package.name_en,
)


def my_results(session: Session, *, person: Person) -> ResultsOverview:
    """Return the resident's released results per order and a trend per numeric analysis.

    Only results with ``released_at`` set are ever returned. Two queries however many
    orders there are (results with their orders and packages, then the analyses), read
    as plain columns: with ten years of history, building ORM entities was the cost.
    """
    # read by position into ReleasedResult and ReleasedOrder
    rows: Sequence[Any] = session.execute(
        select(*RESULT_COLUMNS, *ORDER_COLUMNS)
        .join(Result.order)
        .join(Order.package)
        .where(
            Order.person_id == person.id,
            Result.released_at.is_not(None),
            Result.superseded_at.is_(None),
        )
        .order_by(Order.ordered_at.desc(), Order.id.desc(), Result.id)
    ).all()
    width = len(RESULT_COLUMNS)
    by_order: dict[int, OrderResults] = {}
    results = []
    for row in rows:
        entry = by_order.get(row[width])
        if entry is None:
            entry = by_order[row[width]] = OrderResults(ReleasedOrder(*row[width:]))
        # the row's first ``width`` columns are the fields before ``order``
        result = ReleasedResult(*row[:width], order=entry.order)  # type: ignore[misc]
        entry.results.append(result)
        results.append(result)
    analyses = analyses_for(session, results)

    series: dict[str, list[ReleasedResult]] = defaultdict(list)
    for result in results:
        if result.value_numeric is not None:
            series[result.analysis_code].append(result)
    trends = []
    for code in sorted(series, key=lambda c: analyses[c].name_sv if c in analyses else c):
        values = sorted(series[code], key=lambda r: r.taken_at)
        latest = values[-1]
        analysis = analyses.get(code)
        trend = Trend(
            code=code,
            analysis=analysis,
            unit=latest.unit or (analysis.unit if analysis else None),
            ref_low=latest.ref_low if latest.ref_low is not None else _ref(analysis, "low"),
            ref_high=latest.ref_high if latest.ref_high is not None else _ref(analysis, "high"),
        )
        trend.points = [
            TrendPoint(r.taken_at, r.value_numeric, r.value_text, derived_flag(r), r.order.number)
            for r in values
            if r.value_numeric is not None  # every one of the series
        ]
        trends.append(trend)
    return ResultsOverview(list(by_order.values()), trends, analyses)


def _ref(analysis: Analysis | None, side: str) -> float | None:
    if analysis is None:
        return None
    return analysis.ref_low if side == "low" else analysis.ref_high


def analyses_for(
    session: Session, results: "Iterable[Result | ReleasedResult]"
) -> dict[str, Analysis]:
    """Return the catalogue's analyses for these results, by code, in one query."""
    codes = {result.analysis_code for result in results}
    if not codes:
        return {}
    return {a.code: a for a in session.scalars(select(Analysis).where(Analysis.code.in_(codes)))}


def order_results(session: Session, *, person: Person, order: Order) -> list[Result]:
    """Return the released, current results of one of the resident's orders."""
    if order.person_id != person.id:
        raise NotFound("no such order")
    return list(
        session.scalars(
            select(Result)
            .where(
                Result.order_id == order.id,
                Result.released_at.is_not(None),
                Result.superseded_at.is_(None),
            )
            .order_by(Result.id)
        )
    )
