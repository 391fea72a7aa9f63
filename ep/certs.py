"""`ep certs`: the demo PKI (a CA, a server certificate, client certificates for the demo
users) and client certificates issued from it.

Only for the demo and for trying EP out: production uses SITHS certificates, the region's
server certificate, and points TrustedCaFile at the SITHS CA certificates.
"""

from pathlib import Path

import click

from ep.config import default_config_path
from ep.console import fail
from ep.domain.demo import DEMO_USERS
from ep.identity import InvalidIdentifier, parse_hsa_id
from ep.identity.certificates import (
    Issued,
    issue_client_certificate,
    issue_server_certificate,
    load_issued,
    make_ca,
    pkcs12_bytes,
    write_issued,
    write_private,
)
from ep.timeutil import utcnow

CERTS_FOLDER = "certs"
DEMO_CA_NAME = "EP Demo CA"
SERVER_HOSTS = ["localhost", "127.0.0.1"]
P12_PASSWORD = "ep-demo"
# what `ep init --demo` writes into ep.ini, relative to the instance folder
DEMO_CERT_SETTINGS = {
    "TrustedCaFile": f"{CERTS_FOLDER}/ca.pem",
    "ServerCertificateFile": f"{CERTS_FOLDER}/server.pem",
    "ServerKeyFile": f"{CERTS_FOLDER}/server.key",
}


def _demo_ca(folder: Path, made: list[str]) -> Issued:
    cert_path, key_path = folder / "ca.pem", folder / "ca.key"
    if cert_path.exists() and key_path.exists():
        return load_issued(cert_path, key_path)
    ca = make_ca(DEMO_CA_NAME, now=utcnow())
    write_issued(ca, cert_path, key_path)
    made.append(f"made {cert_path} (the demo CA; TrustedCaFile)")
    return ca


def issue_client_files(ca: Issued, hsa_id: str, name: str, folder: Path) -> list[Path]:
    """Write <HSA-ID>.pem, .key and .p12 (for browsers) into ``folder``; return the paths."""
    issued = issue_client_certificate(ca, hsa_id, name, now=utcnow())
    stem = folder / parse_hsa_id(hsa_id)
    cert_path, key_path, p12_path = (stem.with_suffix(s) for s in (".pem", ".key", ".p12"))
    write_issued(issued, cert_path, key_path)
    write_private(
        p12_path, pkcs12_bytes(issued, ca.cert, friendly_name=name, password=P12_PASSWORD)
    )
    return [cert_path, key_path, p12_path]


def ensure_demo_certs(folder: Path) -> list[str]:
    """Make what is missing of the demo PKI in ``folder``; return a line per file made."""
    folder.mkdir(parents=True, exist_ok=True)
    made: list[str] = []
    ca = _demo_ca(folder, made)
    server_cert, server_key = folder / "server.pem", folder / "server.key"
    if not (server_cert.exists() and server_key.exists()):
        write_issued(
            issue_server_certificate(ca, SERVER_HOSTS, now=utcnow()), server_cert, server_key
        )
        made.append(f"made {server_cert} (server certificate for {', '.join(SERVER_HOSTS)})")
    for user in DEMO_USERS:
        if not (folder / f"{user.hsa_id}.pem").exists():
            paths = issue_client_files(ca, user.hsa_id, user.name, folder)
            made.append(
                f"made {paths[0]} and .key/.p12 ({user.name}, {', '.join(user.roles)}; "
                f".p12 password {P12_PASSWORD})"
            )
    return made


def _certs_folder() -> Path:
    return default_config_path().absolute().parent / CERTS_FOLDER


@click.group()
def certs() -> None:
    """The demo PKI: a CA, a server certificate and client certificates."""


@certs.command("demo")
def certs_demo() -> None:
    """Make the demo CA, a server certificate for localhost and 127.0.0.1, and client
    certificates for the demo staff, admin and operator (PEM, and .p12 for browsers)."""
    folder = _certs_folder()
    made = ensure_demo_certs(folder)
    for line in made:
        click.echo(line)
    if not made:
        click.echo(f"the demo certificates in {folder} are complete")
    ini = folder.parent / "ep.ini"
    text = ini.read_text(encoding="utf-8") if ini.is_file() else ""
    missing = [k for k in DEMO_CERT_SETTINGS if not _is_set(text, k)]
    if missing:
        click.echo(f"to use them, set in {ini} under [appSettings]:")
        for key in missing:
            click.echo(f"  {key} = {DEMO_CERT_SETTINGS[key]}")


def _is_set(ini_text: str, key: str) -> bool:
    return any(line.strip().startswith(f"{key} ") for line in ini_text.splitlines())


@certs.command("issue")
@click.argument("hsa_id")
@click.option("--name", required=True, help="The person's name (the certificate's CN).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for <HSA_ID>.pem/.key/.p12 (default: the instance's certs/).",
)
def certs_issue(hsa_id: str, name: str, out: Path | None) -> None:
    """Issue a client certificate for HSA_ID from the demo CA (run `ep certs demo` first)."""
    try:
        hsa_id = parse_hsa_id(hsa_id)
    except InvalidIdentifier as exc:
        fail(str(exc))
    folder = _certs_folder()
    if not (folder / "ca.pem").exists() or not (folder / "ca.key").exists():
        fail(f"no demo CA in {folder}: run `ep certs demo` first")
    out = out or folder
    out.mkdir(parents=True, exist_ok=True)
    paths = issue_client_files(load_issued(folder / "ca.pem", folder / "ca.key"), hsa_id, name, out)
    click.echo(f"issued {hsa_id} ({name}): {', '.join(str(p) for p in paths)}")
    click.echo(f".p12 password: {P12_PASSWORD}")
