"""The production shape, run for real: Debian's nginx with deploy/nginx-ep.conf in front
of gunicorn (header mode), and gunicorn's own TLS facing clients directly."""

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.healthcheck.conftest import (  # noqa: F401 (fixtures)
    Server,
    installed,
    operator_cert,
    start_server,
    stop_server,
)

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx-ep.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# Debian's own main configuration, whose http {} includes the sites (README step 6)
DEBIAN_MAIN = Path("/etc/nginx/nginx.conf")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def replaced(text: str, replacements: dict[str, str], name: str) -> str:
    """``text`` with each of ``replacements`` (found exactly once) put in."""
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{name} no longer has {old!r} once"
        text = text.replace(old, new)
    return text


def shipped_site(**replacements: str) -> str:
    """deploy/nginx-ep.conf with ``replacements`` put in."""
    return replaced(NGINX_CONF.read_text(), replacements, "deploy/nginx-ep.conf")


def certificate_in_place(server_cert) -> dict[str, str]:
    """The replacements that put a server certificate where the shipped file names one."""
    cert, key = server_cert
    return {
        "/etc/ep/tls/ep.example.se.pem;": f"{cert};",
        "/etc/ep/tls/ep.example.se.key;": f"{key};",
    }


def debian_main(folder: Path, site: Path) -> Path:
    """Debian's /etc/nginx/nginx.conf as installed, with ``site`` as its one enabled site
    and its pid and logs in ``folder``; the file written there. (Where nginx keeps its
    temporary files the site says itself.)"""
    text = replaced(
        DEBIAN_MAIN.read_text(),
        {
            "pid /run/nginx.pid;": f"pid {folder / 'nginx.pid'};",
            "error_log /var/log/nginx/error.log;": f"error_log {folder / 'error.log'} info;",
            "access_log /var/log/nginx/access.log;": f"access_log {folder / 'access.log'};",
            "include /etc/nginx/sites-enabled/*;": f"include {site};",
        },
        str(DEBIAN_MAIN),
    )
    main = folder / "nginx.conf"
    main.write_text(text)
    return main


def nginx_site(*, https_port: int, http_port: int, upstream_port: int, server_cert) -> str:
    """deploy/nginx-ep.conf with its ports and certificate replaced, and nothing else."""
    return shipped_site(
        **{
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
        },
        **certificate_in_place(server_cert),
    )


def log_line(server: Server, text: str, timeout: float = 10) -> str:
    """The first line of ``server``'s log with ``text``, once the server has written it."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in server.log().splitlines() if text in line]
        if lines:
            return lines[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no line with {text!r} in:\n{server.log()}")
        time.sleep(0.05)


@dataclass
class Front:
    """nginx on a free port in front of a gunicorn; ``get`` speaks HTTPS to nginx."""

    nginx: Server
    ep: Server
    main_conf: Path


def start_nginx(folder: Path, upstream: Server, authority) -> tuple[Server, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    site = folder / "ep.conf"
    site.write_text(
        nginx_site(
            https_port=(https := free_port()),
            http_port=free_port(),
            upstream_port=upstream.port,
            server_cert=authority.issue_server_cert(),
        )
    )
    main = debian_main(folder, site)
    log_path = folder / "nginx.out"
    command = [NGINX, "-e", str(folder / "error.log"), "-c", str(main)]
    command += ["-g", "daemon off; master_process off;"]
    with open(log_path, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Server("127.0.0.1", https, True, authority.ca_path, process, folder / "error.log")
    deadline = time.monotonic() + 20
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited:\n{log_path.read_text()}\n{server.log()}")
        try:
            socket.create_connection(("127.0.0.1", https), timeout=1).close()
            return server, main
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"nginx did not listen:\n{server.log()}") from None
            time.sleep(0.05)


@pytest.fixture(scope="module")
def front(tmp_path_factory, migrated, pki):  # noqa: F811
    """EP in header mode behind nginx, configured as deploy/nginx-ep.conf prescribes."""
    if not Path(NGINX).exists():
        pytest.skip("Debian's nginx is not installed (.ci/run installs it)")
    folder = tmp_path_factory.mktemp("front")
    ep = start_server(
        folder / "ep",
        migrated,
        pki,
        ClientCertificateSource="header",
        TrustedProxies="127.0.0.1",
        CitizenIdentityProxies="127.0.0.1",
    )
    try:
        nginx, main = start_nginx(folder / "nginx", ep, pki)
    except Exception:
        stop_server(ep)
        raise
    yield Front(nginx, ep, main)
    stop_server(nginx)
    stop_server(ep)
