"""Who the resident is: a dev login (demo and tests) or the region's login proxy (header).

``CitizenLogin = dev``: the resident types a personnummer on /login; only for the demo
and tests, never in production. ``CitizenLogin = header``: the region's authenticating
proxy (1177 e-legitimation) puts the personnummer in ``CitizenIdentityHeader`` on every
request; it is honoured only when the direct peer is one of ``CitizenIdentityProxies``
(a setting for exactly this, empty by default; ep.config refuses header mode without
it), and ignored from anyone else, since any client can send a header.
"""

import logging
from functools import wraps

from flask import current_app, g, redirect, request, session, url_for
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import InputRequired

from ep.domain.residents import login_person
from ep.extensions import db
from ep.identity import InvalidIdentifier
from ep.models import Person
from ep.timeutil import utcnow
from ep.web.proxies import peer_address, peer_in
from ep.web.sessions import rotate_session

log = logging.getLogger(__name__)
SESSION_KEY = "person_id"


def login_mode() -> str:
    return current_app.config["EP"]["CitizenLogin"]


def _proxy_header(setting: str) -> str:
    """A header the (trusted) login proxy sets, read as UTF-8; '' when not configured."""
    name = current_app.config["EP"][setting]
    raw = request.headers.get(name, "") if name else ""
    try:
        # WSGI hands header bytes over as Latin-1; the proxy sends UTF-8
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return raw


def identify_resident() -> Person | None:
    """Find the logged-in resident for this request (before_request); set g.person."""
    g.person = None
    if login_mode() == "header":
        header = current_app.config["EP"]["CitizenIdentityHeader"]
        value = request.headers.get(header)
        if not value:
            return None
        if not peer_in(current_app.config["EP"]["CitizenIdentityProxies"]):
            log.warning("ignored %s from %s: not in CitizenIdentityProxies", header, peer_address())
            return None
        try:
            g.person = login_person(
                db.session(),
                personnummer=value,
                now=utcnow(),
                given_name=_proxy_header("CitizenGivenNameHeader"),
                family_name=_proxy_header("CitizenFamilyNameHeader"),
            )
        except InvalidIdentifier as exc:
            log.warning("ignored %s from %s: %s", header, request.remote_addr, exc)
            return None
        db.session.commit()  # a first visit created the resident
        return g.person
    person_id = session.get(SESSION_KEY)
    if person_id is not None:
        g.person = db.session.get(Person, person_id)
        if g.person is None:
            session.pop(SESSION_KEY, None)
    return g.person


def start_session(person: Person) -> None:
    """Log ``person`` in (dev mode): a fresh session keeping only the language choice."""
    language = session.get("lang")
    session.clear()
    rotate_session(session)  # a token known before the login is worth nothing after it
    session[SESSION_KEY] = person.id
    if language:
        # chosen before logging in: remember it for next time too
        person.language = language
    session["lang"] = person.language


def end_session() -> None:
    """Log out: the session's row is deleted, so its token is worth nothing from now on."""
    session.clear()
    rotate_session(session)


def login_required(view):
    """Send a resident who is not logged in to the login page (then back here)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("person") is None:
            return redirect(url_for("citizen.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


class DevLoginForm(FlaskForm):
    personnummer = StringField(
        "Personnummer",
        validators=[InputRequired()],
        render_kw={"autocomplete": "off", "inputmode": "numeric"},
    )
    submit = SubmitField("Logga in")
