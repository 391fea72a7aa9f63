"""Fixtures for the notification tests: configurations and residents to notify."""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ep.config import load_config
from ep.models import Person


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

    def answer(self, request: GatewayRequest) -> tuple[int, dict]:
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
