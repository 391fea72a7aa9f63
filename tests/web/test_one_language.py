"""One language per page: every resident, staff and EP.Admin page, in Swedish and in English,
holds no word of the other language.

The two word lists come from the catalogues themselves: a word of the Swedish sources
(msgid) that no English translation uses is Swedish, a word of the translations (msgstr)
that no Swedish source uses is English; the locales' month and weekday names are added.
Text marked with another language (lang="…", as WCAG 3.1.2 asks for the language switch's
"English" or a catalogue's English name on a Swedish form) is not counted, and neither are
names: a sampling site's name and address, a user's name, a package's or an analysis's code
("Provtagningen City", "Olle Operatör" and "STI-HOME" are the same on every page), nor a
resident's e-mail address.
"""

import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.dates import get_day_names, get_month_names
from babel.messages.pofile import read_po
from sqlalchemy import select

from ep.domain import orders as order_service
from ep.domain.audit import Actor
from ep.domain.demo import load_demo
from ep.models import (
    Analysis,
    InboxMessage,
    LabMessage,
    Offer,
    Order,
    Package,
    Person,
    SamplingLocation,
    User,
)
from ep.timeutil import local
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
        if tag in ("script", "style"):
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
    words = set()
    for location in session.scalars(select(SamplingLocation)):
        words |= _words(f"{location.name} {location.address} {location.city}")
    for name in session.scalars(
        select(Package.code).union(select(Analysis.code), select(User.name), select(Person.email))
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
