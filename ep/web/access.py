"""Access by client certificate (SITHS) for staff, EP.Admin and OmniqOperator.

A blueprint calls ``require_role("operator")`` in its ``before_request``. The certificate
comes from the TLS connection (``ClientCertificateSource = tls``: gunicorn terminates TLS
with ``cert_reqs = ssl.CERT_OPTIONAL`` and the app reads the peer certificate from the
socket) or from a header that a reverse proxy sets (``header``: honoured only when the
request comes from ``TrustedProxies``, ignored from anyone else). The certificate must
verify against ``TrustedCaFile`` and the CRL in ``CrlFile``; its HSA-ID must belong to an
active user with the role, read from the database.

Everything else is 403 with a generic body; the reason goes to the log, never to the caller.

When the database cannot be reached, an operator whose HSA-ID and certificate were
verified within ``OperatorAuthorizationCacheSeconds`` is still let in, so the health
check can answer ERROR (and name the database) instead of 403. The verifications are kept
in one file under the instance folder (written atomically), so every worker and every
server process on the host gives the same answer.
"""

import json
import logging
import ssl
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

from flask import Response, abort, current_app, g, request
from sqlalchemy import bindparam, select
from sqlalchemy.exc import SQLAlchemyError

from ep.config import Config
from ep.database import Reader, execute_retrying_once
from ep.domain.audit import Actor
from ep.extensions import db
from ep.files import write_atomically
from ep.identity.certificates import (
    CertificateRefused,
    TrustStore,
    VerifiedCertificate,
    load_certificate,
    verify_client_certificate,
)
from ep.models import User, UserRole
from ep.timeutil import utcnow
from ep.web.errors import PLAIN_PREFIXES
from ep.web.proxies import peer_address, peer_in

log = logging.getLogger("ep.access")

FORBIDDEN_BODY = "403 Forbidden\n"
OPERATOR_ROLE = "operator"


class AccessRefused(Exception):
    """Why a request is refused; logged, never shown."""


class NoCertificate(AccessRefused):
    """No client certificate came with the request (the API answers 401, not 403)."""


def require_role(role: str, *, session: Reader | None = None) -> None:
    """Let the request through only for a verified certificate of an active user with ``role``.

    Sets ``g.user`` (a User built from its row, not attached to any session), ``g.actor``
    (an Actor with the client address) and ``g.certificate`` (the VerifiedCertificate);
    otherwise aborts with 403. The user is read with ``session`` (default ``db.session``).
    With the database unreachable and a recently verified operator,
    ``g.database_unreachable`` is set and ``g.user`` is built from the cache.
    """
    try:
        authorize(role, session=session)
    except AccessRefused as exc:
        log_refusal(role, str(exc))
        if request.path.startswith(PLAIN_PREFIXES):
            # a monitor reads the operator's answers: plain, like all the others there
            abort(Response(FORBIDDEN_BODY, status=403, mimetype="text/plain"))
        abort(403)  # the site's error page in the page's language, the same for every refusal


def authorize(role: str, *, session: Reader | None = None) -> None:
    """require_role without the answer: set ``g.user`` … or raise AccessRefused.

    NoCertificate (a kind of AccessRefused) when the request carried none at all.
    """
    config: Config = current_app.config["EP"]
    client_addr = request.remote_addr
    if session is None:
        session = db.session()
    g.database_unreachable = False
    try:
        certificate = _verified(_client_certificate(config), _trust_store(config), config)
    except NoCertificate as exc:
        raise NoCertificate(f"certificate: {exc}") from None
    except (AccessRefused, CertificateRefused) as exc:
        raise AccessRefused(f"certificate: {exc}") from None
    key = (role, certificate.hsa_id, certificate.fingerprint)
    try:
        user = _user_with_role(session, certificate.hsa_id, role)
    except AccessRefused:
        if role == OPERATOR_ROLE:
            _forget_operator(config, key)
        raise
    except SQLAlchemyError as exc:
        session.rollback()
        cached = _from_cache(config, role, key, certificate)
        if cached is None:
            raise AccessRefused(
                f"the database cannot be reached to verify {certificate.hsa_id}: {exc}"
            ) from None
        user = cached
        log.warning(
            "database unreachable; %s let in as %s from the authorization cache",
            certificate.hsa_id,
            role,
        )
        g.database_unreachable = True
    else:
        if role == OPERATOR_ROLE:
            _remember_operator(config, key, user.name)
    g.user = user
    g.certificate = certificate
    g.actor = Actor.for_user(user, client_addr=client_addr)


# the user and whether they hold the role, in one row and one round trip: every operator
# request pays for it. Built once; plain columns, no ORM identity map to fill.
_users, _roles = User.__table__, UserRole.__table__
_USER_WITH_ROLE = (
    select(
        _users.c.id,
        _users.c.hsa_id,
        _users.c.name,
        _users.c.active,
        _users.c.care_unit_hsa_id,
        _users.c.care_unit_name,
        _roles.c.role,
    )
    .outerjoin(_roles, (_roles.c.user_id == _users.c.id) & (_roles.c.role == bindparam("role")))
    .where(_users.c.hsa_id == bindparam("hsa_id"))
)


def _user_with_role(session: Reader, hsa_id: str, role: str) -> User:
    """The active user ``hsa_id`` holding ``role``; raise AccessRefused for anyone else.

    The first read of the request: a pooled connection the database dropped is retried
    once on a fresh one, so it cannot turn into a 403 (or a false ERROR).
    """
    result = execute_retrying_once(session, _USER_WITH_ROLE, {"hsa_id": hsa_id, "role": role})
    row = result.one_or_none()
    if row is None:
        raise AccessRefused(f"{hsa_id} is not a user")
    if not row.active:
        raise AccessRefused(f"{hsa_id} is inactive")
    if row.role is None:
        raise AccessRefused(f"{hsa_id} lacks role {role}")
    return User(
        id=row.id,
        hsa_id=row.hsa_id,
        name=row.name,
        active=row.active,
        care_unit_hsa_id=row.care_unit_hsa_id,
        care_unit_name=row.care_unit_name,
    )


def log_refusal(role: str, reason: str) -> None:
    """Log why a request was refused; the caller sees none of it."""
    log.warning(
        "access refused: role %s, %s %s from %s: %s",
        role,
        request.method,
        request.path,
        request.remote_addr,
        reason,
    )


# -- the operators verified lately, shared by every process on the host --

AUTHORIZATION_CACHE_FILE = "operator-authorizations.json"
# a verification is written again only when the stored one is this much of the cache
# period old: a health check polled every few seconds does not rewrite the file each time
_REFRESH_FRACTION = 10
# what this process last wrote or read, by cache key: seconds since the epoch
_refreshed: dict[str, float] = {}


def _cache_path(config: Config) -> Path:
    return config.instance_path / AUTHORIZATION_CACHE_FILE


def _cache_key(key: tuple) -> str:
    return "|".join(key)


def _read_authorizations(config: Config) -> dict:
    try:
        return json.loads(_cache_path(config).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or unreadable: nobody is vouched for
        return {}


def _write_authorizations(config: Config, entries: dict) -> None:
    """Replace the file in one step (a reader sees the old or the new file, never half)."""
    path = _cache_path(config)
    try:
        write_atomically(path, json.dumps(entries).encode(), mode=0o600)
    except OSError:
        log.warning("cannot write the operator authorization cache %s", path, exc_info=True)


def _remember_operator(config: Config, key: tuple, name: str) -> None:
    cache_key, now = _cache_key(key), time.time()
    period = config["OperatorAuthorizationCacheSeconds"]
    recent = now - _refreshed.get(cache_key, 0) < period / _REFRESH_FRACTION
    if recent and _cache_path(config).exists():
        return
    entries = _read_authorizations(config)
    entries = {k: v for k, v in entries.items() if now - v.get("verified_at", 0) <= period}
    entries[cache_key] = {"name": name, "verified_at": now}
    _write_authorizations(config, entries)
    _refreshed[cache_key] = now


def _forget_operator(config: Config, key: tuple) -> None:
    cache_key = _cache_key(key)
    _refreshed.pop(cache_key, None)
    entries = _read_authorizations(config)
    if entries.pop(cache_key, None) is not None:
        _write_authorizations(config, entries)


def _from_cache(config: Config, role: str, key, certificate: VerifiedCertificate) -> User | None:
    if role != OPERATOR_ROLE:
        return None
    cached = _read_authorizations(config).get(_cache_key(key))
    if not isinstance(cached, dict):
        return None
    age = time.time() - cached.get("verified_at", 0)
    if not 0 <= age <= config["OperatorAuthorizationCacheSeconds"]:
        return None
    return User(hsa_id=certificate.hsa_id, name=str(cached.get("name", "")), active=True)


# -- where the certificate comes from --


def _client_certificate(config: Config) -> bytes | str:
    """The client certificate of this request as presented: DER from the TLS connection,
    or the header's value as the proxy sent it; raise NoCertificate without one."""
    if config["ClientCertificateSource"] == "tls":
        sock = request.environ.get("gunicorn.socket")
        if not isinstance(sock, ssl.SSLSocket):
            raise NoCertificate("no TLS connection (ClientCertificateSource = tls)")
        der = sock.getpeercert(binary_form=True)
        if not der:
            raise NoCertificate("no client certificate was presented")
        return der

    header = config["ClientCertificateHeader"]
    value = request.headers.get(header, "")
    if not peer_in(config["TrustedProxies"]):
        if value:
            log.warning("ignored %s from %s: not in TrustedProxies", header, peer_address())
        raise NoCertificate(f"request not from a trusted proxy ({peer_address()})")
    if not value.strip():
        raise NoCertificate(f"no client certificate in {header}")
    return value


def _parsed(presented: bytes | str, config: Config):
    """The certificate ``presented`` (_client_certificate), parsed."""
    if isinstance(presented, bytes):
        return load_certificate(presented)
    pem = unquote(presented).strip()
    if not pem or pem == "(null)":
        raise NoCertificate(f"no client certificate in {config['ClientCertificateHeader']}")
    return load_certificate(pem.encode("ascii", "replace"))


# -- verified certificates, remembered while the trust files stay the same --

# by the certificate as presented and the trust store: (its not-before, the verdict). The
# key holds the store itself, not a number standing for it, so it cannot match a later one
_verified_cache: dict[tuple[bytes | str, TrustStore], tuple[datetime, VerifiedCertificate]] = {}
_VERIFIED_CACHE_SIZE = 1000


def _verified(presented: bytes | str, trust: TrustStore, config: Config) -> VerifiedCertificate:
    """verify_client_certificate, remembered per certificate and trust store.

    The outcome depends only on the certificate, the CA and CRL files (``trust`` is a new
    object whenever they change) and the time, so a remembered success is reused only
    within the certificate's validity period and before the CRL's next update. It is
    remembered by the certificate exactly as presented, so a known one is not even parsed
    again; only successes are remembered.
    """
    now = utcnow()
    key = (presented, trust)
    known = _verified_cache.get(key)
    if known is not None and known[0] <= now <= known[1].recheck_at:
        return known[1]
    cert = _parsed(presented, config)
    verified = verify_client_certificate(cert, trust, now=now)
    if len(_verified_cache) >= _VERIFIED_CACHE_SIZE:
        _verified_cache.clear()
    _verified_cache[key] = (cert.not_valid_before_utc, verified)
    return verified


# -- the trusted CAs and CRL, read again only when the files change --

_trust_cache: dict[tuple, TrustStore] = {}


def _trust_store(config: Config) -> TrustStore:
    ca_file = config.path_of("TrustedCaFile")
    if ca_file is None:
        raise AccessRefused("TrustedCaFile is not configured")
    crl_file = config.path_of("CrlFile")
    try:
        key = (_stamp(ca_file), _stamp(crl_file) if crl_file else None)
        store = _trust_cache.get(key)
        if store is None:
            store = TrustStore.from_files(ca_file, crl_file)
            _trust_cache.clear()
            _verified_cache.clear()
            _trust_cache[key] = store
    except (OSError, ValueError) as exc:
        raise AccessRefused(f"the trusted CAs or CRL cannot be read: {exc}") from None
    return store


def _stamp(path: Path) -> tuple:
    stat = path.stat()
    return (str(path), stat.st_mtime_ns, stat.st_size)
