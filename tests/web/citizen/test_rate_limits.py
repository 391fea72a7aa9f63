"""Guessing is slowed down: kit codes and logins per person and per client (issue 11)."""

import logging

from sqlalchemy import select

from ep.models import RateLimitCounter
from tests.web.citizen.conftest import Browser


def guess_kit_codes(browser, count, **kwargs) -> list[int]:
    return [
        browser.submit("/kit", data={"code": f"KIT-0000-{n:04d}"}, **kwargs).status_code
        for n in range(count)
    ]


def test_kit_codes_past_the_limit_are_refused_with_429_and_retry_after(
    browser, young_resident, catalogue, caplog
):
    browser.login(young_resident.personnummer)
    assert guess_kit_codes(browser, 10) == [200] * 10  # each one "Koden kan inte registreras"
    caplog.set_level(logging.WARNING, logger="ep.ratelimit")
    response = browser.submit("/kit", data={"code": "KIT-0000-9999"})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "För många försök" in response.get_data(as_text=True)
    assert "rate limit 10 per 1 hour exceeded: POST /kit" in caplog.text
    assert browser.get("/kit").status_code == 200  # reading the page is not guessing


def test_the_kit_limit_counts_each_resident_and_each_address(
    make_app, resident, young_resident, catalogue
):
    app = make_app(CitizenLogin="dev", KitCodeRateLimit="3/hour", KitCodeAddressRateLimit="5/hour")
    first, second = Browser(app.test_client()), Browser(app.test_client())
    first.login(young_resident.personnummer)
    second.login(resident.personnummer)
    assert guess_kit_codes(first, 4) == [200, 200, 200, 429]  # per resident
    # the same address: five tries let through, whoever is logged in
    assert guess_kit_codes(second, 3) == [200, 200, 429]


def test_behind_the_regions_proxy_each_client_address_counts_on_its_own(
    make_app, young_resident, catalogue
):
    app = make_app(CitizenLogin="dev", KitCodeAddressRateLimit="2/hour")
    browser = Browser(app.test_client())
    browser.login(young_resident.personnummer)
    # nginx (a TrustedProxies address) appends the address it saw; what comes before it
    # is the client's to choose, and ignored
    one = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
    forged = {"X-Forwarded-For": "203.0.113.10, 198.51.100.7"}
    another = {"X-Forwarded-For": "198.51.100.8"}
    assert guess_kit_codes(browser, 2, headers=one) == [200, 200]
    assert guess_kit_codes(browser, 1, headers=forged) == [429]
    assert guess_kit_codes(browser, 1, headers=another) == [200]


def test_the_counters_live_in_the_database_so_every_worker_sees_them(
    make_app, young_resident, catalogue, db_session
):
    worker = make_app(CitizenLogin="dev", KitCodeRateLimit="2/hour")
    browser = Browser(worker.test_client())
    browser.login(young_resident.personnummer)
    assert guess_kit_codes(browser, 2) == [200, 200]
    db_session.rollback()
    assert db_session.scalars(select(RateLimitCounter.count)).all()
    # another worker (a new app, its own storage object): the same count
    other_worker = make_app(CitizenLogin="dev", KitCodeRateLimit="2/hour")
    other = Browser(other_worker.test_client())
    other.client.set_cookie("session", browser.client.get_cookie("session").value)
    assert guess_kit_codes(other, 1) == [429]


def test_logins_per_personnummer_are_limited(make_app, resident):
    app = make_app(CitizenLogin="dev", LoginRateLimit="3 per 15 minutes")
    statuses = []
    for _ in range(4):
        browser = Browser(app.test_client())
        response = browser.submit("/login", data={"personnummer": "19121212-1212"}, follow=False)
        statuses.append(response.status_code)
    assert statuses == [302, 302, 302, 429]
    other = Browser(app.test_client())
    assert other.login("19811228-9874").status_code == 302  # another person is not held up


def test_another_storage_named_by_setting_takes_the_counters(
    make_app, young_resident, catalogue, db_session
):
    """RateLimitStorage names a Redis URI in production; memory:// shows the setting is read."""
    app = make_app(CitizenLogin="dev", KitCodeRateLimit="1/hour", RateLimitStorage="memory://")
    browser = Browser(app.test_client())
    browser.login(young_resident.personnummer)
    assert guess_kit_codes(browser, 2) == [200, 429]
    db_session.rollback()
    assert db_session.scalars(select(RateLimitCounter)).all() == []
