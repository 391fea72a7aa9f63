"""Fixtures for the notification tests: configurations and residents to notify."""

import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from ep.config import load_config
from ep.identity.certificates import issue_server_certificate, make_ca, write_issued
from ep.models import Person
from ep.timeutil import utcnow


@pytest.fixture
def outbox(tmp_path):
    """The file channel's folder (NotificationDirectory)."""
    return tmp_path / "notifications"


@pytest.fixture
def notify_config(config_path, outbox):
    """Return the test instance's configuration with appSettings overrides."""

    def make(**overrides):
        overrides.setdefault("NotificationDirectory", str(outbox))
        return load_config(config_path, environ={}, overrides=overrides)

    return make


@pytest.fixture
def make_person(db_session, now):
    """Add and commit a resident; a fresh personnummer each time."""
    made = []

    def make(**values):
        number = f"19{len(made) + 10:02d}01010000"[:12]
        person = Person(personnummer=values.pop("personnummer", number), created_at=now, **values)
        db_session.add(person)
        db_session.commit()
        made.append(person)
        return person

    return make


# -- the SMS gateway: a real HTTP server on loopback, the one fake at the world's edge --


@dataclass
class GatewayRequest:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class SmsGateway:
    """A loopback SMS gateway that records each request and answers as it is told."""

    url: str
    requests: list[GatewayRequest] = field(default_factory=list)
    # (status, JSON answer) for each coming request; when empty, 200 with a message id
    answers: list[tuple[int, dict]] = field(default_factory=list)
    # seconds to wait before answering (a gateway too slow for ProviderTimeoutSeconds)
    delay: float = 0.0
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # called with each request before it is answered (to look at the database meanwhile)
    on_request: Callable[[GatewayRequest], None] | None = None

    def answer(self, request: GatewayRequest) -> tuple[int, dict]:
        if self.on_request:
            self.on_request(request)
        with self.lock:
            self.requests.append(request)
            if self.answers:
                return self.answers.pop(0)
            return 200, {"id": f"sms-{len(self.requests)}", "status": "queued"}


@pytest.fixture
def sms_gateway():
    gateway = SmsGateway(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            status, answer = gateway.answer(
                GatewayRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            if gateway.delay:
                gateway.released.wait(gateway.delay)
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up waiting (the timeout test)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}/v1/sms"
    yield gateway
    gateway.released.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def sms_config(notify_config, sms_gateway):
    """NotificationChannel sms, smtp with the loopback gateway."""
    return notify_config(
        NotificationChannel="sms, smtp",
        SmsGatewayUrl=sms_gateway.url,
        SmsGatewayToken="gateway-secret-token",
        SmsSender="RegionTest",
        ProviderTimeoutSeconds="1",
    )


# -- a real SMTP server (aiosmtpd) on a free loopback port --


class LoopbackController(Controller):
    """aiosmtpd's Controller on a port the OS picks (it cannot bind port 0 itself)."""

    def __init__(self, handler, **kwargs):
        self._socket = socket.create_server(("127.0.0.1", 0))
        super().__init__(
            handler, hostname="127.0.0.1", port=self._socket.getsockname()[1], **kwargs
        )

    def _create_server(self):
        return self.loop.create_server(
            self._factory_invoker, sock=self._socket, ssl=self.ssl_context
        )


class Mailbox:
    """The SMTP server's side: what arrived, and the addresses it refuses."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refused: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


@pytest.fixture
def mailbox():
    """A plain SMTP server on loopback; yields its Mailbox (with .port)."""
    box = Mailbox()
    controller = LoopbackController(box)
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


def smtp_settings(port: int) -> dict[str, str]:
    """The settings that send e-mail to the test SMTP server on ``port``."""
    return dict(
        NotificationChannel="smtp",
        SmtpHost="127.0.0.1",
        SmtpPort=str(port),
        SmtpFrom="no-reply@ep.region.example",
        ProviderTimeoutSeconds="5",
    )


@pytest.fixture
def smtp_config(notify_config, mailbox):
    return notify_config(**smtp_settings(mailbox.port))


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """A test CA and a server certificate for 127.0.0.1 signed by it, as PEM files."""
    folder = tmp_path_factory.mktemp("smtp-tls")
    now = utcnow()
    ca = make_ca("EP notify test CA", now=now, days=1)
    server = issue_server_certificate(ca, ["127.0.0.1"], now=now, days=1)
    files = {
        "ca": folder / "ca.pem",
        "cert": folder / "server.pem",
        "key": folder / "server.key",
    }
    files["ca"].write_bytes(ca.cert_pem)
    write_issued(server, files["cert"], files["key"])
    return files


def _accept(user: str, password: str):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    return authenticate


@pytest.fixture
def tls_mailbox(tls_files):
    """An SMTP server that demands STARTTLS and a login (ep-notify / s3cret)."""
    box = Mailbox()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files["cert"], tls_files["key"])
    controller = LoopbackController(
        box,
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=_accept("ep-notify", "s3cret"),
    )
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()
