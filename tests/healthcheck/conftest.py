"""A real gunicorn (deploy/gunicorn.conf.py) serving EP over TLS, and a client with real
client certificates (python's ssl and http.client)."""

import http.client
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from ep.config import BATCHES
from ep.domain.audit import Actor
from ep.domain.installation import ensure_installation
from ep.domain.users import add_user
from ep.models import BatchHeartbeat, BatchRun
from tests.pki import ClientCert
from tests.support import make_instance, start_gunicorn

STATUS_PATH = "/OmniqOperator/Operator/HealthCheckStatus"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str


@dataclass
class Server:
    """A gunicorn subprocess listening on a socket the test bound (no fixed port)."""

    host: str
    port: int
    tls: bool
    ca_path: Path
    process: subprocess.Popen
    log_path: Path
    extra: dict = field(default_factory=dict)

    def get(
        self,
        path: str = STATUS_PATH,
        *,
        cert: ClientCert | None = None,
        headers: dict | None = None,
        source: str | None = None,
    ) -> Reply:
        """One GET; TLS with ``cert`` as the client certificate, from ``source`` if given."""
        source_address = (source, 0) if source else None
        conn: http.client.HTTPConnection
        if self.tls:
            context = ssl.create_default_context(cafile=str(self.ca_path))
            if cert is not None:
                context.load_cert_chain(cert.cert_path, cert.key_path)
            conn = http.client.HTTPSConnection(
                self.host, self.port, context=context, timeout=30, source_address=source_address
            )
        else:
            conn = http.client.HTTPConnection(
                self.host, self.port, timeout=30, source_address=source_address
            )
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read().decode(),
            )
        finally:
            conn.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(folder: Path, database_url: str, pki, **settings: str) -> Server:
    """Start gunicorn for an instance in ``folder``; wait until it answers."""
    folder.mkdir(parents=True, exist_ok=True)
    server_cert, server_key = pki.issue_server_cert()
    values = {
        "ClientCertificateSource": "tls",
        "TrustedCaFile": str(pki.ca_path),
        "CrlFile": str(pki.crl_path),
        "ServerCertificateFile": str(server_cert),
        "ServerKeyFile": str(server_key),
        **settings,
    }
    config = make_instance(folder, database_url, **values)
    # a log of its own: two servers of one instance (test_operator_cache) writing one file,
    # each at its own offset, wrote over each other's lines
    log_path = folder / f"gunicorn-{len(list(folder.glob('gunicorn-*.log')))}.log"
    with open(log_path, "xb") as log:
        # one process: the operator authorization cache is per worker
        process, port = start_gunicorn(config, output=log, WORKERS="1")
    server = Server(
        "127.0.0.1",
        port,
        values["ClientCertificateSource"] == "tls",
        pki.ca_path,
        process,
        log_path,
    )
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{server.log()}")
        try:
            server.get("/")
            return server
        except (ConnectionError, OSError):
            if time.monotonic() > deadline:
                stop_server(server)
                raise RuntimeError(f"gunicorn did not answer:\n{server.log()}") from None
            time.sleep(0.1)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory, migrated, pki):
    """EP behind gunicorn's own TLS (ClientCertificateSource = tls)."""
    server = start_server(tmp_path_factory.mktemp("tls-server"), migrated, pki)
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def header_server(tmp_path_factory, migrated, pki):
    """EP as it runs behind nginx: plain HTTP, certificate in the header from 127.0.0.1."""
    server = start_server(
        tmp_path_factory.mktemp("header-server"),
        migrated,
        pki,
        ClientCertificateSource="header",
        TrustedProxies="127.0.0.1",
    )
    yield server
    stop_server(server)


@pytest.fixture
def installed(db_session, now):
    """An installation made a day ago whose batches all ran a minute ago."""
    ensure_installation(db_session, now=now - timedelta(days=1), demo=False)
    for batch in BATCHES:
        record_run(db_session, batch, started=now - timedelta(minutes=2), status="succeeded")
    db_session.commit()


def record_run(session, batch, *, started, status, error=None):
    """A finished run and its heartbeat, as the batch runner leaves them."""
    finished = started + timedelta(seconds=40)
    run = BatchRun(
        batch=batch,
        host="batchhost",
        pid=4242,
        started_at=started,
        finished_at=finished,
        status=status,
        succeeded=12,
        failed=1 if error else 0,
        error_type=error[0] if error else None,
        error_message=error[1] if error else None,
    )
    session.add(run)
    session.flush()
    heartbeat = session.get(BatchHeartbeat, batch) or BatchHeartbeat(batch=batch)
    heartbeat.last_activity_at = finished
    heartbeat.last_run_id = run.id
    heartbeat.last_outcome = status
    if status == "succeeded":
        heartbeat.last_success_at = finished
    else:
        heartbeat.last_failure_at = finished
        heartbeat.last_error_type, heartbeat.last_error_message = error
    session.add(heartbeat)
    return run


@pytest.fixture
def operator_cert(pki, operator_user):
    return pki.issue_client_cert(operator_user.hsa_id, operator_user.name)


class TcpProxy:
    """A loopback TCP forwarder to the database server, so a test can take it away."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # stopped
            if self.stopped:
                client.close()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        """The database is gone: refuse new connections and cut the open ones."""
        self.stopped = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


def add_test_user(session, hsa_id, name, roles, now):
    """A committed user (the personas cover one of each role; some tests need a second)."""
    user = add_user(
        session, hsa_id=hsa_id, name=name, roles=roles, actor=Actor.system("test"), now=now
    )
    session.commit()
    return user
