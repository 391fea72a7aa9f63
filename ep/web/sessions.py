"""Server-side sessions: the cookie carries a random token, the session lives in the database.

A signed cookie holding the session itself stays valid after a logout for as long as the
browser (or a thief) keeps a copy. Here the session is a row in ``web_session``; a logout
deletes it, a logged-in session idle longer than ``SessionIdleMinutes`` or any session
older than ``SessionLifetimeMinutes`` is refused and deleted, and the cookie's token means
nothing afterwards, in every login mode and on every web host.

The idle timeout ends a login. A session without one holds only the language choice and
the CSRF token of the forms (staff sign in with a certificate on every request), so it is
kept for the lifetime: a staff member typing results slowly does not lose the form.

The session's own reads and writes go over a connection of their own, committed at once,
so they never mix with the transaction of the view that runs between them.
"""

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from flask import Flask, Request, Response
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import CallbackDict

from ep.healthcheck.checks import one_line
from ep.models import WebSession
from ep.timeutil import utcnow

log = logging.getLogger(__name__)

# a session seen within this long is not written again just to move last_seen_at: one
# write a minute at most per session, and the idle timeout is judged to the minute
_TOUCH_INTERVAL = timedelta(minutes=1)
# ended sessions removed while a new one is started, a bounded amount per request
_REMOVE_AT_A_TIME = 100
_sessions = WebSession.__table__
# Flask's own cookie serializer: tuples, bytes and Markup come back as they went in
_serializer = TaggedJSONSerializer()


class ServerSession(CallbackDict, SessionMixin):
    """The session of one request; ``token`` is None until it is first stored."""

    def __init__(self, data: dict | None = None, token: str | None = None, *, seen=None):
        def on_update(session):
            session.modified = True

        super().__init__(data or {}, on_update)
        self.token = token
        self.last_seen_at: datetime | None = seen
        self.modified = False
        self.renewed = False

    def renew(self) -> None:
        """Give the session a new token (at login), so a token known before is worth nothing."""
        self.renewed = True
        self.modified = True


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def rotate_session(session) -> None:
    """Give the session a new token when it is a server-side one (login, privilege change)."""
    if isinstance(session, ServerSession):
        session.renew()


class DatabaseSessionInterface(SessionInterface):
    """Flask's session interface over the ``web_session`` table."""

    def __init__(self, engine: Engine, *, idle: timedelta, lifetime: timedelta, login_key: str):
        self.engine = engine
        self.idle = idle
        self.lifetime = lifetime
        self.login_key = login_key  # the session key present while someone is logged in

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.get_cookie_name(app))
        if not token or len(token) > 128:
            return ServerSession()
        now = utcnow()
        with self.engine.begin() as connection:
            row = connection.execute(
                select(_sessions).where(_sessions.c.token_hash == _hash(token))
            ).one_or_none()
            if row is None:
                return ServerSession()
            data = _serializer.loads(row.data)
            ended = self._ended(row, logged_in=self.login_key in data, now=now)
            if ended:
                connection.execute(delete(_sessions).where(_sessions.c.token_hash == _hash(token)))
                log.info("session ended: %s", ended)
                return ServerSession()
        return ServerSession(data, token, seen=row.last_seen_at)

    def _ended(self, row, *, logged_in: bool, now: datetime) -> str | None:
        if logged_in and now - row.last_seen_at > self.idle:
            return f"idle since {row.last_seen_at:%Y-%m-%d %H:%M} UTC"
        if now - row.created_at > self.lifetime or now - row.last_seen_at > self.lifetime:
            return f"started {row.created_at:%Y-%m-%d %H:%M} UTC, past its lifetime"
        return None

    # open_session makes every session a ServerSession
    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:  # type: ignore[override]
        try:
            self._save(app, session, response)
        except SQLAlchemyError as exc:
            # the page itself was made (OmniqOperator's detail page says the database is
            # down): the session is not kept, and the answer still goes out
            log.warning("session not saved: %s", one_line(exc))

    def _save(self, app: Flask, session: ServerSession, response: Response) -> None:
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        if not session and session.token is None:
            # nothing stored and nothing to store (a monitor, an API client, a first visit):
            # no database round trip, which every such request would otherwise pay
            return
        now = utcnow()
        if (
            session
            and session.token
            and not (session.renewed or session.modified)
            and session.last_seen_at is not None
            and now - session.last_seen_at < _TOUCH_INTERVAL
        ):
            # unchanged and seen within the minute (most requests): not even a transaction
            return
        with self.engine.begin() as connection:
            if session.token and (session.renewed or not session):
                # a logout (the session emptied) or a login (a new token): the old one ends
                connection.execute(
                    delete(_sessions).where(_sessions.c.token_hash == _hash(session.token))
                )
            if not session:
                if session.token:
                    response.delete_cookie(name, domain=domain, path=path)
                return
            if session.token is None or session.renewed:
                session.token = secrets.token_urlsafe(32)
                self._remove_ended(connection, now)
                connection.execute(
                    insert(_sessions).values(
                        token_hash=_hash(session.token),
                        data=_serializer.dumps(dict(session)),
                        created_at=now,
                        last_seen_at=now,
                    )
                )
            elif session.modified:
                connection.execute(
                    update(_sessions)
                    .where(_sessions.c.token_hash == _hash(session.token))
                    .values(data=_serializer.dumps(dict(session)), last_seen_at=now)
                )
            else:  # unchanged, last seen a minute or more ago: the idle timeout moves on
                connection.execute(
                    update(_sessions)
                    .where(_sessions.c.token_hash == _hash(session.token))
                    .values(last_seen_at=now)
                )
                return
        response.set_cookie(
            name,
            session.token,
            httponly=self.get_cookie_httponly(app),
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
            domain=domain,
            path=path,
        )

    def _remove_ended(self, connection, now: datetime) -> None:
        """Delete a bounded number of sessions unused for a lifetime (indexed on last_seen_at).

        A logged-in session idle for less is refused when it is presented (open_session),
        so leaving its row a while longer lets nobody in.
        """
        unused = (
            select(_sessions.c.token_hash)
            .where(_sessions.c.last_seen_at < now - self.lifetime)
            .limit(_REMOVE_AT_A_TIME)
        )
        connection.execute(delete(_sessions).where(_sessions.c.token_hash.in_(unused)))
