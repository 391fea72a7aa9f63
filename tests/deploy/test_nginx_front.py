"""deploy/nginx-ep.conf, run by Debian's nginx in front of a real gunicorn: nothing a
client sends can make EP believe who it is, and what EP refuses it says why."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import func, select

from ep.identity.certificates import issue_client_certificate, make_ca, write_issued
from ep.models import Person
from tests.deploy.conftest import (
    NGINX,
    certificate_in_place,
    debian_main,
    free_port,
    log_line,
    shipped_site,
)
from tests.healthcheck.conftest import STATUS_PATH
from tests.pki import HEADER, ClientCert, escaped

CLIENT = "127.0.0.2"  # the client's own address; nginx reaches gunicorn from 127.0.0.1
HSTS = "max-age=31536000; includeSubDomains"


def test_nginx_accepts_the_file(front):
    result = subprocess.run(
        [NGINX, "-t", "-c", str(front.main_conf), "-e", str(front.main_conf.parent / "t.log")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_shipped_file_needs_no_file_but_the_servers_certificate(tmp_path, pki):
    """As an operator checks it: `nginx -t` with the shipped file, only its certificate put
    in place, as the one site in Debian's own nginx.conf."""
    site = tmp_path / "ep.conf"
    site.write_text(shipped_site(**certificate_in_place(pki.issue_server_cert())))
    main = debian_main(tmp_path, site)
    result = subprocess.run([NGINX, "-t", "-c", str(main)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_site_passes_nginx_t_for_an_unprivileged_user_in_a_bare_http_block(pki):
    """As a check with no root does it: `nginx -t` on a bare main file of its own (only the
    pid and error log moved to a folder it may write) that includes the site in an empty
    ``http {}``. The site must then open no file but its certificate: no log of the http
    level's (Debian's /var/log/nginx/access.log is root's), and no temporary folder nginx
    would have to make (Debian's /var/lib/nginx/body … are missing wherever nginx has
    never run, and only root may make them). The ports are moved above 1024, which an
    unprivileged user may bind here."""
    folder = Path(tempfile.mkdtemp(prefix="ep-nginx-"))
    try:
        cert, key = pki.issue_server_cert()
        for source in (cert, key):
            shutil.copy(source, folder / source.name)
        site = folder / "ep.conf"
        site.write_text(
            shipped_site(
                **{
                    "listen 443 ssl http2;": f"listen 127.0.0.1:{free_port()} ssl http2;",
                    "listen 80;": f"listen 127.0.0.1:{free_port()};",
                },
                **certificate_in_place((folder / cert.name, folder / key.name)),
            )
        )
        main = folder / "nginx.conf"
        main.write_text(
            f"pid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'};\n"
            f"events {{}}\nhttp {{\n    include {site};\n}}\n"
        )
        command = [NGINX, "-t", "-c", str(main)]
        if os.geteuid() == 0:  # as nobody, in a folder nobody may write
            os.chmod(folder, 0o777)
            for path in folder.iterdir():
                os.chmod(path, 0o644)
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "test is successful" in result.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_an_operator_certificate_gets_ok_with_hsts(front, installed, operator_cert):
    reply = front.nginx.get(cert=operator_cert, source=CLIENT)
    assert (reply.status, reply.body) == (200, "OK")
    assert reply.headers["strict-transport-security"] == HSTS


def test_a_certificate_header_sent_by_the_client_never_reaches_ep(front, installed, operator_cert):
    reply = front.nginx.get(headers={HEADER: escaped(operator_cert.pem)}, source=CLIENT)
    assert (reply.status, reply.body) == (403, "403 Forbidden\n")
    assert reply.headers["strict-transport-security"] == HSTS
    assert "no client certificate in X-SSL-Client-Cert" in front.ep.log()


def test_a_resident_header_sent_by_the_client_never_reaches_ep(front, resident, db_session):
    for name in ("X-Personnummer", "X_Personnummer", "x-personnummer"):
        reply = front.nginx.get("/results", headers={name: resident.personnummer}, source=CLIENT)
        assert reply.status == 302, name  # to the login page: nobody is logged in
        assert "/login" in reply.headers["location"]
        assert "Tolvan" not in reply.body
    db_session.rollback()
    assert db_session.scalar(select(func.count()).select_from(Person)) == 1


def test_a_certificate_from_another_ca_gets_eps_403_and_the_log_says_why(
    front, installed, operator_user, tmp_path, now
):
    other = make_ca("EP Test CA", now=now)  # even the same name does not help
    issued = issue_client_certificate(other, operator_user.hsa_id, operator_user.name, now=now)
    cert = ClientCert(issued, tmp_path / "other.pem", tmp_path / "other.key")
    write_issued(issued, cert.cert_path, cert.key_path)

    reply = front.nginx.get(cert=cert, source=CLIENT)

    assert (reply.status, reply.body) == (403, "403 Forbidden\n")
    assert f"from {CLIENT}: certificate: the certificate does not verify" in front.ep.log()


def test_an_expired_certificate_gets_eps_403_and_the_log_says_why(
    front, installed, pki, operator_user
):
    reply = front.nginx.get(cert=pki.issue_expired_client_cert(operator_user.hsa_id))
    assert (reply.status, reply.body) == (403, "403 Forbidden\n")
    assert "not valid at validation time" in front.ep.log()


def test_eps_access_log_names_the_client_not_the_front_nor_what_the_client_claims(
    front, installed, operator_cert
):
    path = f"{STATUS_PATH}?client-address-test"
    reply = front.nginx.get(
        path, cert=operator_cert, headers={"X-Forwarded-For": "203.0.113.66"}, source=CLIENT
    )
    assert reply.status == 200
    line = log_line(front.ep, "client-address-test")  # written just after the response
    assert f'gunicorn.access: {CLIENT} "GET {path} HTTP/1.1" 200' in line
    assert "203.0.113.66" not in front.ep.log()
