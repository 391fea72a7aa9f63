"""Residents log in at the region's identity provider: OpenID Connect.

The authorization code flow with PKCE, state and nonce (``CitizenLogin = oidc``). The
provider is found from its issuer's ``.well-known/openid-configuration``; its ID token is
believed only when the signature verifies with a key from the provider's JWKS and the
issuer, audience, expiry, nonce and assurance level (acr) are the ones EP asked for
(joserfc, the JOSE library of the Authlib project, which Authlib's own jose module now
defers to; Authlib for PKCE). A
token signed with a key EP has not seen makes EP fetch the JWKS again once, so a provider
rotating its keys does not lock residents out.

The ID token arrives from the provider's token endpoint, never through the browser, and is
checked all the same: EP trusts the provider's keys, not its network path.

``begin`` and ``finish`` are the two halves of a login; what a login must remember between
them (state, nonce, PKCE verifier, where to go next) lives in the resident's server-side
session. A failure is a ``LoginFailed`` with a ``reason`` the resident is told in their own
words and a ``detail`` for the log.
"""

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast
from urllib.parse import urlencode

import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, KeySetSerialization, RSAKey

# how long the provider's discovery document is reused before it is fetched again
_METADATA_SECONDS = 3600
_TIMEOUT_SECONDS = 10
# an ID token is accepted this many seconds either side of its iat/exp (clocks drift)
_LEEWAY_SECONDS = 60
# asymmetric signatures only: "none" and HMAC (keyed with the client secret) are refused
_SIGNATURE_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")

CANCELLED = "cancelled"  # the resident cancelled at the provider
ASSURANCE = "assurance"  # logged in with too low an assurance level (acr)
UNAVAILABLE = "unavailable"  # the provider did not answer, or answered with an error
REFUSED = "refused"  # anything else that does not hold up: state, token, claims


class LoginFailed(Exception):
    """A login that did not succeed; ``reason`` is CANCELLED, ASSURANCE, UNAVAILABLE or REFUSED."""

    def __init__(self, reason: str, detail: str, *, personnummer: str | None = None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.personnummer = personnummer


@dataclass
class _Provider:
    metadata: dict
    fetched_at: float
    verify: str | bool  # for requests: the CA file, or True for the system's CAs
    keys: KeySet | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


# by issuer and what its certificate must chain to: a provider known through one CA file is
# not taken for another at the same address (tests start many providers on loopback ports)
_providers: dict[tuple[str, str | bool], _Provider] = {}
_providers_lock = threading.Lock()


@dataclass(frozen=True)
class Login:
    """A login the provider vouched for: the claims of its ID token, and the token itself."""

    claims: dict
    id_token: str


def _verify(config) -> str | bool:
    """What the provider's TLS certificate must chain to: OidcCaFile, else the system's CAs."""
    ca_file = config.path_of("OidcCaFile")
    return str(ca_file) if ca_file else True


def _get_json(url: str, *, verify: str | bool) -> dict:
    try:
        response = requests.get(url, timeout=_TIMEOUT_SECONDS, verify=verify)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise LoginFailed(UNAVAILABLE, f"{url}: {_one_line(exc)}") from None
    if not isinstance(document, dict):
        raise LoginFailed(UNAVAILABLE, f"{url}: not a JSON object")
    return document


def _provider(config) -> _Provider:
    """The issuer's discovery document, fetched at most once an hour per process."""
    issuer, verify = config["OidcIssuer"], _verify(config)
    with _providers_lock:
        known = _providers.get((issuer, verify))
    if known is not None and time.monotonic() - known.fetched_at < _METADATA_SECONDS:
        return known
    metadata = _get_json(f"{issuer}/.well-known/openid-configuration", verify=verify)
    if metadata.get("issuer", "").rstrip("/") != issuer:
        raise LoginFailed(
            UNAVAILABLE, f"discovery names issuer {metadata.get('issuer')!r}, not {issuer!r}"
        )
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not metadata.get(endpoint):
            raise LoginFailed(UNAVAILABLE, f"discovery lacks {endpoint}")
    provider = _Provider(metadata, time.monotonic(), verify)
    with _providers_lock:
        _providers[(issuer, verify)] = provider
    return provider


def _keys(provider: _Provider, *, refresh: bool = False) -> KeySet:
    with provider.lock:
        if provider.keys is None or refresh:
            # the provider's JWKS document: joserfc checks its keys as it imports them
            jwks = cast(
                KeySetSerialization,
                _get_json(provider.metadata["jwks_uri"], verify=provider.verify),
            )
            provider.keys = KeySet.import_key_set(jwks)
        return provider.keys


def _token(size: int = 32) -> str:
    return secrets.token_urlsafe(size)


def begin(config, *, redirect_uri: str, language: str) -> tuple[str, dict]:
    """Start a login: the provider's URL to send the browser to, and what to remember."""
    provider = _provider(config)
    pending = {"state": _token(), "nonce": _token(), "verifier": _token(48)}
    query = {
        "response_type": "code",
        "client_id": config["OidcClientId"],
        "redirect_uri": redirect_uri,
        "scope": " ".join(config["OidcScopes"]),
        "state": pending["state"],
        "nonce": pending["nonce"],
        "code_challenge": create_s256_code_challenge(pending["verifier"]),
        "code_challenge_method": "S256",
        "acr_values": " ".join(config["OidcRequiredAcr"]),
        "ui_locales": language,
    }
    return f"{provider.metadata['authorization_endpoint']}?{urlencode(query)}", pending


def finish(config, *, arguments, pending: dict | None, redirect_uri: str, now: int) -> Login:
    """Finish a login from the provider's redirect back to EP; raise LoginFailed."""
    if not pending or not secrets.compare_digest(
        str(arguments.get("state", "")), pending.get("state", "")
    ):
        raise LoginFailed(REFUSED, "the state does not match a login started in this browser")
    error = arguments.get("error")
    if error:
        reason = CANCELLED if error == "access_denied" else REFUSED
        if error in ("server_error", "temporarily_unavailable"):
            reason = UNAVAILABLE
        # the browser carried these: one line, bounded, before they reach the log
        answer = " ".join(f"{error}: {arguments.get('error_description', '')}".split())[:200]
        raise LoginFailed(reason, f"the provider answered {answer}")
    code = arguments.get("code")
    if not code:
        raise LoginFailed(REFUSED, "the provider sent neither a code nor an error")
    provider = _provider(config)
    id_token = _exchange(config, provider, code=code, pending=pending, redirect_uri=redirect_uri)
    return Login(validate_id_token(config, id_token, nonce=pending["nonce"], now=now), id_token)


def _exchange(config, provider: _Provider, *, code, pending, redirect_uri) -> str:
    """Trade the code for tokens at the token endpoint; return the ID token."""
    endpoint = provider.metadata["token_endpoint"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": pending["verifier"],
    }
    auth = None
    if config["OidcPrivateKeyFile"]:
        data["client_id"] = config["OidcClientId"]
        data["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        data["client_assertion"] = _client_assertion(config, endpoint)
    else:
        auth = (config["OidcClientId"], config["OidcClientSecret"])
    try:
        response = requests.post(
            endpoint, data=data, auth=auth, timeout=_TIMEOUT_SECONDS, verify=provider.verify
        )
    except requests.RequestException as exc:
        raise LoginFailed(UNAVAILABLE, f"{endpoint}: {_one_line(exc)}") from None
    if response.status_code >= 500:
        raise LoginFailed(UNAVAILABLE, f"{endpoint}: HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200 or not isinstance(answer, dict):
        error = answer.get("error") if isinstance(answer, dict) else None
        raise LoginFailed(REFUSED, f"{endpoint}: HTTP {response.status_code} {error or ''}")
    id_token = answer.get("id_token")
    if not isinstance(id_token, str):
        raise LoginFailed(REFUSED, f"{endpoint}: the answer holds no ID token")
    return id_token


def _client_assertion(config, audience: str) -> str:
    """private_key_jwt (RFC 7523): a short-lived JWT signed with EP's own key."""
    pem = Path(config.path_of("OidcPrivateKeyFile")).read_bytes()
    key = RSAKey.import_key(pem)
    issued = int(time.time())
    claims = {
        "iss": config["OidcClientId"],
        "sub": config["OidcClientId"],
        "aud": audience,
        "jti": _token(),
        "iat": issued,
        "exp": issued + 60,
    }
    return jwt.encode({"alg": "RS256", "kid": key.thumbprint()}, claims, key)


def validate_id_token(config, id_token: str, *, nonce: str, now: int) -> dict:
    """The claims of ``id_token`` when it holds up; raise LoginFailed when it does not."""
    provider = _provider(config)
    supported = provider.metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in _SIGNATURE_ALGORITHMS if a in supported]
    try:
        token = _decode(provider, id_token, algorithms)
    except JoseError as exc:
        raise LoginFailed(REFUSED, f"ID token refused: {exc.error}: {exc.description}") from None
    except ValueError as exc:
        raise LoginFailed(REFUSED, f"ID token refused: {_one_line(exc)}") from None
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=_LEEWAY_SECONDS,
        iss={"essential": True, "value": config["OidcIssuer"]},
        aud={"essential": True, "value": config["OidcClientId"]},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise LoginFailed(REFUSED, f"ID token refused: {exc.description or exc.error}") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != config["OidcClientId"]:
        raise LoginFailed(REFUSED, "ID token refused: several audiences and azp is not EP")
    personnummer = claims.get(config["OidcPersonnummerClaim"])
    if claims.get("acr") not in config["OidcRequiredAcr"]:
        raise LoginFailed(
            ASSURANCE,
            f"assurance level {claims.get('acr')!r} is not one of "
            + ", ".join(config["OidcRequiredAcr"]),
            personnummer=personnummer if isinstance(personnummer, str) else None,
        )
    return claims


def _decode(provider: _Provider, id_token: str, algorithms: list[str]):
    """Verify the signature; a key id EP has not seen fetches the JWKS again, once."""
    try:
        return jwt.decode(id_token, _keys(provider), algorithms=algorithms)
    except InvalidKeyIdError:
        return jwt.decode(id_token, _keys(provider, refresh=True), algorithms=algorithms)


def logout_url(config, *, id_token: str | None, post_logout_redirect: str) -> str | None:
    """The provider's end-session URL (RP-initiated logout), or None when it has none."""
    try:
        endpoint = _provider(config).metadata.get("end_session_endpoint")
    except LoginFailed:
        return None  # EP's own session has ended all the same
    if not endpoint:
        return None
    query = {"client_id": config["OidcClientId"], "post_logout_redirect_uri": post_logout_redirect}
    if id_token:
        query["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(query)}"


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]
