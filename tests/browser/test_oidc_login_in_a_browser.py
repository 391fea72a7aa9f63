"""Chromium logs a resident in at the region's identity provider and out of both (issue 18).

The provider is the npm package oidc-provider on loopback (tests/oidc/provider.mjs); EP is
gunicorn over TLS with CitizenLogin = oidc.
"""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Pages, serve_tls
from tests.oidc.provider import LOA2, LOA3, run_provider

pytestmark = pytest.mark.browser


@pytest.fixture
def oidc_server(app, database_url, tmp_path):
    with run_provider(tmp_path) as provider:
        with serve_tls(tmp_path, database_url, **provider.settings()) as (url, _config):
            provider.register(url)
            yield url, provider


def _legitimate(page, personnummer: str, acr: str) -> None:
    """Answer the provider's login page, as BankID would."""
    expect(page.get_by_role("heading", name="E-legitimation")).to_be_visible()
    page.get_by_label("Personnummer").fill(personnummer)
    page.get_by_label("Förnamn").fill("Tolvan")
    page.get_by_label("Efternamn").fill("Tolvansson")
    page.get_by_label("Tillitsnivå").select_option(acr)
    page.get_by_role("button", name="Legitimera").click()


def _tab(chromium, url: str, name: str):
    context = chromium.new_context(ignore_https_errors=True, locale="sv-SE")
    page = context.new_page()
    return context, page, Pages(page, url, name)


def test_a_resident_logs_in_at_the_provider_and_out_of_ep_and_the_provider(oidc_server, chromium):
    url, provider = oidc_server
    context, page, pages = _tab(chromium, url, "oidc")

    page.goto(f"{url}/orders")
    assert page.url.startswith(provider.issuer)  # sent to the provider to log in
    _legitimate(page, "191212121212", LOA3)
    expect(page.get_by_text("Inloggad som")).to_be_visible()
    expect(page.get_by_text("Tolvan Tolvansson")).to_be_visible()
    assert page.url == f"{url}/orders"
    pages.check("logged-in")

    page.get_by_role("button", name="Logga ut").click()
    page.get_by_role("button", name="Logga ut hos e-legitimationen").click()
    expect(page.get_by_text("Du är utloggad.")).to_be_visible()
    assert page.url == f"{url}/"

    # logged out at both: EP sends to the provider, which asks who it is again
    page.goto(f"{url}/orders")
    expect(page.get_by_role("heading", name="E-legitimation")).to_be_visible()
    assert pages.csp_violations == []
    context.close()


def test_too_low_an_assurance_level_is_told_in_words(oidc_server, chromium):
    url, _provider = oidc_server
    context, page, pages = _tab(chromium, url, "oidc-loa2")
    page.goto(f"{url}/results")
    _legitimate(page, "191212121212", LOA2)
    expect(page.get_by_role("heading", name="Inloggningen räcker inte")).to_be_visible()
    expect(page.get_by_text("Inloggad som")).to_have_count(0)
    pages.check("assurance")
    context.close()
