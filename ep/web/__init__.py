"""The web: one blueprint per audience, common language choice and security headers."""

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request, session
from flask_babel import Domain, get_babel
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter

from ep.database import holds_write_turn
from ep.domain.staff_input import MAX_DATABASE_ID
from ep.extensions import babel, csrf, db
from ep.timeutil import format_local
from ep.web.admin import bp as admin_bp
from ep.web.admin_catalogue import bp as admin_catalogue_bp
from ep.web.citizen import bp as citizen_bp
from ep.web.citizen_auth import SESSION_KEY
from ep.web.errors import init_errors
from ep.web.formats import (
    date_text,
    datetime_text,
    lab_text,
    number_text,
    opening_hours_text,
)
from ep.web.formats import language as page_language
from ep.web.operator import bp as operator_bp
from ep.web.proxies import ForwardedFrom
from ep.web.ratelimit import init_limiter
from ep.web.sessions import DatabaseSessionInterface
from ep.web.staff import bp as staff_bp

LANGUAGES = ("sv", "en")
# one catalogue per audience, so each part can be translated on its own; Flask-Babel
# merges them. Swedish is the source language, English the translation.
TRANSLATION_DIRECTORIES = (
    "translations/citizen",
    "translations/staff",
    "translations/admin",
    "translations/operator",
)
# the catalogue that holds a blueprint's own texts (the staff catalogue also holds EP.Admin's
# catalogue pages and audit log): it wins where two catalogues translate the same Swedish
# differently ("Personnummer": "Personal identity number" for residents, kept as
# "Personnummer" for staff; "Tid": "Time" in the audit log, "Duration" for a batch run)
CATALOGUE_OF_BLUEPRINT = {
    "citizen": "translations/citizen",
    "staff": "translations/staff",
    "admin_catalogue": "translations/staff",
    "admin": "translations/admin",
    "operator": "translations/operator",
}

# no inline script or style anywhere: pages work without JavaScript, and this policy
# keeps an injected script from running even if escaping were ever missed
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def select_locale() -> str:
    """The language: the one chosen on the page (kept in the session), else the default."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return g.get("default_language") or "sv"


def _catalogues_by_audience(app: Flask) -> dict[str, Domain]:
    """For each catalogue, all of them merged with it last: Flask-Babel lets a later
    catalogue's translation win, so each audience's pages read their own words."""
    directories = get_babel(app).translation_directories
    resolved = dict(zip(TRANSLATION_DIRECTORIES, directories, strict=True))
    domains: dict[str, Domain] = {}
    for own in TRANSLATION_DIRECTORIES:
        ordered = [resolved[name] for name in TRANSLATION_DIRECTORIES if name != own]
        domains[own] = Domain(translation_directories=[*ordered, resolved[own]])
    return domains


def use_own_catalogue() -> None:
    """Before a request: its blueprint's own catalogue wins over the others."""
    own = CATALOGUE_OF_BLUEPRINT.get(request.blueprint or "")
    if own is not None:
        current_app.extensions["ep_catalogues"][own].as_default()


def _numbers_up_to(largest: int) -> str:
    """A regular expression for the whole numbers 1 to ``largest``, without leading zeros.

    Werkzeug looks at a rule's methods before its converter: a number the converter refuses
    on a path whose GET and POST are two rules would be 405, not 404. Matching only the
    possible ids keeps such a path from matching at all.
    """
    digits = str(largest)
    shorter = [rf"[1-9]\d{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    same_length = []
    for place, digit in enumerate(digits):
        lowest = 1 if place == 0 else 0
        if int(digit) > lowest:
            rest = len(digits) - place - 1
            same_length.append(f"{digits[:place]}[{lowest}-{int(digit) - 1}]\\d{{{rest}}}")
    return "|".join([*shorter, *same_length, digits])


class DatabaseIdConverter(IntegerConverter):
    """``<int:…>`` in EP's routes is a row id: 1 to the database's largest integer.

    Anything else matches no route, so a huge id is a 404 rather than an overflow (a 500)
    in the database driver; every route, present and future, gets it by default.
    """

    regex = f"(?:{_numbers_up_to(MAX_DATABASE_ID)})"

    def __init__(self, url_map, fixed_digits=0, min=1, max=MAX_DATABASE_ID, signed=False):
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_web(app: Flask) -> None:
    """Set up Babel, CSRF, sessions, rate limits, security headers and the blueprints."""
    config = app.config["EP"]
    app.url_map.converters["int"] = DatabaseIdConverter
    with app.app_context():
        app.session_interface = DatabaseSessionInterface(
            db.engine,
            idle=timedelta(minutes=config["SessionIdleMinutes"]),
            lifetime=timedelta(minutes=config["SessionLifetimeMinutes"]),
            login_key=SESSION_KEY,
        )
    init_limiter(app)
    app.config.update(
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        BABEL_DEFAULT_LOCALE=config["DefaultLanguage"],
        BABEL_DEFAULT_TIMEZONE="Europe/Stockholm",
        BABEL_TRANSLATION_DIRECTORIES=";".join(TRANSLATION_DIRECTORIES),
    )
    # the client's address and scheme, from TrustedProxies only (ep.web.proxies)
    # Flask's documented way to wrap the WSGI app (a method, as typeshed sees it)
    app.wsgi_app = ForwardedFrom(app.wsgi_app, config["TrustedProxies"])  # type: ignore[method-assign]
    babel.init_app(app, locale_selector=select_locale)
    app.extensions["ep_catalogues"] = _catalogues_by_audience(app)
    app.before_request(use_own_catalogue)
    csrf.init_app(app)
    init_errors(app)
    app.jinja_env.filters["localtime"] = format_local
    # in the page's language: "5.8" or "5,8", "31 december 2026", "Mon–Fri 7:30 AM"
    app.jinja_env.filters["number"] = number_text
    app.jinja_env.filters["lab"] = lab_text
    app.jinja_env.filters["day"] = date_text
    app.jinja_env.filters["moment"] = datetime_text
    app.jinja_env.filters["opening_hours"] = opening_hours_text
    app.jinja_env.globals["current_language"] = page_language

    @app.before_request
    def _default_language():
        g.default_language = config["DefaultLanguage"]

    policy = CONTENT_SECURITY_POLICY
    if config["CitizenLogin"] == "oidc":
        # the logout form is answered with a redirect to the provider's logout, and
        # browsers hold a form's redirects to form-action too
        issuer = urlsplit(config["OidcIssuer"])
        policy += f" {issuer.scheme}://{issuer.netloc}"

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # same-origin, not no-referrer: Flask-WTF refuses a form posted over HTTPS without
        # a same-site Referer ("The referrer header is missing"); other sites get nothing
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.endpoint != "static":
            # every page but the style sheet may carry personal data (a resident's results,
            # a patient's page, the audit log): no browser or proxy cache may keep a copy
            response.headers.setdefault("Cache-Control", "no-store")
        if request.is_secure:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response

    @app.after_request
    def _end_writing(response):
        # a unit of work begun as a writer on SQLite and left open (a form shown again with
        # its errors, a refusal) ends here: the web session is saved next, on a connection
        # of its own, which would otherwise wait for this one's lock
        if db.session.registry.has() and holds_write_turn(db.session()):
            db.session.rollback()
        return response

    @app.errorhandler(429)
    def _too_many_requests(error):
        # Flask-Limiter adds Retry-After to this response
        body = _("För många försök. Vänta en stund och försök igen.") + "\n"
        return Response(body, status=429, mimetype="text/plain")

    # one blueprint per audience, each checking its own access in before_request
    for blueprint in (citizen_bp, staff_bp, admin_bp, admin_catalogue_bp, operator_bp):
        app.register_blueprint(blueprint)
