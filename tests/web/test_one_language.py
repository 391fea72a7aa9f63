"""One language per page: every resident, staff, EP.Admin and OmniqOperator page, in Swedish
and in English, holds no word of the other language.

The two word lists come from the catalogues themselves: a word of the Swedish sources
(msgid) that no English translation uses is Swedish, a word of the translations (msgstr)
that no Swedish source uses is English; the locales' month and weekday names are added.
Text marked with another language (lang="…", as WCAG 3.1.2 asks for the language switch's
"English" or a catalogue's English name on a Swedish form) is not counted, and neither are
names: a sampling site's name and address, a user's name, a package's or an analysis's code
("Provtagningen City", "Olle Operatör" and "STI-HOME" are the same on every page), nor a
resident's e-mail address, and neither is code (a command, setting, file, host or a
driver's error, the same in every language). The operations manual's inactivity message is
English in its Swedish original too: the Swedish pages quote it as written, marked lang="en".
"""

import html
import json
import os
import re
import socket
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.dates import get_day_names, get_month_names
from babel.messages.pofile import read_po
from sqlalchemy import select, text

from ep.domain import orders as order_service
from ep.domain.audit import Actor
from ep.domain.demo import load_demo
from ep.domain.installation import ensure_installation
from ep.healthcheck.checks import INACTIVITY_MESSAGE
from ep.identity.certificates import make_ca
from ep.models import (
    Analysis,
    BatchHeartbeat,
    BatchRun,
    InboxMessage,
    Installation,
    Kit,
    LabMessage,
    MllpListener,
    Notification,
    Offer,
    Order,
    Package,
    Person,
    SamplingLocation,
    User,
)
from ep.timeutil import local
from tests.support import gone_pid, is_postgres
from tests.web.staff.support import add_unmatched_message, held_positive, make_order

CATALOGUES = Path(__file__).resolve().parents[2] / "ep" / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)\w|%\w")
WORD = re.compile(r"[^\W\d_]{3,}")
SHOWN_ATTRIBUTES = ("aria-label", "data-label", "title", "placeholder", "alt")


def _words(text: str) -> set[str]:
    return set(WORD.findall(PLACEHOLDER.sub(" ", text).lower()))


def _texts(value) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value if v]


def language_words() -> dict[str, set[str]]:
    swedish, english = set(), set()
    for po in CATALOGUES.glob("*/en/LC_MESSAGES/messages.po"):
        with po.open("rb") as file:
            for message in read_po(file):
                if not message.id or not message.string:
                    continue
                for text in _texts(message.id):
                    swedish |= _words(text)
                for text in _texts(message.string):
                    english |= _words(text)
    for names in (get_month_names, get_day_names):
        for width in ("wide", "abbreviated"):
            swedish |= _words(" ".join(names(width, locale="sv").values()))
            english |= _words(" ".join(names(width, locale="en").values()))
    return {"sv": swedish - english, "en": english - swedish}


class PageText(HTMLParser):
    """The words a reader meets on a page, leaving out parts marked as another language."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}

    def __init__(self, language: str):
        super().__init__()
        self.language = language
        self.stack: list[tuple[str, bool]] = []  # (tag, inside another language)
        self.words: set[str] = set()

    def _other(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        other = self._other()
        if "lang" in attributes and tag != "html":
            other = attributes["lang"] != self.language
        if tag in ("script", "style", "code"):
            other = True
        if not other:
            for name in SHOWN_ATTRIBUTES:
                if attributes.get(name):
                    self.words |= _words(attributes[name])
            if tag == "input" and attributes.get("type") in ("submit", "button"):
                self.words |= _words(attributes.get("value") or "")
        if tag not in self.VOID:
            self.stack.append((tag, other))

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def handle_data(self, data):
        if not self._other():
            self.words |= _words(data)


def other_language_words(html: str, language: str, foreign: set[str]) -> set[str]:
    assert f'<html lang="{language}">' in html
    parser = PageText(language)
    parser.feed(html)
    return parser.words & foreign


@pytest.fixture
def world(make_app, pki, db_session, now, staff_user, admin_user):  # noqa: F811
    """The demo with two years of results, an unmatched lab message, and one app that
    takes the test login for residents and certificates for staff and EP.Admin."""
    load_demo(db_session, now=now, history=True)
    person = db_session.scalar(select(Person).where(Person.personnummer == "191212121212"))
    # a positive waiting for staff's call, and a home kit posted: their pages are walked too
    sti = db_session.scalar(select(Package).where(Package.code == "STI-HOME"))
    held_positive(db_session, person, sti, now)
    kit_order = make_order(
        db_session, person, sti, now=now, home_kit=True, delivery_address="Storgatan 1"
    )
    order_service.send_kit(
        db_session, order=kit_order, code="KIT-4711-WALK", actor=Actor.for_user(staff_user), now=now
    )
    add_unmatched_message(db_session, b"MSH|^~\\&|LIMS\r", personnummer="191212121212", now=now)
    db_session.commit()
    app = make_app(CitizenLogin="dev", **pki.settings())
    return app, person


def resident_paths(session, person) -> list[str]:
    order = session.scalar(select(Order).where(Order.person_id == person.id))
    open_order = session.scalar(
        select(Order).where(Order.person_id == person.id, Order.status == "ordered")
    )
    message = session.scalar(select(InboxMessage).where(InboxMessage.person_id == person.id))
    offer = session.scalar(select(Offer).where(Offer.person_id == person.id))
    return [
        "/",
        "/offers",
        f"/order/{offer.package_id}?offer={offer.id}",
        "/orders",
        f"/orders/{order.id}",
        f"/orders/{open_order.id}/cancel",
        "/kit",
        "/results",
        "/results/print",
        "/inbox",
        f"/inbox/{message.id}",
        "/settings",
        "/access-log",
        "/access-log?print=1",
        "/kit?code=KIT-4711-ABCD",
        "/tillganglighet",
        "/personuppgifter",
        "/kakor",
        "/no-such-page",
    ]


def staff_and_admin_paths(session, person) -> list[str]:
    order = session.scalar(select(Order).where(Order.person_id == person.id))
    package = session.scalar(select(Package))
    analysis = session.scalar(select(Analysis))
    location = session.scalar(select(SamplingLocation))
    kit_order = session.scalar(select(Order).where(Order.kit_id.is_not(None)))
    held = session.scalar(select(Order).where(Order.held_for_contact.is_(True)))
    return [
        "/staff/",
        f"/staff/patients/{person.id}",
        "/staff/sampling",
        "/staff/worklist",
        "/staff/unmatched",
        f"/staff/unmatched/{session.scalar(select(LabMessage.id))}",
        f"/staff/orders/{order.id}/results",
        f"/staff/orders/{kit_order.id}/kit",
        f"/staff/worklist/{held.id}/contacted",
        "/EP.Admin/",
        "/EP.Admin/users/new",
        "/EP.Admin/users/SE2321000016-S001",
        "/EP.Admin/packages",
        f"/EP.Admin/packages/{package.id}",
        "/EP.Admin/analyses",
        f"/EP.Admin/analyses/{analysis.id}",
        "/EP.Admin/locations",
        f"/EP.Admin/locations/{location.id}",
        "/EP.Admin/audit",
    ]


def names(session) -> set[str]:
    """The words of names and codes a page shows as they are, in no language: places,
    package and analysis codes, people, and the random order numbers and kit codes (an
    order number such as EP-7MEN-… would otherwise read as the Swedish word "men")."""
    words = set()
    for location in session.scalars(select(SamplingLocation)):
        words |= _words(f"{location.name} {location.address} {location.city}")
    for name in session.scalars(
        select(Package.code).union(
            select(Analysis.code),
            select(User.name),
            select(Person.email),
            select(Order.number),
            select(Kit.code),
        )
    ):
        words |= _words(name or "")
    return words


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_page_is_in_one_language(world, db_session, pki, language):  # noqa: F811
    app, person = world
    foreign = language_words()["en" if language == "sv" else "sv"] - names(db_session)
    found = {}

    resident = app.test_client()
    with resident.session_transaction() as session:
        session["lang"] = language
    page = resident.get("/login").get_data(as_text=True)
    if words := other_language_words(page, language, foreign):
        found["/login"] = sorted(words)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resident.post("/login", data={"csrf_token": token, "personnummer": "191212121212"})
    for path in resident_paths(db_session, person):
        response = resident.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        if words := other_language_words(response.get_data(as_text=True), language, foreign):
            found[path] = sorted(words)

    for hsa_id in ("SE2321000016-S001", "SE2321000016-A001"):
        client = app.test_client()
        with client.session_transaction() as session:
            session["lang"] = language
        for path in staff_and_admin_paths(db_session, person):
            if path.startswith("/staff") != (hsa_id.endswith("S001")):
                continue
            response = client.get(path, headers=pki.header(hsa_id))
            assert response.status_code == 200, (path, response.status_code)
            if words := other_language_words(response.get_data(as_text=True), language, foreign):
                found[path] = sorted(words)
    assert not found, "\n".join(f"{path}: {words}" for path, words in found.items())


def form_token(client, path: str, headers: dict) -> str:
    page = client.get(path, headers=headers).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, f"no form on {path}"
    return token[1]


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_audit_log_reads_in_one_language(world, db_session, pki, now, language):  # noqa: F811
    """EP.Admin's access log in the page's language, whatever language staff used: desk
    searches, the patient page read and a held positive released with its contact note."""
    app, person = world
    sti = db_session.scalar(select(Package).where(Package.code == "STI-HOME"))
    held = held_positive(db_session, person, sti, now)
    staff = app.test_client()
    with staff.session_transaction() as session:
        session["lang"] = "en" if language == "sv" else "sv"
    staff_headers = pki.header("SE2321000016-S001")
    token = form_token(staff, "/staff/", staff_headers)
    for key in ("19121212-1212", held.number, "KIT-NONE-0000"):
        staff.post(
            "/staff/patients",
            data={"csrf_token": token, "personnummer": key},
            headers=staff_headers,
        )
    staff.get(f"/staff/patients/{person.id}", headers=staff_headers)
    contact = f"/staff/worklist/{held.id}/contacted"
    called = local(now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    released = staff.post(
        contact,
        data={
            "csrf_token": form_token(staff, contact, staff_headers),
            "how": "phone",
            "when": called,
            "note": "Behandling bokad",
        },
        headers=staff_headers,
    )
    assert released.status_code == 302

    admin = app.test_client()
    with admin.session_transaction() as session:
        session["lang"] = language
    admin_headers = pki.header("SE2321000016-A001")
    page = admin.post(
        "/EP.Admin/audit",
        data={
            "csrf_token": form_token(admin, "/EP.Admin/audit", admin_headers),
            "personnummer": "191212121212",
        },
        headers=admin_headers,
    ).get_data(as_text=True)

    contact = {
        "sv": "Kontakt per telefon {at}, svaret visas. Anteckning: Behandling bokad",
        "en": "Contact by phone at {at}, the result is shown. Note: Behandling bokad",
    }[language]
    assert contact.format(at=called.replace("T", " ")) in page  # the note as staff wrote it
    foreign = language_words()["en" if language == "sv" else "sv"] - names(db_session)
    assert sorted(other_language_words(page, language, foreign - _words("Behandling bokad"))) == []


# -- OmniqOperator: the detail page and its JSON, with the batches in every state --

OPERATOR_PAGE = "/OmniqOperator/"
STATUS_PAGE = "/OmniqOperator/Operator/HealthCheckStatus"
HEALTH_JSON = {"Accept": "application/health+json"}
HOST = socket.gethostname()
CHECK_ROW = re.compile(
    r'<th scope="row">[^<]*<code>(?P<key>[^<]+)</code></th>\s*<td>[^<]*</td>\s*'
    r"<td>(?P<message>.*?)</td>",
    re.S,
)


def batch_run(session, batch, *, started, status, host="batchhost", pid=4242, **values):
    run = BatchRun(batch=batch, host=host, pid=pid, started_at=started, status=status, **values)
    session.add(run)
    session.flush()
    return run


def heartbeat(session, batch, run, **values) -> None:
    """``batch``'s heartbeat row after ``run`` (last active when it finished, by default)."""
    values.setdefault("last_activity_at", run.finished_at)
    session.add(BatchHeartbeat(batch=batch, last_run_id=run.id, **values))


def failed_notification(session, dedupe_key: str) -> None:
    """A notification the SMS provider refused for good (the notifications check fails)."""
    person = session.scalar(select(Person))
    session.add(
        Notification(
            person_id=person.id,
            kind="result",
            channel="sms",
            dedupe_key=dedupe_key,
            status="failed",
            last_error="invalid phone number",
        )
    )


def batches_in_every_state(session, now) -> None:
    """NOTIFYREMINDERS failed and is being rerun, IMPORTRESULTS stopped without finishing
    (no heartbeat within the lease), NOTIFYRESULTS late, EXPIREORDERS fine (and a dry run),
    PURGE never run and not yet due, BACKUP never run and overdue; three MLLP listeners
    (one dead, one listening, one stopped), a failed notification, a quarantined lab message.
    """
    ensure_installation(session, now=now - timedelta(days=2), demo=False)
    failed = batch_run(
        session,
        "NOTIFYREMINDERS",
        started=now - timedelta(minutes=12),
        finished_at=now - timedelta(minutes=11),
        status="failed",
        failed=3,
        error_type="DeadlockDetected",
        error_message="deadlock detected while claiming notification 17",
    )
    rerun = batch_run(
        session,
        "NOTIFYREMINDERS",
        started=now - timedelta(minutes=1),
        status="running",
        host=HOST,
        pid=os.getpid(),
    )
    heartbeat(
        session,
        "NOTIFYREMINDERS",
        failed,
        last_activity_at=now - timedelta(seconds=30),  # the rerun's
        last_outcome="failed",
        last_failure_at=failed.finished_at,
        last_error_type=failed.error_type,
        last_error_message=failed.error_message,
        running_run_id=rerun.id,
        running_host=HOST,
        running_pid=os.getpid(),
    )
    batch_run(
        session,
        "IMPORTRESULTS",
        started=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=2),
        status="stopped",
    )
    silent = batch_run(
        session, "IMPORTRESULTS", started=now - timedelta(minutes=25), status="running"
    )
    session.add(
        BatchHeartbeat(
            batch="IMPORTRESULTS",
            last_activity_at=now - timedelta(minutes=20),
            last_outcome="succeeded",
            running_run_id=silent.id,
            running_host="batchhost",
            running_pid=4242,
        )
    )
    late = batch_run(
        session,
        "NOTIFYRESULTS",
        started=now - timedelta(hours=2),
        finished_at=now - timedelta(hours=2) + timedelta(seconds=40),
        status="succeeded",
        queued=20,
        succeeded=19,
        skipped=1,
    )
    heartbeat(session, "NOTIFYRESULTS", late, last_outcome="succeeded")
    batch_run(
        session,
        "EXPIREORDERS",
        started=now - timedelta(minutes=30),
        finished_at=now - timedelta(minutes=29),
        status="succeeded",
        dry_run=True,
    )
    fine = batch_run(
        session,
        "EXPIREORDERS",
        started=now - timedelta(minutes=10),
        finished_at=now - timedelta(minutes=9),
        status="succeeded",
    )
    heartbeat(session, "EXPIREORDERS", fine, last_outcome="succeeded", last_success_at=now)
    for id, pid, listening in ((1, gone_pid(), True), (2, os.getpid(), True), (3, 1, False)):
        session.add(
            MllpListener(
                id=id,
                hostname=HOST,
                address=f"0.0.0.0:257{id}",
                pid=pid,
                listening_since=now - timedelta(hours=5) if listening else None,
                stopped_at=None if listening else now - timedelta(hours=1),
                last_message_at=now - timedelta(minutes=3) if id != 3 else None,
                messages=1234,
            )
        )
    failed_notification(session, "result:1")
    session.commit()


def batches_in_the_other_states(session, now) -> None:
    """No installation record; NOTIFYREMINDERS stopped without finishing (no error recorded)
    while a rerun runs, IMPORTRESULTS stopped without finishing (its process is gone),
    EXPIREORDERS running; one MLLP listener, stopped; two failed notifications, two
    quarantined lab messages."""
    session.execute(Installation.__table__.delete())
    session.execute(BatchHeartbeat.__table__.delete())
    session.execute(MllpListener.__table__.delete())
    session.execute(BatchRun.__table__.delete())
    alive = dict(host=HOST, pid=os.getpid())
    stopped = batch_run(
        session,
        "NOTIFYREMINDERS",
        started=now - timedelta(hours=1),
        finished_at=now - timedelta(minutes=50),
        status="stopped",
    )
    rerun = batch_run(
        session, "NOTIFYREMINDERS", started=now - timedelta(minutes=1), status="running", **alive
    )
    heartbeat(
        session,
        "NOTIFYREMINDERS",
        stopped,
        last_activity_at=now - timedelta(seconds=30),  # the rerun's
        last_outcome="stopped",
        last_failure_at=stopped.finished_at,
        running_run_id=rerun.id,
        running_host=HOST,
        running_pid=os.getpid(),
    )
    dead_pid = gone_pid()
    dead = batch_run(
        session,
        "IMPORTRESULTS",
        started=now - timedelta(minutes=3),
        status="running",
        host=HOST,
        pid=dead_pid,
    )
    session.add(
        BatchHeartbeat(
            batch="IMPORTRESULTS",
            last_activity_at=now - timedelta(minutes=2),
            running_run_id=dead.id,
            running_host=HOST,
            running_pid=dead_pid,
        )
    )
    running = batch_run(
        session, "EXPIREORDERS", started=now - timedelta(minutes=2), status="running", **alive
    )
    session.add(
        BatchHeartbeat(
            batch="EXPIREORDERS",
            last_activity_at=now - timedelta(minutes=1),
            running_run_id=running.id,
            running_host=HOST,
            running_pid=os.getpid(),
        )
    )
    session.add(
        MllpListener(
            hostname=HOST,
            address="0.0.0.0:2575",
            pid=1,
            listening_since=None,
            stopped_at=now - timedelta(hours=1),
            messages=0,
        )
    )
    failed_notification(session, "result:2")
    message = session.scalar(select(LabMessage))
    session.add(
        LabMessage(
            source=message.source,
            format=message.format,
            control_id="KK-2",
            filename="KK-2.hl7",
            payload=message.payload,
            sha256=message.sha256,
            status="rejected",
            error="not HL7",
            received_at=now,
        )
    )
    session.commit()


# what each state must show, in Swedish and in English: the walk meets every message
SHOWN = {
    "every state": [
        ("Senaste körningen misslyckades", "The latest run failed at"),
        ("pågår nu. <code>ERROR</code> tills en körning lyckas", "is running now. <code>ERROR"),
        ("inget livstecken på längre än", "no heartbeat for longer than"),
        ("Har inte körts än. Första körningen väntas", "Has not run yet. First run expected"),
        ("Senaste aktivitet: aldrig (installerat", "Last activity: never (installed"),
        ("senaste körningen lyckades", "last run succeeded"),
        ("dess process finns inte längre", "its process no longer exists"),
        ("meddelanden, det senaste", "messages, last at"),
        ("en annan mottagare lyssnar", "another listener is listening"),
        ("1 avisering kunde inte levereras", "1 notification(s) could not be delivered"),
        ("1 labbmeddelande är i karantän", "1 lab message(s) are quarantined"),
        ("gick certifikatet ut", "The certificate in"),
        ("Förnya det i tid", "Renew it in time"),
        ("måste bytas senast", "must be replaced by"),
        ("misslyckades</td>", "failed</td>"),
        ("stannade utan att bli klar</td>", "stopped</td>"),
        ("(provkörning)", "(dry run)"),
    ],
    "the other states": [
        ("EP är inte installerat i den här databasen", "EP is not installed in this database"),
        ("stannade utan att bli klar", "The latest run stopped without finishing"),
        ("inget fel registrerat", "no error recorded"),
        ("körs nu", "running now"),
        ("ingen mottagare tar emot labbsvar", "no listener receives lab results"),
        ("2 aviseringar kunde inte levereras", "2 notification(s) could not be delivered"),
        ("2 labbmeddelanden är i karantän", "2 lab message(s) are quarantined"),
        ("kan inte läsas", "cannot be read"),
        ("går CA-certifikatet ut", "The CA certificate in"),
        ("uppdateras nästa gång", "is next updated"),
    ],
    "database unreadable": [
        ("Databasen kan inte läsas", "The database cannot be read"),
        (
            "inte kontrollerad: databasen går inte att nå",
            "not checked: the database is unavailable",
        ),
    ],
    "database unreachable": [
        ("Du släpptes in eftersom ditt certifikat", "You were let in because your certificate"),
        ("Databasen går inte att nå:", "The database cannot be reached:"),
        ("Körningarna kan inte visas", "The runs cannot be shown"),
    ],
}


def page_messages(page: str) -> dict[str, str]:
    """Each check's message on the detail page, as text, by the check's key."""
    return {
        html.unescape(row["key"]): html.unescape(re.sub(r"<[^>]+>", "", row["message"]))
        for row in CHECK_ROW.finditer(page)
    }


def json_words(body: dict) -> set[str]:
    """The words of the JSON's description and thresholds (its messages are the page's)."""
    texts = [body["description"]]
    for entries in body["checks"].values():
        texts += [entry.get("threshold", "") for entry in entries]
    return _words(" ".join(texts))


class OperatorWalk:
    """An operator's client in one language; what it finds in the other language."""

    def __init__(self, app, headers, language, foreign, found):
        self.client = app.test_client()
        self.headers = headers
        self.language = language
        self.foreign = foreign
        self.found = found
        with self.client.session_transaction() as session:
            session["lang"] = language

    def walk(self, state: str) -> str:
        """Read the detail page and its JSON; check both; return the page."""
        reply = self.client.get(OPERATOR_PAGE, headers=self.headers)
        assert reply.status_code == 200, (state, reply.status_code)
        page = reply.get_data(as_text=True)
        for swedish, english in SHOWN[state]:
            assert (swedish if self.language == "sv" else english) in page, (state, swedish)
        if words := other_language_words(page, self.language, self.foreign):
            self.found[f"{state}: {OPERATOR_PAGE}"] = sorted(words)
        reply = self.client.get(OPERATOR_PAGE, headers={**self.headers, **HEALTH_JSON})
        body = json.loads(reply.get_data(as_text=True))
        if words := json_words(body) & self.foreign:
            self.found[f"{state}: {OPERATOR_PAGE} (health+json)"] = sorted(words)
        # the JSON says what the page says, in the same language (the page's words are
        # checked above, where code and the manual's quoted message are marked)
        for key, shown in page_messages(page).items():
            for entry in body["checks"][key]:
                if "output" in entry:
                    assert entry["output"] == shown, (state, key)
                    assert f"{key}: {shown}" in body["output"], (state, key)
        status = self.client.get(STATUS_PAGE, headers=self.headers).get_data(as_text=True)
        assert status in ("OK", "ERROR")  # the manual's words in every language
        return page


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_operator_page_is_in_one_language(
    make_app, db_session, pki, operator_user, resident, now, tmp_path, language
):
    add_unmatched_message(db_session, b"MSH|^~\\&|LIMS\r", personnummer="191212121212", now=now)
    batches_in_every_state(db_session, now)
    expired = tmp_path / "expired-server.pem"
    expired.write_bytes(make_ca("Old server", now=now - timedelta(days=400), days=10).cert_pem)
    settings = pki.settings(
        # warn long before: the warnings' words are on the page too
        CertificateExpiryWarnDays="100000",
        CrlNextUpdateWarnDays="1000",
        ServerCertificateFile=str(expired),
        WalArchivingExpected="true",  # PostgreSQL only
    )
    foreign = language_words()["en" if language == "sv" else "sv"] - names(db_session)
    found: dict[str, list[str]] = {}
    headers = pki.header(operator_user)
    operator = OperatorWalk(make_app(**settings), headers, language, foreign, found)

    page = operator.walk("every state")
    metrics = operator.client.get("/OmniqOperator/metrics", headers=operator.headers)
    # Prometheus reads the same text whatever the operator's language
    plain = make_app(**settings).test_client()
    assert metrics.data == plain.get("/OmniqOperator/metrics", headers=headers).data
    # the manual's message as written, marked as English where the page is not
    quote = INACTIVITY_MESSAGE.format(minutes=30)
    if language == "sv":
        assert f'<span lang="en">{quote}</span>' in page
    else:
        assert quote in page and 'lang="en"' not in page.split("<body", 1)[1]
    on_postgres = is_postgres(db_session.get_bind().url.render_as_string())
    assert ("<code>walArchive:archiving</code>" in page) == on_postgres
    # times in Stockholm, with the offset
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}", page)

    batches_in_the_other_states(db_session, now)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    other = make_app(**pki.settings(ServerCertificateFile=str(garbage)))
    operator = OperatorWalk(other, headers, language, foreign, found)
    operator.walk("the other states")

    # the database cannot be read: every batch unknown
    db_session.execute(text("ALTER TABLE batch_heartbeat RENAME TO batch_heartbeat_away"))
    db_session.commit()
    try:
        operator.walk("database unreadable")
    finally:
        db_session.execute(text("ALTER TABLE batch_heartbeat_away RENAME TO batch_heartbeat"))
        db_session.commit()

    # the database cannot be reached: the operator was verified lately (the shared cache),
    # and the session (with the language chosen) cannot be read, so the installation's
    # DefaultLanguage speaks
    if on_postgres:
        away = "postgresql+psycopg://ep@127.0.0.1:9/ep?connect_timeout=3"
    else:
        away = f"sqlite:///{tmp_path / 'no-such-folder' / 'ep.sqlite'}"
    down = make_app(EP=away, DefaultLanguage=language, **pki.settings())
    operator = OperatorWalk(down, headers, language, foreign, found)
    operator.walk("database unreachable")

    assert not found, "\n".join(f"{path}: {words}" for path, words in found.items())


def test_an_operator_turns_the_detail_page_english_with_its_language_button(
    make_app, db_session, pki, operator_user, now
):
    ensure_installation(db_session, now=now - timedelta(days=2), demo=False)
    db_session.commit()
    client = make_app(**pki.settings()).test_client()
    headers = pki.header(operator_user)
    page = client.get(OPERATOR_PAGE, headers=headers).get_data(as_text=True)
    assert '<html lang="sv">' in page and "Senaste aktivitet: aldrig" in page

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    form = {"csrf_token": token, "lang": "en", "next": OPERATOR_PAGE}
    switched = client.post("/language", data=form, headers=headers, follow_redirects=True)
    page = switched.get_data(as_text=True)
    assert switched.request.path == OPERATOR_PAGE
    assert '<html lang="en">' in page and "Last activity: never" in page
    body = client.get(OPERATOR_PAGE, headers={**headers, **HEALTH_JSON}).get_json()
    assert "Last activity: never" in body["output"]
