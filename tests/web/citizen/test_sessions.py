"""A logout or an idle session really ends it: the session lives on the server (issue 11)."""

from datetime import timedelta

import time_machine
from sqlalchemy import select

from ep.models import WebSession
from tests.web.citizen.conftest import Browser, csrf_token


def logged_in(app, personnummer) -> Browser:
    browser = Browser(app.test_client())
    browser.login(personnummer)
    assert browser.get("/orders").status_code == 200
    return browser


def replay(app, cookie: str):
    """A second browser (or a thief) presenting a copy of the session cookie."""
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client.get("/orders")


def test_a_cookie_copied_before_the_logout_is_worth_nothing_after_it(dev_app, resident):
    browser = logged_in(dev_app, resident.personnummer)
    copied = browser.client.get_cookie("session").value
    assert replay(dev_app, copied).status_code == 200
    browser.submit("/", "/logout")
    assert replay(dev_app, copied).status_code == 302
    assert browser.get("/orders").status_code == 302


def test_the_cookie_carries_a_random_token_and_the_database_only_its_hash(
    dev_app, resident, db_session
):
    browser = logged_in(dev_app, resident.personnummer)
    token = browser.client.get_cookie("session").value
    # a signed cookie of Flask's reads <data>.<time>.<signature>; this is one random word
    assert "." not in token and len(token) >= 40
    db_session.rollback()
    stored = db_session.scalars(select(WebSession.token_hash)).all()
    assert token not in stored and len(stored) == 1


def test_logging_in_gives_a_new_token_so_one_planted_before_is_worth_nothing(dev_app, resident):
    browser = Browser(dev_app.test_client())
    browser.page("/login")  # an anonymous session (its CSRF token) before the login
    planted = browser.client.get_cookie("session").value
    browser.login(resident.personnummer)
    assert browser.client.get_cookie("session").value != planted
    assert replay(dev_app, planted).status_code == 302


def test_an_idle_session_ends_after_the_idle_timeout(make_app, resident, now):
    app = make_app(CitizenLogin="dev", SessionIdleMinutes="15")
    with time_machine.travel(now, tick=False) as clock:
        browser = logged_in(app, resident.personnummer)
        clock.shift(timedelta(minutes=14))
        assert browser.get("/orders").status_code == 200  # in use: kept alive
        clock.shift(timedelta(minutes=14))
        assert browser.get("/orders").status_code == 200
        clock.shift(timedelta(minutes=16))
        assert browser.get("/orders").status_code == 302


def test_a_dev_login_cookie_is_worth_nothing_30_days_later(dev_app, resident, now):
    with time_machine.travel(now, tick=False) as clock:
        copied = logged_in(dev_app, resident.personnummer).client.get_cookie("session").value
        clock.shift(timedelta(days=30))
        assert replay(dev_app, copied).status_code == 302


def test_a_session_in_use_still_ends_at_its_absolute_lifetime(make_app, resident, now):
    app = make_app(CitizenLogin="dev", SessionIdleMinutes="15", SessionLifetimeMinutes="60")
    with time_machine.travel(now, tick=False) as clock:
        browser = logged_in(app, resident.personnummer)
        for _ in range(5):
            clock.shift(timedelta(minutes=10))
            assert browser.get("/orders").status_code == 200
        clock.shift(timedelta(minutes=11))
        assert browser.get("/orders").status_code == 302


def test_a_form_left_open_longer_than_the_idle_timeout_still_posts_without_a_login(dev_app, now):
    """Staff sign in per request: their session holds only the CSRF token, not a login."""
    browser = Browser(dev_app.test_client())
    with time_machine.travel(now, tick=False) as clock:
        token = csrf_token(browser.page("/"))
        clock.shift(timedelta(minutes=40))
        response = browser.client.post("/language", data={"csrf_token": token, "lang": "en"})
        assert response.status_code == 302
        # the CSRF token was still in the session, so the choice was taken: English now
        assert 'lang="sv">Svenska</button>' in browser.page("/")


def test_ended_sessions_are_removed_from_the_database(dev_app, resident, db_session, now):
    with time_machine.travel(now, tick=False) as clock:
        logged_in(dev_app, resident.personnummer)
        clock.shift(timedelta(minutes=721))
        logged_in(dev_app, resident.personnummer)
    db_session.rollback()
    assert db_session.query(WebSession).count() == 1
