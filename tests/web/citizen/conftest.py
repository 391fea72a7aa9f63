"""Fixtures for the resident's pages: a dev-login app, the demo catalogue, helpers that
submit forms the way a browser does (with the CSRF token the page carries)."""

import re
from datetime import timedelta

import pytest
from stdnum import luhn

from ep.domain.demo import load_demo
from ep.models import InboxMessage, Order, Package, Person, Result

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(page: str) -> str:
    match = CSRF.search(page)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


class Browser:
    """The Flask test client, used as a resident would: read a page, submit its form."""

    def __init__(self, client):
        self.client = client

    def get(self, url, **kwargs):
        return self.client.get(url, **kwargs)

    def page(self, url) -> str:
        response = self.client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response.get_data(as_text=True)

    def submit(self, page_url, action=None, data=None, follow=True, **kwargs):
        """Open ``page_url``, take its CSRF token and POST ``data`` to ``action``."""
        token = csrf_token(self.page(page_url))
        return self.client.post(
            action or page_url,
            data={"csrf_token": token, **(data or {})},
            follow_redirects=follow,
            **kwargs,
        )

    def login(self, personnummer):
        response = self.submit("/login", data={"personnummer": personnummer}, follow=False)
        assert response.status_code == 302, response.get_data(as_text=True)
        return response


@pytest.fixture
def dev_app(app, make_app):
    """The app with the demo's test login (CitizenLogin = dev), on emptied tables."""
    return make_app(CitizenLogin="dev")


@pytest.fixture
def browser(dev_app):
    return Browser(dev_app.test_client())


@pytest.fixture
def catalogue(db_session, resident, now):
    """The demo catalogue, locations and staff; offers of DIABETES and PK-WARAN to Tolvan."""
    load_demo(db_session, now=now - timedelta(minutes=5), history=False)
    db_session.commit()
    return {p.code: p for p in db_session.query(Package).all()}


def personnummer_born(year: int, month: int, day: int, serial: str = "238") -> str:
    """A valid personnummer for a birth date (the check digit computed)."""
    body = f"{year % 100:02d}{month:02d}{day:02d}{serial}"
    return f"{year:04d}{month:02d}{day:02d}{serial}{luhn.calc_check_digit(body)}"


@pytest.fixture
def young_resident(db_session, now):
    """A resident of 20, within the STI home test's age limits (15–29)."""
    person = Person(
        personnummer=personnummer_born(now.year - 20, 1, 15),
        given_name="Unga",
        family_name="Ursula",
        created_at=now,
    )
    db_session.add(person)
    db_session.commit()
    return person


@pytest.fixture
def as_resident(browser, resident, catalogue):
    browser.login(resident.personnummer)
    return browser


def released_order(session, person, package, *, when, values, now, number=None):
    """An order sampled at ``when`` with released results ``{code: (text, numeric, flag)}``.

    Stands in for sampling, IMPORTRESULTS and release, which other parts of EP own.
    """
    from ep.identity import new_order_number

    order = Order(
        number=number or new_order_number(),
        person_id=person.id,
        package_id=package.id,
        location_id=None,
        status="released",
        ordered_at=when - timedelta(days=2),
        expires_at=when + timedelta(days=28),
        sampled_at=when,
        resulted_at=when + timedelta(days=1),
        released_at=when + timedelta(days=1),
    )
    session.add(order)
    session.flush()
    analyses = {a.code: a for a in package.analyses}
    for code, (text, numeric, flag) in values.items():
        analysis = analyses[code]
        session.add(
            Result(
                order_id=order.id,
                analysis_code=code,
                analysis_id=analysis.id,
                value_text=text,
                value_numeric=numeric,
                unit=analysis.unit,
                ref_range=(
                    f"{analysis.ref_low}-{analysis.ref_high}"
                    if analysis.ref_low is not None
                    else analysis.ref_text
                ),
                ref_low=analysis.ref_low,
                ref_high=analysis.ref_high,
                flag=flag,
                status="F",
                observed_at=when,
                received_at=when + timedelta(days=1),
                released_at=when + timedelta(days=1),
            )
        )
    session.flush()
    return order


def inbox_message(session, person, *, subject, body, now, order=None, key=None):
    message = InboxMessage(
        person_id=person.id,
        dedupe_key=key or f"test:{person.id}:{subject}",
        subject=subject,
        body=body,
        order_id=order.id if order else None,
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message
