"""CitizenLogin = oidc is the production default and refuses to start half configured."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey

from ep.config import ConfigError, check_citizen_login, load_config
from tests.oidc.conftest import at_provider
from tests.oidc.provider import CLIENT_ID, run_provider
from tests.support import make_instance, run_ep

ISSUER = "https://idp.region.example"
ROOT = Path(__file__).resolve().parents[2]


def _load(tmp_path, **settings):
    return load_config(make_instance(tmp_path, "sqlite:///ep.sqlite", **settings), environ={})


def test_a_new_production_installation_asks_for_its_identity_provider(tmp_path):
    instance = tmp_path / "instance"
    # the database and folders are made; the batches can run before the provider is known
    made = run_ep("init", "--instance", str(instance), config=instance / "ep.ini")
    assert made.returncode == 0, made.stderr
    ini = (instance / "ep.ini").read_text(encoding="utf-8")
    assert ";CitizenLogin = oidc" in ini and ";OidcIssuer = " in ini
    # the web server does not start without it
    env = {k: v for k, v in os.environ.items() if not k.startswith("EP_")}
    web = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env={**env, "EP_CONFIG": str(instance / "ep.ini")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert web.returncode == 1
    assert web.stderr.strip() == (
        f"EP cannot start: {instance / 'ep.ini'}: CitizenLogin: oidc needs OidcIssuer "
        "(README: OpenID Connect)"
    )


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"OidcClientId": "ep"}, "oidc needs OidcIssuer"),
        ({"OidcIssuer": ISSUER}, "oidc needs OidcClientId"),
        ({"OidcIssuer": ISSUER, "OidcClientId": "ep"}, "either OidcClientSecret or"),
        ({"OidcIssuer": "http://idp.region.example", "OidcClientId": "ep"}, "not an https://"),
        (
            {
                "OidcIssuer": ISSUER,
                "OidcClientId": "ep",
                "OidcClientSecret": "s",
                "OidcScopes": "profile",
            },
            "OidcScopes: must include openid",
        ),
        (
            {
                "OidcIssuer": ISSUER,
                "OidcClientId": "ep",
                "OidcClientSecret": "s",
                "OidcRequiredAcr": "",
            },
            "oidc needs OidcRequiredAcr",
        ),
    ],
)
def test_a_half_configured_provider_is_one_clear_line(tmp_path, settings, problem):
    with pytest.raises(ConfigError) as error:
        check_citizen_login(_load(tmp_path, CitizenLogin="oidc", **settings))
    assert problem in str(error.value) and "\n" not in str(error.value)


def test_the_swedish_profile_is_the_default(tmp_path):
    config = _load(
        tmp_path,
        CitizenLogin="oidc",
        OidcIssuer=ISSUER + "/",
        OidcClientId="ep",
        OidcClientSecret="s",
    )
    check_citizen_login(config)
    assert config["OidcIssuer"] == ISSUER
    assert config["OidcPersonnummerClaim"] == "https://id.oidc.se/claim/personalIdentityNumber"
    assert config["OidcRequiredAcr"] == ("http://id.elegnamnden.se/loa/1.0/loa3",)
    assert "https://id.oidc.se/scope/naturalPersonNumber" in config["OidcScopes"]
    assert config["SessionIdleMinutes"] == 15


def test_private_key_jwt_logs_in_without_a_shared_secret(app, make_app, tmp_path):
    key = RSAKey.generate_key(2048)
    key_file = tmp_path / "ep-oidc.key"
    key_file.write_bytes(key.as_pem(private=True))
    public = {**key.as_dict(private=False), "kid": key.thumbprint()}
    with run_provider(tmp_path) as provider:
        provider.change(
            clients=[
                {
                    "client_id": CLIENT_ID,
                    "redirect_uris": ["https://localhost/login/callback"],
                    "token_endpoint_auth_method": "private_key_jwt",
                    "token_endpoint_auth_signing_alg": "RS256",
                    "jwks": {"keys": [public]},
                }
            ]
        )
        settings = provider.settings(OidcClientSecret="", OidcPrivateKeyFile=str(key_file))
        client = make_app(**settings).test_client()
        answer = at_provider(client, personnummer="191212121212")
    assert answer.status_code == 302
    assert client.get("/orders").status_code == 200
