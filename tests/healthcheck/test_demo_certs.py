"""`ep init --demo` / `ep certs demo` and `ep certs issue`: the demo PKI, by the real command."""

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from ep.certs import P12_PASSWORD
from ep.identity.certificates import (
    TrustStore,
    load_certificate,
    verify_client_certificate,
)
from ep.timeutil import utcnow
from tests.support import run_ep


def test_init_demo_makes_a_pki_that_ep_ini_points_at_and_a_second_run_keeps_it(tmp_path):
    instance = tmp_path / "instance"
    config = instance / "ep.ini"
    first = run_ep("init", "--demo", "--instance", str(instance), config=config)
    assert first.returncode == 0, first.stderr
    certs = instance / "certs"
    ini = config.read_text(encoding="utf-8")
    assert "TrustedCaFile = certs/ca.pem" in ini
    assert "ServerCertificateFile = certs/server.pem" in ini
    assert "ServerKeyFile = certs/server.key" in ini

    trust = TrustStore.from_files(certs / "ca.pem")
    for hsa_id in ("SE2321000016-EPS1", "SE2321000016-EPA1", "SE2321000016-EPO1"):
        cert = load_certificate((certs / f"{hsa_id}.pem").read_bytes())
        assert verify_client_certificate(cert, trust, now=utcnow()).hsa_id == hsa_id
        key, p12_cert, _ = pkcs12.load_key_and_certificates(
            (certs / f"{hsa_id}.p12").read_bytes(), P12_PASSWORD.encode()
        )
        assert p12_cert == cert and key is not None
        assert (certs / f"{hsa_id}.key").stat().st_mode & 0o077 == 0

    server = load_certificate((certs / "server.pem").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]

    before = {p.name: p.read_bytes() for p in certs.iterdir()}
    second = run_ep("init", "--demo", "--instance", str(instance), config=config)
    assert second.returncode == 0, second.stderr
    assert "made" not in second.stdout
    assert {p.name: p.read_bytes() for p in certs.iterdir()} == before

    again = run_ep("certs", "demo", config=config)
    assert again.returncode == 0
    assert "are complete" in again.stdout


def test_certs_issue_gives_a_client_certificate_from_the_demo_ca(tmp_path):
    instance = tmp_path / "instance"
    config = instance / "ep.ini"
    assert run_ep("init", "--demo", "--instance", str(instance), config=config).returncode == 0
    out = tmp_path / "out"
    issued = run_ep(
        "certs",
        "issue",
        "se2321000016-n001",
        "--name",
        "Nils Nagios",
        "--out",
        str(out),
        config=config,
    )
    assert issued.returncode == 0, issued.stderr
    cert = load_certificate((out / "SE2321000016-N001.pem").read_bytes())
    trust = TrustStore.from_files(instance / "certs" / "ca.pem")
    verified = verify_client_certificate(cert, trust, now=utcnow())
    assert (verified.hsa_id, verified.name) == ("SE2321000016-N001", "Nils Nagios")

    bad = run_ep("certs", "issue", "nisse", "--name", "Nils", "--out", str(out), config=config)
    assert bad.returncode == 2
    assert "not an HSA-ID" in bad.stderr


def test_certs_demo_says_what_to_set_when_ep_ini_does_not_use_them(tmp_path):
    instance = tmp_path / "instance"
    config = instance / "ep.ini"
    # header login (the default) needs its source named before EP does anything
    env = {"EP_CitizenIdentityProxies": "127.0.0.1"}
    assert run_ep("init", "--instance", str(instance), config=config, env=env).returncode == 0
    made = run_ep("certs", "demo", config=config, env=env)
    assert made.returncode == 0, made.stderr
    assert f"to use them, set in {config} under [appSettings]:" in made.stdout
    assert "  TrustedCaFile = certs/ca.pem" in made.stdout
    assert (instance / "certs" / "SE2321000016-EPO1.p12").is_file()
