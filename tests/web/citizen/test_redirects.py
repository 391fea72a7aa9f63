"""Every redirect stays on this site, however ``next=`` is written (issue 11, finding 1)."""

from urllib.parse import quote, urljoin, urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ep.web.redirects import safe_next
from tests.web.citizen.conftest import Browser, csrf_token

SITE = "https://ep.example/"
# what an attacker writes to leave the site: each is //evil.example to a browser
OFF_SITE = [
    "//evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    " //evil.example",
    "\x00//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%09/evil.example",
    "/%2F/evil.example",
    "/%5Cevil.example",
    "/%252F/evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    " javascript:alert(1)",
    "evil.example",
]
# what a browser would do with a Location header: drop tabs and newlines, strip leading
# spaces and controls, read \ as / (the WHATWG URL parser for http(s))
BROWSER_DROPS = str.maketrans("", "", "\t\n\r")


def browser_target(location: str) -> str:
    cleaned = location.translate(BROWSER_DROPS).strip("".join(map(chr, range(0x21))))
    return urljoin(SITE, cleaned.replace("\\", "/"))


@given(st.text())
def test_any_target_is_a_path_on_this_site_or_the_default(target):
    chosen = safe_next(target, "/")
    assert chosen == "/" or (chosen.startswith("/") and not chosen.startswith("//"))
    assert "\\" not in chosen and "\n" not in chosen and "\r" not in chosen
    assert urlsplit(browser_target(chosen)).netloc == "ep.example"


@given(st.lists(st.sampled_from(["/", "\\", "\t", "\n", " ", "%2F", "%5C", "%09", "evil.example"])))
def test_slashes_and_spaces_in_any_order_never_leave_the_site(parts):
    chosen = safe_next("".join(parts), "/")
    assert urlsplit(browser_target(chosen)).netloc == "ep.example"


def test_known_ways_off_the_site_all_give_the_default_page():
    for target in OFF_SITE:
        assert safe_next(target, "/start") == "/start", target


def test_paths_on_this_site_are_kept():
    assert safe_next("/results", "/") == "/results"
    assert safe_next("/orders/12?offer=3#top", "/") == "/orders/12?offer=3#top"


def test_a_logged_in_resident_is_not_sent_off_the_site_by_the_login_link(as_resident):
    for target in OFF_SITE:
        response = as_resident.get("/login?next=" + quote(target, safe=""))
        assert response.status_code == 302, target
        assert response.headers["Location"] == "/", target


def test_a_cr_or_lf_in_next_is_no_server_error(as_resident):
    for target in ("/results%0D%0ASet-Cookie:x=1", "/%0A", "%0D%0A//evil.example"):
        response = as_resident.get("/login?next=" + target)
        assert response.status_code == 302
        assert "\n" not in response.headers["Location"]
        assert not any("x=1" in c for c in response.headers.getlist("Set-Cookie"))


def test_the_login_form_never_sends_the_resident_off_the_site(make_app, resident):
    browser = Browser(make_app(CitizenLogin="dev", LoginRateLimit="100/minute").test_client())
    for target in OFF_SITE:
        token = csrf_token(browser.page("/login"))
        response = browser.client.post(
            "/login",
            data={"csrf_token": token, "personnummer": resident.personnummer, "next": target},
        )
        assert response.headers["Location"] == "/", target
        browser.submit("/", "/logout")


def test_the_language_switch_never_sends_anyone_off_the_site(browser):
    for target in OFF_SITE + ["/\r\n/evil.example"]:
        token = csrf_token(browser.page("/"))
        response = browser.client.post(
            "/language", data={"csrf_token": token, "lang": "en", "next": target}
        )
        assert response.status_code == 302, target
        assert response.headers["Location"] == "/", target


# no deadline: each example is a request to the app and its database, on a shared machine
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(target=st.text(alphabet=st.sampled_from("/\\\t\r\n %09evil.example:"), max_size=20))
def test_the_language_switch_answers_any_next_with_a_redirect_on_this_site(browser, target):
    token = csrf_token(browser.page("/"))
    response = browser.client.post(
        "/language", data={"csrf_token": token, "lang": "sv", "next": target}
    )
    assert response.status_code == 302
    assert urlsplit(browser_target(response.headers["Location"])).netloc == "ep.example"
