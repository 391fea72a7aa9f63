"""The resident login at a real OpenID provider (tests/oidc/provider.mjs) on loopback."""

import re
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from tests.oidc.provider import LOA3, run_provider

FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def provider(tmp_path):
    with run_provider(tmp_path) as running:
        yield running


@pytest.fixture
def oidc_app(app, make_app, provider):
    """EP with CitizenLogin = oidc at the test provider, on emptied tables."""
    return make_app(**provider.settings())


def _follow_to_ep(http: requests.Session, response) -> str:
    """Follow the provider's redirects until one leads back to EP; return that URL."""
    for _ in range(10):
        assert response.is_redirect, (response.status_code, response.text[:500])
        location = urljoin(response.url, response.headers["Location"])
        if location.startswith("https://localhost/"):
            return location
        response = http.get(location, allow_redirects=False)
    raise AssertionError("the provider never sent the browser back to EP")


def at_provider(client, **answers):
    """Start a login at EP, answer the provider's login page; return EP's callback answer."""
    return client.get(provider_redirect(client, **answers))


def provider_redirect(
    client, *, personnummer="", acr=LOA3, given="", family="", action="login", next_page="/orders"
):
    """Start a login at EP, answer the provider's login page; return where it sends back."""
    start = client.get(f"/login?next={next_page}")
    assert start.status_code == 302, start.get_data(as_text=True)
    http = requests.Session()
    # without trust_env, REQUESTS_CA_BUNDLE in the environment would override http.verify
    http.trust_env = False
    http.verify = str(client.application.config["EP"].path_of("OidcCaFile"))
    answer = http.get(start.headers["Location"], allow_redirects=False)
    login_page = http.get(urljoin(answer.url, answer.headers["Location"]))
    assert "Personnummer" in login_page.text, login_page.text[:500]
    form = urljoin(login_page.url, FORM_ACTION.search(login_page.text).group(1))
    answer = http.post(
        form,
        data={
            "personnummer": personnummer,
            "given_name": given,
            "family_name": family,
            "acr": acr,
            "action": action,
        },
        allow_redirects=False,
    )
    back = urlsplit(_follow_to_ep(http, answer))
    return f"{back.path}?{back.query}"


def logout(client):
    page = client.get("/orders").get_data(as_text=True)
    return client.post("/logout", data={"csrf_token": CSRF.search(page).group(1)})
