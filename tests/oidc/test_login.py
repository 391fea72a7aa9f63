"""Residents log in and out at a real OpenID provider; every login and failure is audited."""

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from ep.models import AuditEvent, Person
from tests.oidc.conftest import at_provider, logout, provider_redirect
from tests.oidc.provider import LOA2, run_provider


def _events(db_session, action):
    db_session.expire_all()
    return db_session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_a_resident_logs_in_at_the_provider_and_lands_where_they_were_going(oidc_app, db_session):
    client = oidc_app.test_client()
    answer = at_provider(client, personnummer="191212121212", given="Tolvan", family="Tolvansson")
    assert answer.status_code == 302 and answer.headers["Location"] == "/orders"
    assert "Tolvan Tolvansson" in client.get("/orders").get_data(as_text=True)
    person = db_session.scalar(select(Person).where(Person.personnummer == "191212121212"))
    assert person.name == "Tolvan Tolvansson"
    (event,) = _events(db_session, "login")
    assert event.patient_personnummer == "191212121212"
    assert event.details == "OpenID Connect, acr http://id.elegnamnden.se/loa/1.0/loa3"


def test_the_name_follows_the_provider_on_each_login(oidc_app, resident, db_session):
    client = oidc_app.test_client()
    at_provider(client, personnummer="191212121212", given="Tolvan", family="Tolvsson-Berg")
    db_session.expire_all()
    assert db_session.get(Person, resident.id).family_name == "Tolvsson-Berg"


def test_a_samordningsnummer_logs_in_like_a_personnummer(oidc_app, db_session):
    client = oidc_app.test_client()
    # born 1990-06-01: the day plus 60
    answer = at_provider(client, personnummer="199006612387", given="Sam", family="Ordning")
    assert answer.status_code == 302
    assert client.get("/orders").status_code == 200
    assert (
        db_session.scalar(select(Person.given_name).where(Person.personnummer == "199006612387"))
        == "Sam"
    )


def test_too_low_an_assurance_level_is_refused_and_said_so(oidc_app, db_session):
    client = oidc_app.test_client()
    answer = at_provider(client, personnummer="191212121212", acr=LOA2)
    assert answer.status_code == 403
    assert "inte räcker för att se provsvar" in answer.get_data(as_text=True)
    assert client.get("/orders").status_code == 302  # not logged in
    (event,) = _events(db_session, "login:assurance")
    assert event.patient_personnummer == "191212121212"
    assert "loa2" in event.details
    assert not _events(db_session, "login")


def test_a_cancelled_login_says_so(oidc_app, db_session):
    client = oidc_app.test_client()
    answer = at_provider(client, action="cancel")
    assert answer.status_code == 400
    assert "Du avbröt inloggningen" in answer.get_data(as_text=True)
    (event,) = _events(db_session, "login:cancelled")
    assert event.actor_id == "unknown" and "access_denied" in event.details


def test_a_cancelled_login_in_english(app, make_app, provider, db_session):
    client = make_app(DefaultLanguage="en", **provider.settings()).test_client()
    answer = at_provider(client, action="cancel")
    assert "You cancelled the login" in answer.get_data(as_text=True)


def test_a_provider_that_does_not_answer_is_told_as_such(app, make_app, db_session, tmp_path):
    with run_provider(tmp_path) as provider:
        settings = provider.settings()
    # the provider has stopped: its port no longer answers
    client = make_app(**settings).test_client()
    answer = client.get("/login")
    assert answer.status_code == 503
    text = answer.get_data(as_text=True)
    assert "Inloggningstjänsten svarar inte just nu" in text and "Traceback" not in text
    (event,) = _events(db_session, "login:unavailable")
    assert "openid-configuration" in event.details


def test_a_callback_without_a_login_begun_in_this_browser_is_refused(oidc_app, db_session):
    client = oidc_app.test_client()
    answer = client.get("/login/callback?code=stolen&state=guessed")
    assert answer.status_code == 400
    assert "Inloggningen kunde inte slutföras" in answer.get_data(as_text=True)
    assert _events(db_session, "login:refused")


def test_the_providers_answer_counts_once_and_only_in_the_browser_that_began(oidc_app, db_session):
    resident_browser = oidc_app.test_client()
    callback = provider_redirect(resident_browser, personnummer="191212121212")
    # someone else holding the very URL (a leaked log, a shared link) gets nowhere
    thief = oidc_app.test_client()
    assert thief.get(callback).status_code == 400
    assert thief.get("/orders").status_code == 302
    assert resident_browser.get(callback).status_code == 302
    # the back button: the login's state is spent
    assert resident_browser.get(callback).status_code == 400
    assert len(_events(db_session, "login:refused")) == 2


def test_logout_ends_eps_session_and_the_providers(oidc_app, db_session):
    client = oidc_app.test_client()
    at_provider(client, personnummer="191212121212")
    cookie = client.get_cookie("session").value
    answer = logout(client)
    assert answer.status_code == 302
    url = urlsplit(answer.headers["Location"])
    query = parse_qs(url.query)
    assert url.path == "/session/end"
    assert query["post_logout_redirect_uri"] == ["https://localhost/"]
    assert query["id_token_hint"]
    # the old cookie is worth nothing now
    stale = oidc_app.test_client()
    stale.set_cookie("session", cookie)
    assert stale.get("/orders").status_code == 302
    assert _events(db_session, "logout")


def test_answers_from_the_provider_count_against_the_login_limit_per_address(
    app, make_app, provider
):
    client = make_app(LoginAddressRateLimit="2 per 15 minutes", **provider.settings()).test_client()
    assert client.get("/login/callback?code=a&state=a").status_code == 400
    assert client.get("/login/callback?code=b&state=b").status_code == 400
    assert client.get("/login/callback?code=c&state=c").status_code == 429
