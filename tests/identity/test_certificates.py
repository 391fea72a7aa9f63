"""Client certificates: the HSA-ID from the parsed subject, chain, validity and CRL."""

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ep.identity.certificates import (
    CertificateRefused,
    TrustStore,
    hsa_id_of,
    issue_client_certificate,
    load_certificate,
    load_crls,
    make_ca,
    make_crl,
    verify_client_certificate,
)
from ep.timeutil import utcnow


@pytest.fixture(scope="module")
def ca():
    return make_ca("EP Unit CA", now=utcnow())


def test_the_hsa_id_is_read_from_the_subject_serial_number(ca, now):
    issued = issue_client_certificate(ca, "se2321000016-epo1", "Olle Operatör", now=now)
    assert hsa_id_of(issued.cert) == "SE2321000016-EPO1"


def test_an_hsa_id_only_in_the_common_name_is_not_taken(ca, now):
    # a DN string match would find it; the parsed serialNumber attribute is not there
    issued = issue_client_certificate(ca, "SE2321000016-EPO1", "Olle", now=now)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SE2321000016-EPO9")]))
        .issuer_name(ca.cert.subject)
        .public_key(issued.key.public_key())
        .serial_number(7)
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
    )
    cert = builder.sign(ca.key, hashes.SHA256())
    with pytest.raises(CertificateRefused, match="serialNumber"):
        hsa_id_of(cert)


def test_pem_and_der_are_both_read(ca, now):
    issued = issue_client_certificate(ca, "SE2321000016-EPO1", "Olle", now=now)
    assert load_certificate(issued.cert_pem) == issued.cert
    assert load_certificate(issued.cert.public_bytes(Encoding.DER)) == issued.cert


def test_a_certificate_from_the_trusted_ca_is_accepted(ca, now):
    issued = issue_client_certificate(ca, "SE2321000016-EPO1", "Olle Operatör", now=now)
    verified = verify_client_certificate(issued.cert, TrustStore((ca.cert,)), now=now)
    assert verified.hsa_id == "SE2321000016-EPO1"
    assert verified.name == "Olle Operatör"
    assert len(verified.fingerprint) == 64


def test_a_certificate_from_another_ca_is_refused(ca, now):
    other = make_ca("Someone Else CA", now=now)
    issued = issue_client_certificate(other, "SE2321000016-EPO1", "Olle", now=now)
    with pytest.raises(CertificateRefused, match="does not verify"):
        verify_client_certificate(issued.cert, TrustStore((ca.cert,)), now=now)


def test_a_ca_with_the_same_name_but_another_key_is_refused(ca, now):
    impostor = make_ca("EP Unit CA", now=now)
    issued = issue_client_certificate(impostor, "SE2321000016-EPO1", "Olle", now=now)
    with pytest.raises(CertificateRefused):
        verify_client_certificate(issued.cert, TrustStore((ca.cert,)), now=now)


def test_an_expired_or_not_yet_valid_certificate_is_refused(ca, now):
    issued = issue_client_certificate(ca, "SE2321000016-EPO1", "Olle", now=now, days=10)
    trust = TrustStore((ca.cert,))
    with pytest.raises(CertificateRefused, match="not valid at validation time"):
        verify_client_certificate(issued.cert, trust, now=now + timedelta(days=11))
    with pytest.raises(CertificateRefused, match="not valid at validation time"):
        verify_client_certificate(issued.cert, trust, now=now - timedelta(days=1))


def test_a_revoked_certificate_is_refused_from_a_pem_or_der_crl(ca, now, tmp_path):
    revoked = issue_client_certificate(ca, "SE2321000016-EPO1", "Olle", now=now)
    kept = issue_client_certificate(ca, "SE2321000016-EPO2", "Olga", now=now)
    crl = make_crl(ca, [revoked.cert], now=now)
    for encoding, name in ((Encoding.PEM, "crl.pem"), (Encoding.DER, "crl.der")):
        (tmp_path / name).write_bytes(crl.public_bytes(encoding))
        trust = TrustStore.from_files(_write_ca(tmp_path, ca), tmp_path / name)
        with pytest.raises(CertificateRefused, match="revoked"):
            verify_client_certificate(revoked.cert, trust, now=now)
        assert verify_client_certificate(kept.cert, trust, now=now).hsa_id == "SE2321000016-EPO2"


def test_a_crl_not_signed_by_the_issuing_ca_refuses_everything_it_covers(ca, now):
    forger = make_ca("EP Unit CA", now=now)  # same name, other key
    issued = issue_client_certificate(ca, "SE2321000016-EPO1", "Olle", now=now)
    trust = TrustStore((ca.cert,), (make_crl(forger, [], now=now),))
    with pytest.raises(CertificateRefused, match="CRL"):
        verify_client_certificate(issued.cert, trust, now=now)


def test_several_pem_crls_in_one_file_are_all_read(ca, now, tmp_path):
    other = make_ca("Other CA", now=now)
    path = tmp_path / "crls.pem"
    path.write_bytes(
        make_crl(ca, [], now=now).public_bytes(Encoding.PEM)
        + make_crl(other, [], now=now).public_bytes(Encoding.PEM)
    )
    assert len(load_crls(path)) == 2


def test_a_ca_certificate_is_not_accepted_as_a_client_certificate(ca, now):
    with pytest.raises(CertificateRefused):
        verify_client_certificate(ca.cert, TrustStore((ca.cert,)), now=now)


def _write_ca(folder, ca):
    path = folder / "ca.pem"
    path.write_bytes(ca.cert_pem)
    return path


def test_a_crl_past_its_next_update_refuses_every_certificate_of_its_ca(ca, now):
    """As OpenSSL and nginx do ("CRL has expired"): the list may miss a recent revocation."""
    issued = issue_client_certificate(ca, "SE2321000016-EPO1", "Olle", now=now)
    trust = TrustStore((ca.cert,), (make_crl(ca, [], now=now, days=2),))
    assert verify_client_certificate(issued.cert, trust, now=now + timedelta(days=1))
    with pytest.raises(CertificateRefused, match="CRL of .* expired: its next update was due"):
        verify_client_certificate(issued.cert, trust, now=now + timedelta(days=2, minutes=1))


def test_a_crl_issued_in_the_future_is_not_yet_valid(ca, now):
    issued = issue_client_certificate(ca, "SE2321000016-EPO1", "Olle", now=now)
    trust = TrustStore((ca.cert,), (make_crl(ca, [], now=now + timedelta(hours=2)),))
    with pytest.raises(CertificateRefused, match="not yet valid"):
        verify_client_certificate(issued.cert, trust, now=now)


def test_a_verdict_is_to_be_judged_again_at_the_crls_next_update(ca, now):
    issued = issue_client_certificate(ca, "SE2321000016-EPO1", "Olle", now=now)
    crl = make_crl(ca, [], now=now, days=2)
    verified = verify_client_certificate(issued.cert, TrustStore((ca.cert,), (crl,)), now=now)
    assert verified.recheck_at == crl.next_update_utc < verified.not_after
