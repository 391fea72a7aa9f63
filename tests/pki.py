"""A test PKI: a CA, client certificates with HSA-IDs, a CRL, and the header the Flask
test client sends in ``ClientCertificateSource = header`` mode.

Use it from a conftest.py::

    from tests.pki import cert_app, cert_client, cert_header, pki  # noqa: F401

    def test_staff_sees_the_worklist(cert_client, cert_header, staff_user):
        response = cert_client.get("/staff/", headers=cert_header(staff_user))

``cert_app`` is an app on the test database (tables emptied, like ``app``) that trusts the
test CA and reads the certificate from the header; the Flask test client's REMOTE_ADDR
(127.0.0.1) is a trusted proxy. For a real TLS server, ``pki.issue_client_cert`` writes
PEM files to pass to ssl / http.client.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ep.identity.certificates import (
    Issued,
    issue_client_certificate,
    issue_server_certificate,
    make_ca,
    make_crl,
    write_issued,
)
from ep.timeutil import utcnow

HEADER = "X-SSL-Client-Cert"


@dataclass(frozen=True)
class ClientCert:
    """A client certificate and its key, in memory and as PEM files."""

    issued: Issued
    cert_path: Path
    key_path: Path

    @property
    def pem(self) -> str:
        return self.issued.cert_pem.decode("ascii")


class PKI:
    """A CA in ``folder`` that issues client and server certificates and revokes them."""

    def __init__(self, folder: Path, name: str = "EP Test CA"):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.ca = make_ca(name, now=utcnow())
        self.slug = name.lower().replace(" ", "-")
        self.ca_path = folder / f"{self.slug}.pem"
        self.ca_path.write_bytes(self.ca.cert_pem)
        self.crl_path = folder / f"{self.slug}-crl.pem"
        self._revoked: list[x509.Certificate] = []
        self._write_crl()
        self._header_certs: dict[str, ClientCert] = {}
        self._count = 0

    def issue_client_cert(
        self,
        hsa_id: str,
        name: str = "Test User",
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> ClientCert:
        """Issue a client certificate for ``hsa_id`` and write it (and its key) as PEM."""
        self._count += 1
        issued = issue_client_certificate(
            self.ca, hsa_id, name, now=utcnow(), not_before=not_before, not_after=not_after
        )
        stem = self.folder / f"{hsa_id}-{self._count}"
        cert = ClientCert(issued, stem.with_suffix(".pem"), stem.with_suffix(".key"))
        write_issued(issued, cert.cert_path, cert.key_path)
        return cert

    def issue_expired_client_cert(self, hsa_id: str, name: str = "Test User") -> ClientCert:
        now = utcnow()
        return self.issue_client_cert(
            hsa_id, name, not_before=now - timedelta(days=60), not_after=now - timedelta(days=1)
        )

    def issue_server_cert(self, hosts=("localhost", "127.0.0.1")) -> tuple[Path, Path]:
        """A server certificate for ``hosts``; return (cert path, key path)."""
        issued = issue_server_certificate(self.ca, list(hosts), now=utcnow())
        cert_path, key_path = self.folder / "server.pem", self.folder / "server.key"
        write_issued(issued, cert_path, key_path)
        return cert_path, key_path

    def revoke(self, cert: ClientCert) -> None:
        """Put ``cert`` on the CRL at ``crl_path``."""
        self._revoked.append(cert.issued.cert)
        self._write_crl()

    def _write_crl(self) -> None:
        crl = make_crl(self.ca, self._revoked, now=utcnow(), days=365)
        self.crl_path.write_bytes(crl.public_bytes(Encoding.PEM))

    def settings(self, **extra: str) -> dict[str, str]:
        """appSettings for make_app: trust this CA, certificates from the header."""
        return {
            "ClientCertificateSource": "header",
            "ClientCertificateHeader": HEADER,
            "TrustedProxies": "127.0.0.1",
            "TrustedCaFile": str(self.ca_path),
            "CrlFile": str(self.crl_path),
            **extra,
        }

    def header(self, user_or_hsa_id, cert: ClientCert | None = None) -> dict[str, str]:
        """The header a trusted proxy sends for this user's certificate (nginx-escaped)."""
        if cert is None:
            hsa_id = getattr(user_or_hsa_id, "hsa_id", user_or_hsa_id)
            cert = self._header_certs.get(hsa_id)
            if cert is None:
                name = getattr(user_or_hsa_id, "name", "Test User")
                cert = self._header_certs[hsa_id] = self.issue_client_cert(hsa_id, name)
        return {HEADER: escaped(cert.pem)}


def escaped(pem: str) -> str:
    """URL-escape a PEM certificate as nginx's $ssl_client_escaped_cert does."""
    return quote(pem, safe="")


@pytest.fixture(scope="session")
def pki(instance_path):
    """The session's test CA, in the test instance's pki/ folder."""
    return PKI(instance_path / "pki")


@pytest.fixture
def cert_app(app, make_app, pki):
    """An app trusting the test CA, with the certificate read from the header."""
    return make_app(**pki.settings())


@pytest.fixture
def cert_client(cert_app):
    return cert_app.test_client()


@pytest.fixture
def cert_header(pki):
    """``cert_header(user_or_hsa_id) -> dict``: headers for the Flask test client."""
    return pki.header
