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
check can answer ERROR (and name the database) instead of 403.
"""

import ipaddress
import logging
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from flask import Response, abort, current_app, g, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload

from ep.config import Config
from ep.domain.audit import Actor
from ep.extensions import db
from ep.identity.certificates import (
    CertificateRefused,
    TrustStore,
    VerifiedCertificate,
    fingerprint,
    load_certificate,
    verify_client_certificate,
)
from ep.models import User
from ep.timeutil import utcnow

log = logging.getLogger("ep.access")

FORBIDDEN_BODY = "403 Forbidden\n"
OPERATOR_ROLE = "operator"


class AccessRefused(Exception):
    """Why a request is refused; logged, never shown."""


@dataclass(frozen=True)
class _CachedOperator:
    name: str
    verified_at: float  # time.monotonic()


def require_role(role: str) -> None:
    """Let the request through only for a verified certificate of an active user with ``role``.

    Sets ``g.user`` (the User), ``g.actor`` (an Actor with the client address) and
    ``g.certificate`` (the VerifiedCertificate); otherwise aborts with 403. With the
    database unreachable and a recently verified operator, ``g.database_unreachable`` is
    set and ``g.user`` is a detached User built from the cache.
    """
    config: Config = current_app.config["EP"]
    client_addr = request.remote_addr
    g.database_unreachable = False
    try:
        certificate = _verified(_client_certificate(config), _trust_store(config))
    except (AccessRefused, CertificateRefused) as exc:
        _refuse(role, f"certificate: {exc}")
    key = (role, certificate.hsa_id, certificate.fingerprint)
    try:
        # one query with the roles, not two: every operator request pays for it
        user = (
            db.session.execute(
                select(User)
                .options(joinedload(User.role_rows))
                .where(User.hsa_id == certificate.hsa_id)
            )
            .unique()
            .scalar_one_or_none()
        )
        if user is None:
            raise AccessRefused(f"{certificate.hsa_id} is not a user")
        if not user.active:
            raise AccessRefused(f"{certificate.hsa_id} is inactive")
        if role not in user.roles:
            raise AccessRefused(f"{certificate.hsa_id} lacks role {role}")
    except AccessRefused as exc:
        _authorization_cache().pop(key, None)
        _refuse(role, str(exc))
    except SQLAlchemyError as exc:
        db.session.rollback()
        user = _from_cache(config, role, key, certificate)
        if user is None:
            _refuse(role, f"the database cannot be reached to verify {certificate.hsa_id}: {exc}")
        log.warning(
            "database unreachable; %s let in as %s from the authorization cache",
            certificate.hsa_id,
            role,
        )
        g.database_unreachable = True
    else:
        if role == OPERATOR_ROLE:
            _authorization_cache()[key] = _CachedOperator(user.name, time.monotonic())
    g.user = user
    g.certificate = certificate
    g.actor = Actor.for_user(user, client_addr=client_addr)


def _refuse(role: str, reason: str):
    log.warning(
        "access refused: role %s, %s %s from %s: %s",
        role,
        request.method,
        request.path,
        request.remote_addr,
        reason,
    )
    abort(Response(FORBIDDEN_BODY, status=403, mimetype="text/plain"))


def _authorization_cache() -> dict:
    # per application (so per gunicorn worker): a restart forgets every operator
    return current_app.extensions.setdefault("ep_operator_authorizations", {})


def _from_cache(config: Config, role: str, key, certificate: VerifiedCertificate) -> User | None:
    if role != OPERATOR_ROLE:
        return None
    cached = _authorization_cache().get(key)
    if cached is None:
        return None
    if time.monotonic() - cached.verified_at > config["OperatorAuthorizationCacheSeconds"]:
        return None
    return User(hsa_id=certificate.hsa_id, name=cached.name, active=True)


# -- where the certificate comes from --


def _client_certificate(config: Config):
    """The client certificate of this request, parsed; raise AccessRefused without one."""
    if config["ClientCertificateSource"] == "tls":
        sock = request.environ.get("gunicorn.socket")
        if not isinstance(sock, ssl.SSLSocket):
            raise AccessRefused("no TLS connection (ClientCertificateSource = tls)")
        der = sock.getpeercert(binary_form=True)
        if not der:
            raise AccessRefused("no client certificate was presented")
        return load_certificate(der)

    header = config["ClientCertificateHeader"]
    value = request.headers.get(header, "")
    if not _is_trusted_proxy(request.remote_addr, config["TrustedProxies"]):
        if value:
            log.warning("ignored %s from %s: not in TrustedProxies", header, request.remote_addr)
        raise AccessRefused(f"request not from a trusted proxy ({request.remote_addr})")
    pem = unquote(value).strip()
    if not pem or pem == "(null)":
        raise AccessRefused(f"no client certificate in {header}")
    return load_certificate(pem.encode("ascii", "replace"))


def _is_trusted_proxy(address: str | None, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in networks)


# -- verified certificates, remembered while the trust files stay the same --

_verified_cache: dict[tuple, VerifiedCertificate] = {}
_VERIFIED_CACHE_SIZE = 1000


def _verified(cert, trust: TrustStore) -> VerifiedCertificate:
    """verify_client_certificate, remembered per certificate and trust store.

    The outcome depends only on the certificate, the CA and CRL files (``trust`` is a new
    object whenever they change) and the time, so a remembered success is reused only
    within the certificate's validity period.
    """
    now = utcnow()
    key = (fingerprint(cert), id(trust))
    known = _verified_cache.get(key)
    if known is not None and cert.not_valid_before_utc <= now <= known.not_after:
        return known
    verified = verify_client_certificate(cert, trust, now=now)
    if len(_verified_cache) >= _VERIFIED_CACHE_SIZE:
        _verified_cache.clear()
    _verified_cache[key] = verified
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
