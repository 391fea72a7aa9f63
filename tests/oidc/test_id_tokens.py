"""ID tokens that do not hold up are refused, whoever signed them.

The provider cannot be made to misbehave, so these tokens are made here: signed with the
provider's own key (the test handed it to the provider) with one thing wrong, or with
another key. EP's validator reads the real provider's discovery document and JWKS.
"""

import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from ep.web import oidc
from tests.oidc.provider import CLAIM, CLIENT_ID, CLIENT_SECRET, LOA2, LOA3, new_key

NONCE = "the nonce EP sent"


@pytest.fixture
def config(oidc_app):
    return oidc_app.config["EP"]


def _claims(provider, **changes):
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": CLIENT_ID,
        "sub": "191212121212",
        "iat": now,
        "exp": now + 300,
        "nonce": NONCE,
        "acr": LOA3,
        CLAIM: "191212121212",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(key, claims, alg="RS256"):
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key)


def _refused(config, token, reason=oidc.REFUSED) -> str:
    with pytest.raises(oidc.LoginFailed) as failure:
        oidc.validate_id_token(config, token, nonce=NONCE, now=int(time.time()))
    assert failure.value.reason == reason
    return failure.value.detail


def test_a_token_signed_by_the_provider_as_asked_is_believed(config, provider):
    token = _signed(provider.key, _claims(provider))
    claims = oidc.validate_id_token(config, token, nonce=NONCE, now=int(time.time()))
    assert claims[CLAIM] == "191212121212"


def test_a_forged_signature_is_refused(config, provider):
    forger = new_key(provider.key.kid)  # the provider's key id, another key
    assert "bad_signature" in _refused(config, _signed(forger, _claims(provider)))


def test_an_unsigned_or_secret_signed_token_is_refused(config, provider):
    hmac = OctKey.import_key(CLIENT_SECRET.encode())
    token = jwt.encode({"alg": "HS256"}, _claims(provider), hmac)
    _refused(config, token)
    header, payload, _ = _signed(provider.key, _claims(provider)).split(".")
    _refused(config, f"{header}.{payload}.")


def test_an_expired_token_is_refused(config, provider):
    past = int(time.time()) - 3600
    token = _signed(provider.key, _claims(provider, iat=past - 300, exp=past))
    assert "exp" in _refused(config, token) or "expired" in _refused(config, token)


def test_a_token_for_another_client_is_refused(config, provider):
    token = _signed(provider.key, _claims(provider, aud="another-e-service"))
    assert "aud" in _refused(config, token)


def test_a_token_from_another_issuer_is_refused(config, provider):
    token = _signed(provider.key, _claims(provider, iss="https://idp.example.invalid"))
    assert "iss" in _refused(config, token)


def test_a_token_with_another_logins_nonce_is_refused(config, provider):
    token = _signed(provider.key, _claims(provider, nonce="an earlier login's nonce"))
    assert "nonce" in _refused(config, token)
    assert "nonce" in _refused(config, _signed(provider.key, _claims(provider, nonce=None)))


def test_too_low_an_assurance_level_is_refused(config, provider):
    token = _signed(provider.key, _claims(provider, acr=LOA2))
    _refused(config, token, oidc.ASSURANCE)
    _refused(config, _signed(provider.key, _claims(provider, acr=None)), oidc.ASSURANCE)


def test_a_rotated_key_is_fetched_and_believed(config, provider):
    oidc.validate_id_token(
        config, _signed(provider.key, _claims(provider)), nonce=NONCE, now=int(time.time())
    )
    provider.rotate(new_key("second"))
    token = _signed(provider.key, _claims(provider))
    claims = oidc.validate_id_token(config, token, nonce=NONCE, now=int(time.time()))
    assert claims["sub"] == "191212121212"
