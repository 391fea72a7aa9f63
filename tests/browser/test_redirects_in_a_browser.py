"""Chromium follows EP's redirects and stays on EP, whatever ``next=`` says (issue 11)."""

from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# each of these is //evil.example to a browser that is handed it unchanged
TRICKS = ["/\t/evil.example", "/\\evil.example", " //evil.example", "/%2F/evil.example"]


def test_chromium_stays_on_the_site_after_login_and_language_links(live_server, chromium, resident):
    context = chromium.new_context(ignore_https_errors=True, locale="sv-SE")
    page = context.new_page()
    hosts = []
    page.on("request", lambda request: hosts.append(urlsplit(request.url).hostname))
    site = urlsplit(live_server.url).hostname

    # the login form with a next= pointing elsewhere
    page.goto(f"{live_server.url}/login?next={quote(TRICKS[0], safe='')}")
    page.get_by_label("Personnummer").fill("19121212-1212")
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_text("Inloggad som")).to_be_visible()
    assert urlsplit(page.url).hostname == site

    # logged in: the login link redirects at once
    for trick in TRICKS:
        page.goto(f"{live_server.url}/login?next={quote(trick, safe='')}")
        assert urlsplit(page.url).hostname == site, trick
        expect(page.get_by_text("Inloggad som")).to_be_visible()

    # the language switch, its hidden next= changed in the page
    for trick in TRICKS:
        page.goto(f"{live_server.url}/orders")
        page.locator(".language-switch input[name=next]").evaluate(
            "(field, value) => { field.value = value; }", trick
        )
        with page.expect_navigation():  # the answer's redirect, followed to its end
            page.locator(".language-switch button").click()
        assert urlsplit(page.url).hostname == site, trick

    assert set(hosts) == {site}
    context.close()
