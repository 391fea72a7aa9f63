"""X.509 client certificates (SITHS): read, verify, and the HSA-ID they carry.

The HSA-ID is the subject attribute serialNumber (OID 2.5.4.5) of the parsed certificate,
never a match on the DN string (OpenSSL, Java and nginx print DNs differently). A
certificate is accepted only when its chain verifies against the trusted CA certificates
(``TrustedCaFile``), it is within its validity period and it is not on the CRL
(``CrlFile``) of the CA that issued it.

Issuing (a CA, server and client certificates, a CRL, PKCS#12 files for browsers) lives
here too: `ep certs demo`, `ep certs issue` and the tests' PKI use it.
"""

import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from ep.identity.errors import InvalidIdentifier
from ep.identity.hsaid import parse_hsa_id

HSA_ID_ATTRIBUTE = NameOID.SERIAL_NUMBER  # 2.5.4.5, where SITHS puts the HSA-ID


class CertificateRefused(Exception):
    """A certificate EP does not accept; the message is the reason, for the log only."""


# -- reading --


def load_certificate(data: bytes) -> x509.Certificate:
    """Parse one certificate, PEM or DER; raise CertificateRefused if it is neither."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CertificateRefused(f"not a certificate: {exc}") from None


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Read every certificate of a PEM bundle (or one DER certificate) at ``path``."""
    data = Path(path).read_bytes()
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ValueError(f"{path}: no certificate could be read ({exc})") from None


def load_crls(path: Path) -> list[x509.CertificateRevocationList]:
    """Read the CRLs in ``path``: one DER CRL, or one or more PEM CRLs."""
    data = Path(path).read_bytes()
    try:
        if b"-----BEGIN" not in data:
            return [x509.load_der_x509_crl(data)]
        marker = b"-----BEGIN X509 CRL-----"
        return [x509.load_pem_x509_crl(marker + part) for part in data.split(marker)[1:]]
    except ValueError as exc:
        raise ValueError(f"{path}: no CRL could be read ({exc})") from None


def hsa_id_of(cert: x509.Certificate) -> str:
    """Return the HSA-ID in the subject serialNumber attribute (OID 2.5.4.5)."""
    values = cert.subject.get_attributes_for_oid(HSA_ID_ATTRIBUTE)
    if len(values) != 1:
        raise CertificateRefused(
            f"the subject has {len(values)} serialNumber attributes, an HSA-ID needs exactly one"
        )
    try:
        return parse_hsa_id(str(values[0].value))
    except InvalidIdentifier as exc:
        raise CertificateRefused(f"the subject serialNumber is not an HSA-ID: {exc}") from None


def fingerprint(cert: x509.Certificate) -> str:
    """The certificate's SHA-256 fingerprint, hex."""
    return cert.fingerprint(hashes.SHA256()).hex()


def common_name(cert: x509.Certificate) -> str:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


# -- verifying --


@dataclass(frozen=True, eq=False)
class TrustStore:
    """The trusted CA certificates and the revocation lists that go with them.

    Compared and hashed as itself (``eq=False``): a store read from the files is one
    object for as long as the files stay the same, and it keys what was verified with it
    (ep.web.access)."""

    anchors: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...] = ()

    @classmethod
    def from_files(cls, ca_file: Path, crl_file: Path | None = None) -> "TrustStore":
        anchors = tuple(load_certificates(ca_file))
        crls = tuple(load_crls(crl_file)) if crl_file else ()
        return cls(anchors, crls)


@dataclass(frozen=True)
class VerifiedCertificate:
    """A client certificate that passed every check, and who it names."""

    hsa_id: str
    fingerprint: str
    name: str
    not_after: datetime
    # when this verdict must be judged again: the certificate's end, or sooner the next
    # update of the CRL that vouched for it
    recheck_at: datetime


# Client certificates need no Subject Alternative Name here: SITHS person certificates
# carry one, but the HSA-ID is in the subject, and a function certificate may lack it.
_END_ENTITY_POLICY = ExtensionPolicy.webpki_defaults_ee().may_be_present(
    x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
)


def verify_client_certificate(
    cert: x509.Certificate, trust: TrustStore, *, now: datetime
) -> VerifiedCertificate:
    """Check chain, validity, revocation and HSA-ID; raise CertificateRefused with the reason."""
    if not trust.anchors:
        raise CertificateRefused("no trusted CA certificates are configured")
    verifier = (
        PolicyBuilder()
        .store(Store(list(trust.anchors)))
        .time(now)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_END_ENTITY_POLICY
        )
        .build_client_verifier()
    )
    try:
        chain = verifier.verify(cert, []).chain
    except VerificationError as exc:
        raise CertificateRefused(f"the certificate does not verify: {exc}") from None
    issuer = chain[1] if len(chain) > 1 else chain[0]
    next_updates = _check_not_revoked(cert, issuer, trust.crls, now=now)
    return VerifiedCertificate(
        hsa_id=hsa_id_of(cert),
        fingerprint=fingerprint(cert),
        name=common_name(cert),
        not_after=cert.not_valid_after_utc,
        recheck_at=min([cert.not_valid_after_utc, *next_updates]),
    )


def _check_not_revoked(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    crls: tuple[x509.CertificateRevocationList, ...],
    *,
    now: datetime,
) -> list[datetime]:
    """Refuse ``cert`` if a CRL of its issuer lists it; return those CRLs' next updates."""
    next_updates = []
    for crl in crls:
        if crl.issuer != issuer.subject:
            continue  # another CA's list
        ca = issuer.subject.rfc4514_string()
        # the chain verified: the issuer signed ``cert``, so its key is one that signs
        issuer_key = cast(CertificateIssuerPublicKeyTypes, issuer.public_key())
        if not crl.is_signature_valid(issuer_key):
            # a list claiming to be the issuer's but not signed by it: trust nothing
            raise CertificateRefused(f"the CRL of {ca} is not valid")
        # a CRL past its next update may no longer list what was revoked since: OpenSSL
        # and nginx refuse every certificate it covers ("CRL has expired"), and so does EP
        if crl.next_update_utc is not None:
            if now > crl.next_update_utc:
                raise CertificateRefused(
                    f"the CRL of {ca} expired: its next update was due "
                    f"{crl.next_update_utc:%Y-%m-%d %H:%M} UTC; install a fresh CRL"
                )
            next_updates.append(crl.next_update_utc)
        if now < crl.last_update_utc:
            raise CertificateRefused(
                f"the CRL of {ca} is not yet valid (issued "
                f"{crl.last_update_utc:%Y-%m-%d %H:%M} UTC); check the clock"
            )
        revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if revoked is not None:
            raise CertificateRefused(
                f"the certificate (serial {cert.serial_number:x}) was revoked "
                f"{revoked.revocation_date_utc:%Y-%m-%d %H:%M} UTC"
            )
    return next_updates


# -- issuing (the demo PKI and the tests) --


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _name(common: str, hsa_id: str | None = None, organisation: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "SE")]
    if organisation:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    if hsa_id:
        attributes.append(x509.NameAttribute(HSA_ID_ATTRIBUTE, hsa_id))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common))
    return x509.Name(attributes)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=ca is False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca(name: str, *, now: datetime, days: int = 3650) -> Issued:
    """A self-signed CA certificate and key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(name, organisation="EP")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def _issue(
    ca: Issued,
    subject: x509.Name,
    *,
    usage: x509.ObjectIdentifier,
    names: list[x509.GeneralName],
    not_before: datetime,
    not_after: datetime,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def issue_client_certificate(
    ca: Issued,
    hsa_id: str,
    name: str,
    *,
    now: datetime,
    days: int = 365,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    """A SITHS-shaped client certificate: the HSA-ID in the subject serialNumber."""
    hsa_id = parse_hsa_id(hsa_id)
    return _issue(
        ca,
        _name(name, hsa_id=hsa_id, organisation="EP"),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        names=[],
        not_before=not_before or now - timedelta(hours=1),
        not_after=not_after or now + timedelta(days=days),
    )


def issue_server_certificate(
    ca: Issued, hosts: list[str], *, now: datetime, days: int = 825
) -> Issued:
    """A TLS server certificate for ``hosts`` (DNS names or IP addresses)."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return _issue(
        ca,
        _name(hosts[0], organisation="EP"),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        names=names,
        not_before=now - timedelta(hours=1),
        not_after=now + timedelta(days=days),
    )


def make_crl(
    ca: Issued, revoked: list[x509.Certificate], *, now: datetime, days: int = 30
) -> x509.CertificateRevocationList:
    """A CRL signed by ``ca`` listing ``revoked``."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + timedelta(days=days))
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(now - timedelta(minutes=1))
            .build()
        )
    return builder.sign(ca.key, hashes.SHA256())


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (a private key, a PKCS#12 bundle)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def write_issued(issued: Issued, cert_path: Path, key_path: Path) -> None:
    """Write the certificate (PEM) and its private key (PEM, owner-only)."""
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(issued.cert_pem)
    write_private(key_path, issued.key_pem)


def pkcs12_bytes(
    issued: Issued, ca: x509.Certificate, *, friendly_name: str, password: str
) -> bytes:
    """A PKCS#12 bundle (certificate, key, CA) for importing into a browser."""
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode(),
        issued.key,
        issued.cert,
        [ca],
        serialization.BestAvailableEncryption(password.encode()),
    )


def load_issued(cert_path: Path, key_path: Path) -> Issued:
    """Read a certificate and its key written by write_issued."""
    cert = load_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path}: not an elliptic-curve private key (EP issues only those)")
    return Issued(cert, key)
