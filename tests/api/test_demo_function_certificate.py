"""`ep init --demo` makes a function certificate that /api/v1 lets in, as the README's
curl lines use it."""

from ep.identity.certificates import TrustStore, load_certificate, verify_client_certificate
from ep.timeutil import utcnow
from tests.pki import HEADER, escaped
from tests.support import run_ep

DEMO_SYSTEM = "SE2321000016-EPI1"


def test_the_demo_function_certificate_calls_the_api(make_app, app, tmp_path, database_url):
    instance = tmp_path / "instance"
    made = run_ep(
        "init",
        "--demo",
        "--instance",
        str(instance),
        config=instance / "ep.ini",
        env={"EP_DATABASE_URL": database_url},
    )
    assert made.returncode == 0, made.stderr
    assert f"{DEMO_SYSTEM}.pem" in made.stdout and "integration" in made.stdout
    certs = instance / "certs"
    pem = (certs / f"{DEMO_SYSTEM}.pem").read_text()
    verified = verify_client_certificate(
        load_certificate(pem.encode()), TrustStore.from_files(certs / "ca.pem"), now=utcnow()
    )
    assert verified.hsa_id == DEMO_SYSTEM

    api_app = make_app(
        ClientCertificateSource="header",
        ClientCertificateHeader=HEADER,
        TrustedProxies="127.0.0.1",
        TrustedCaFile=str(certs / "ca.pem"),
    )
    response = api_app.test_client().get(
        "/api/v1/orders?personnummer=19121212-1212", headers={HEADER: escaped(pem)}
    )
    assert response.status_code == 200
    assert response.get_json()["personnummer"] == "191212121212"
