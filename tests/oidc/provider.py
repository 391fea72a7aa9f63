"""A real OpenID provider for the tests: the npm package oidc-provider, run by node,
serving TLS with a certificate from a CA made here (EP trusts it through OidcCaFile).

``make oidc-deps`` installs it (npm ci in tests/oidc). The tests hand it its signing key,
so a test can also sign a token with the very key the provider uses, and change one thing.
"""

import json
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from joserfc.jwk import RSAKey

from ep.identity.certificates import issue_server_certificate, make_ca, write_issued
from ep.timeutil import utcnow

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "provider.mjs"
PACKAGE = HERE / "node_modules" / "oidc-provider" / "package.json"
CLAIM = "https://id.oidc.se/claim/personalIdentityNumber"
LOA2 = "http://id.elegnamnden.se/loa/1.0/loa2"
LOA3 = "http://id.elegnamnden.se/loa/1.0/loa3"
CLIENT_ID = "ep-test"
CLIENT_SECRET = "a test secret of the test client"


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class OpenIdProvider:
    issuer: str
    key: RSAKey  # the key it signs ID tokens with now
    ca_file: Path  # its TLS certificate chains to this test CA

    def change(self, **settings) -> None:
        """Give the provider new clients or keys (a new provider on the same address)."""
        response = requests.post(
            f"{self.issuer}/test/settings",
            data=json.dumps(settings),
            timeout=10,
            verify=str(self.ca_file),
        )
        assert response.status_code == 200, response.text

    def rotate(self, key: RSAKey) -> None:
        """Sign with ``key`` from now on (the provider publishes only it)."""
        self.change(jwks={"keys": [key.as_dict(private=True)]})
        self.key = key

    def register(self, ep_url: str) -> None:
        """The test client's addresses at an EP served at ``ep_url``."""
        self.change(clients=[_client([f"{ep_url}/login/callback"], [f"{ep_url}/"])])

    def settings(self, **more: str) -> dict[str, str]:
        """EP's appSettings for logging in here."""
        return {
            "CitizenLogin": "oidc",
            "OidcIssuer": self.issuer,
            "OidcClientId": CLIENT_ID,
            "OidcClientSecret": CLIENT_SECRET,
            "OidcRequiredAcr": LOA3,
            "OidcCaFile": str(self.ca_file),
            **more,
        }


def _client(redirect_uris: list[str], post_logout_redirect_uris: list[str]) -> dict:
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": post_logout_redirect_uris,
        "token_endpoint_auth_method": "client_secret_basic",
    }


@contextmanager
def run_provider(
    folder: Path,
    *,
    redirect_uris: tuple[str, ...] = ("https://localhost/login/callback",),
    post_logout_redirect_uris: tuple[str, ...] = ("https://localhost/",),
):
    """Start the provider for one test client (EP's test client's addresses by default)."""
    if shutil.which("node") is None or not PACKAGE.exists():
        pytest.fail(f"{PACKAGE} is missing: run `make oidc-deps` (npm ci in tests/oidc)")
    key = new_key("first")
    now = utcnow()
    ca = make_ca("EP test OpenID provider CA", now=now)
    ca_file, cert, tls_key = folder / "oidc-ca.pem", folder / "oidc.crt", folder / "oidc.key"
    ca_file.write_bytes(ca.cert_pem)
    write_issued(issue_server_certificate(ca, ["127.0.0.1"], now=now), cert, tls_key)
    settings = {
        "tls": {"cert": str(cert), "key": str(tls_key)},
        "clients": [_client(list(redirect_uris), list(post_logout_redirect_uris))],
        "jwks": {"keys": [key.as_dict(private=True)]},
        "claim": CLAIM,
        "acrValues": [LOA3, LOA2],
    }
    path = folder / "provider.json"
    path.write_text(json.dumps(settings), encoding="utf-8")
    process = subprocess.Popen(
        ["node", str(SCRIPT), str(path)],
        cwd=HERE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None  # both piped
    line = process.stdout.readline()
    if not line:
        process.kill()
        pytest.fail("the OpenID provider did not start:\n" + process.stderr.read())
    try:
        yield OpenIdProvider(json.loads(line)["issuer"], key, ca_file)
    finally:
        process.terminate()
        process.wait(timeout=20)
        process.stdout.close()
        process.stderr.close()
