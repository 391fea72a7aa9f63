"""Rate limits on guessing: logins, kit codes and staff look-ups, per client and per person.

Flask-Limiter does the counting; the counters live where every gunicorn worker and every
web host sees them. By default that is EP's own database (``rate_limit_counter``, fixed
windows), so the embedded SQLite installation needs nothing more; ``RateLimitStorage``
may name a Redis (or Memcached) URI instead.

The integration API (/api/v1) is limited per function certificate instead
(``per_certificate``), after the certificate has been checked.

Each limited view of the pages has two limits: per client address (loose: many residents can share
one address behind a NAT) and per person (the resident logged in, the personnummer typed
at a login, the staff member's HSA-ID). A refusal is 429 with Retry-After, and a warning
in the log naming the limit and the key.
"""

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import Flask, current_app, g, request
from flask_limiter import RequestLimit
from limits.storage import Storage
from sqlalchemy import case, delete, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ep.database import continue_as_writer
from ep.extensions import db, limiter
from ep.models import RateLimitCounter
from ep.timeutil import utcnow

log = logging.getLogger("ep.ratelimit")

DATABASE_STORAGE = "ep+database://"
_counters = RateLimitCounter.__table__
# finished windows removed whenever a new one starts, a bounded amount at a time
_REMOVE_AT_A_TIME = 100


class DatabaseStorage(Storage):
    """A ``limits`` storage over EP's ``rate_limit_counter`` table (fixed windows only)."""

    STORAGE_SCHEME = ["ep+database"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.engine: Engine = options["engine"]

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Count ``amount`` more in ``key``'s window, starting a new window when it ended."""
        now = utcnow()
        ends = now + timedelta(seconds=expiry)
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        ended = _counters.c.expires_at <= now
        statement = (
            dialect.insert(_counters)
            .values(key=key, count=amount, expires_at=ends)
            .on_conflict_do_update(
                index_elements=[_counters.c.key],
                set_={
                    "count": case((ended, amount), else_=_counters.c.count + amount),
                    "expires_at": case((ended, ends), else_=_counters.c.expires_at),
                },
            )
            .returning(_counters.c.count)
        )
        with self.engine.begin() as connection:
            count = connection.execute(statement).scalar_one()
            if count == amount:  # a new window: tidy away some finished ones
                finished = (
                    select(_counters.c.key)
                    .where(_counters.c.expires_at <= now)
                    .limit(_REMOVE_AT_A_TIME)
                )
                connection.execute(delete(_counters).where(_counters.c.key.in_(finished)))
        return count

    def _row(self, key: str):
        with self.engine.connect() as connection:
            return connection.execute(
                select(_counters.c.count, _counters.c.expires_at).where(
                    _counters.c.key == key, _counters.c.expires_at > utcnow()
                )
            ).one_or_none()

    def get(self, key: str) -> int:
        row = self._row(key)
        return row.count if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return (row.expires_at if row else utcnow()).timestamp()

    def check(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(select(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with self.engine.begin() as connection:
            return connection.execute(delete(_counters)).rowcount

    def clear(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(_counters).where(_counters.c.key == key))


# -- who is counted --


def client_address() -> str:
    """The client's address: REMOTE_ADDR, which ep.web.proxies.ForwardedFrom has already
    taken from X-Forwarded-For when (and only when) a trusted proxy sent the request."""
    address = request.remote_addr
    # an address is at most 45 characters (IPv6); the counter's key must fit its column
    return f"address:{(address or '')[:64]}"


_NOT_DIGITS = re.compile(r"\D")


def typed_personnummer() -> str:
    """The personnummer typed at the login, digits only (the person a login guesses at)."""
    digits = _NOT_DIGITS.sub("", request.form.get("personnummer", ""))
    return f"personnummer:{digits[-10:]}"


def resident() -> str:
    person = g.get("person")
    if person is None:
        return client_address()
    # the identity, not person.id: that would load the row again and start the read the
    # limited wrapper has just ended
    return f"person:{inspect(person).identity[0]}"


def staff_member() -> str:
    user = g.get("user")
    return f"user:{user.hsa_id}" if user is not None else client_address()


def function_certificate() -> str:
    """The calling system's verified certificate (``g.certificate``): HSA-ID and fingerprint,
    so a renewed certificate starts afresh and two systems never share a count."""
    certificate = g.certificate
    return f"certificate:{certificate.hsa_id}:{certificate.fingerprint}"


def _setting(name: str):
    return lambda: current_app.config["EP"][name]


def _log_breach(limit: RequestLimit) -> None:
    log.warning(
        "rate limit %s exceeded: %s %s, %s, %s",
        limit.limit,
        request.method,
        request.path,
        limit.key,
        client_address(),
    )


def limited(kind: str, person, *, methods: tuple[str, ...] = ("POST",)):
    """Limit a view's ``methods`` per client address and per ``person`` by the ``kind`` settings.

    ``<kind>RateLimit`` per person and ``<kind>AddressRateLimit`` per client address;
    ``person`` None when the request does not say whom it is for (the provider's answer).
    """

    def decorate(view):
        @wraps(view)
        def as_writer(*args, **kwargs):
            # counted (below, on a connection of its own): the view's unit of work begins
            # now, as a writer where it changes something (ep.database.continue_as_writer)
            if request.method in methods:
                continue_as_writer(db.session())
            return view(*args, **kwargs)

        # shared: every view of a kind (both staff look-ups) draws on the same counters
        counted = as_writer
        if person is not None:
            counted = limiter.shared_limit(
                _setting(f"{kind}RateLimit"),
                scope=kind,
                key_func=person,
                methods=list(methods),
                on_breach=_log_breach,
            )(counted)
        counted = limiter.shared_limit(
            _setting(f"{kind}AddressRateLimit"),
            scope=f"{kind}-address",
            key_func=client_address,
            methods=list(methods),
            on_breach=_log_breach,
        )(counted)

        @wraps(view)
        def wrapped(*args, **kwargs):
            # the counters are written on a connection of their own; on SQLite (WAL) a
            # transaction that read before another connection wrote can no longer write,
            # so the view's session ends what before_request read before they are counted
            db.session.commit()
            return counted(*args, **kwargs)

        return wrapped

    return decorate


def per_certificate(setting: str, *, scope: str):
    """Limit a view's calls per function certificate by the ``setting`` named.

    Only for views whose blueprint has authorized the certificate in ``before_request``
    (ep.web.access.authorize): a caller refused there is answered before any counting, so
    a stranger never spends a system's quota. Views sharing a ``scope`` share the count.
    """
    return limiter.shared_limit(
        _setting(setting), scope=scope, key_func=function_certificate, on_breach=_log_breach
    )


# blueprints without any rate limit, whose requests Flask-Limiter need not look at: the
# OmniqOperator pages, polled by a monitor every few seconds and open only to a verified
# operator. A limit put on one of their views would need its blueprint taken out of here.
UNLIMITED_BLUEPRINTS = frozenset({"operator"})


def _unlimited() -> bool:
    return request.blueprint in UNLIMITED_BLUEPRINTS


def _before_unless_unlimited(hook):
    @wraps(hook)
    def before():
        return None if _unlimited() else hook()

    return before


def _after_unless_unlimited(hook):
    @wraps(hook)
    def after(response):
        return response if _unlimited() else hook(response)

    return after


def _teardown_unless_unlimited(hook):
    @wraps(hook)
    def teardown(exc):
        return None if _unlimited() else hook(exc)

    return teardown


def init_limiter(app: Flask) -> None:
    """Count in EP's database unless ``RateLimitStorage`` names another storage.

    Flask-Limiter looks at every request in three hooks of its own (a tenth of a health
    check's time), even where no limit can apply; for UNLIMITED_BLUEPRINTS they are
    not called.
    """
    uri = app.config["EP"]["RateLimitStorage"] or DATABASE_STORAGE
    options = {}
    if uri == DATABASE_STORAGE:
        with app.app_context():
            options = {"engine": db.engine}
    app.config.update(
        RATELIMIT_STORAGE_URI=uri,
        RATELIMIT_STORAGE_OPTIONS=options,
        RATELIMIT_STRATEGY="fixed-window",
        RATELIMIT_HEADERS_ENABLED=True,
    )
    registries: tuple[tuple[dict[Any, list[Any]], Callable[[Any], Any]], ...] = (
        (app.before_request_funcs, _before_unless_unlimited),
        (app.after_request_funcs, _after_unless_unlimited),
        (app.teardown_request_funcs, _teardown_unless_unlimited),
    )
    existing = [list(registry.get(None, ())) for registry, _wrap in registries]
    limiter.init_app(app)
    for (registry, wrap), before in zip(registries, existing, strict=True):
        registry[None] = [hook if hook in before else wrap(hook) for hook in registry[None]]
