from ep.models import Person
from tests.web.citizen.conftest import Browser, csrf_token


def test_a_first_dev_login_creates_the_resident_and_shows_who_is_logged_in(browser, db_session):
    response = browser.login("19811228-9874")
    assert response.headers["Location"] == "/"
    page = browser.page("/")
    assert "Inloggad som 19811228-9874" in page
    db_session.rollback()
    person = db_session.query(Person).filter_by(personnummer="198112289874").one()
    assert person.language == "sv"


def test_a_wrong_personnummer_is_explained_next_to_the_field(browser):
    response = browser.submit("/login", data={"personnummer": "19811228-9875"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'aria-describedby="personnummer-hint personnummer-error"' in page
    assert 'id="personnummer-error"' in page
    assert "Skriv ett giltigt personnummer" in page
    assert 'aria-invalid="true"' in page


def test_the_session_cookie_is_secure_httponly_and_samesite(browser, resident):
    response = browser.login(resident.personnummer)
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_pages_need_a_login_and_come_back_after_it(browser, resident):
    response = browser.get("/results")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/results"
    token = csrf_token(browser.page("/login?next=/results"))
    response = browser.client.post(
        "/login",
        data={"csrf_token": token, "personnummer": resident.personnummer, "next": "/results"},
    )
    assert response.headers["Location"] == "/results"


def test_the_login_never_redirects_to_another_site(browser, resident):
    token = csrf_token(browser.page("/login"))
    response = browser.client.post(
        "/login",
        data={
            "csrf_token": token,
            "personnummer": resident.personnummer,
            "next": "//evil.example/",
        },
    )
    assert response.headers["Location"] == "/"


def test_logging_out_ends_the_session(as_resident):
    response = as_resident.submit("/", "/logout")
    assert "Du är utloggad." in response.get_data(as_text=True)
    assert as_resident.get("/orders").status_code == 302


def test_a_post_without_the_csrf_token_is_refused(browser, resident):
    response = browser.client.post("/login", data={"personnummer": resident.personnummer})
    assert response.status_code == 400
    assert browser.get("/orders").status_code == 302  # not logged in


def test_the_dev_login_is_refused_when_residents_log_in_through_the_region(app, make_app, resident):
    client = Browser(make_app(CitizenLogin="header").test_client())
    assert client.get("/login").status_code == 401
    page = client.get("/login").get_data(as_text=True)
    assert "Personnummer" not in page
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.client.post(
        "/login", data={"csrf_token": token, "personnummer": resident.personnummer}
    )
    assert response.status_code == 401
    assert client.get("/orders").status_code == 302


def test_the_identity_header_logs_in_from_a_trusted_proxy(app, make_app, db_session):
    client = make_app(CitizenLogin="header").test_client()
    response = client.get(
        "/orders",
        headers={"X-Personnummer": "198112289874"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Inloggad som 19811228-9874" in page
    assert "Logga ut" not in page  # the region's login proxy holds that session
    db_session.rollback()
    assert db_session.query(Person).filter_by(personnummer="198112289874").count() == 1


def test_the_login_proxy_s_name_headers_give_the_resident_their_name(app, make_app, db_session):
    client = make_app(
        CitizenLogin="header",
        CitizenGivenNameHeader="X-Given-Name",
        CitizenFamilyNameHeader="X-Family-Name",
    ).test_client()
    headers = {
        "X-Personnummer": "200501012389",
        # WSGI passes header bytes as Latin-1: the proxy's UTF-8 "Åsa Öberg"
        "X-Given-Name": "Åsa".encode().decode("latin-1"),
        "X-Family-Name": "Öberg".encode().decode("latin-1"),
    }
    response = client.get("/orders", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 200
    assert "Åsa Öberg" in response.get_data(as_text=True)
    db_session.rollback()
    person = db_session.query(Person).filter_by(personnummer="200501012389").one()
    assert person.name == "Åsa Öberg"


def test_the_identity_header_is_ignored_from_anyone_else(app, make_app, db_session):
    client = make_app(CitizenLogin="header", CitizenIdentityProxies="10.0.0.0/8").test_client()
    response = client.get(
        "/orders",
        headers={"X-Personnummer": "198112289874"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 302
    assert db_session.query(Person).count() == 0
    trusted = client.get(
        "/orders",
        headers={"X-Personnummer": "198112289874"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert trusted.status_code == 200


def test_a_dev_login_session_is_no_login_when_the_region_logs_residents_in(
    browser, resident, make_app
):
    """A session cookie from a dev login means nothing to a header-mode installation."""
    browser.login(resident.personnummer)
    header_app = make_app(CitizenLogin="header")
    with header_app.test_client() as client:
        client.set_cookie("session", browser.client.get_cookie("session").value)
        assert client.get("/orders").status_code == 302


def test_the_certificate_front_is_no_source_of_resident_identities(app, make_app, db_session):
    """TrustedProxies may send certificates; only CitizenIdentityProxies may name a resident."""
    client = make_app(
        CitizenLogin="header", TrustedProxies="127.0.0.1", CitizenIdentityProxies="10.9.9.9"
    ).test_client()
    response = client.get(
        "/orders",
        headers={"X-Personnummer": "198112289874", "X-Forwarded-For": "10.9.9.9"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert response.status_code == 302
    assert db_session.query(Person).count() == 0
