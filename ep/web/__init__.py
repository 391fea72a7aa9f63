"""The web: one blueprint per audience, common language choice and security headers."""

from flask import Flask, g, request, session
from flask_babel import get_locale

from ep.extensions import babel, csrf
from ep.timeutil import format_local
from ep.web.admin import bp as admin_bp
from ep.web.admin_catalogue import bp as admin_catalogue_bp
from ep.web.citizen import bp as citizen_bp
from ep.web.operator import bp as operator_bp
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


def init_web(app: Flask) -> None:
    """Set up Babel, CSRF, cookies, security headers and the blueprints."""
    config = app.config["EP"]
    app.config.update(
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        BABEL_DEFAULT_LOCALE=config["DefaultLanguage"],
        BABEL_DEFAULT_TIMEZONE="Europe/Stockholm",
        BABEL_TRANSLATION_DIRECTORIES=";".join(TRANSLATION_DIRECTORIES),
    )
    babel.init_app(app, locale_selector=select_locale)
    csrf.init_app(app)
    app.jinja_env.filters["localtime"] = format_local
    app.jinja_env.globals["current_language"] = lambda: str(get_locale())

    @app.before_request
    def _default_language():
        g.default_language = config["DefaultLanguage"]

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # same-origin, not no-referrer: Flask-WTF refuses a form posted over HTTPS without
        # a same-site Referer ("The referrer header is missing"); other sites get nothing
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.is_secure:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response

    # one blueprint per audience, each checking its own access in before_request
    for blueprint in (citizen_bp, staff_bp, admin_bp, admin_catalogue_bp, operator_bp):
        app.register_blueprint(blueprint)
