"""The MLLP listener: a threading TCP server that stores each message before its ACK."""

import logging
import os
import signal
import socket
import socketserver
import threading
from typing import cast

from flask import Flask

from ep.database import begin_writing
from ep.domain.integration import (
    MLLP_ORIGIN,
    hl7_ack,
    listener_received,
    listener_started,
    listener_stopped,
    receive_lab_message,
)
from ep.extensions import db
from ep.timeutil import utcnow

log = logging.getLogger(__name__)

START = b"\x0b"  # <VT>
END = b"\x1c\x0d"  # <FS><CR>
# how often an idle connection looks whether the listener is stopping
POLL_SECONDS = 0.5
RECEIVE_BYTES = 65536


class StoreFailed(Exception):
    """The message could not be stored: it gets no ACK, the sender sends it again."""


def next_frame(buffer: bytearray) -> bytes | None:
    """Take the first whole MLLP frame's content out of ``buffer``; None if none is whole.

    Bytes before a start block are line noise between frames and are dropped.
    """
    start = buffer.find(START)
    if start == -1:
        buffer.clear()
        return None
    if start:
        del buffer[:start]
    end = buffer.find(END, 1)
    if end == -1:
        return None
    frame = bytes(buffer[1:end])
    del buffer[: end + len(END)]
    return frame


def framed(ack: bytes) -> bytes:
    return START + ack + END


class MllpServer(socketserver.ThreadingTCPServer):
    """One listener. ``stopping`` tells every connection to finish and close."""

    allow_reuse_address = True
    daemon_threads = False
    block_on_close = True  # server_close() waits for the connections' last messages

    def __init__(self, address, app: Flask):
        self.app = app
        self.stopping = threading.Event()
        self.listener_id: int | None = None
        # the inbox's limit for one message (LabMaxFileBytes), for every road in
        self.max_message_bytes: int = app.config["EP"]["LabMaxFileBytes"]
        super().__init__(address, _Connection)

    @property
    def address(self) -> str:
        host, port = cast(tuple[str, int], self.server_address[:2])  # a TCP server's
        return f"{host}:{port}"

    def record_start(self) -> None:
        with self.app.app_context():
            self.listener_id = listener_started(
                db.session(),
                hostname=socket.gethostname(),
                address=self.address,
                pid=os.getpid(),
                now=utcnow(),
            )
            db.session.commit()

    def record_stop(self) -> None:
        with self.app.app_context():
            assert self.listener_id is not None  # record_start ran before serving
            listener_stopped(db.session(), listener_id=self.listener_id, now=utcnow())
            db.session.commit()

    def store(self, message: bytes, peer: str) -> bytes:
        """Record one message, commit, and return its ACK; StoreFailed if not stored."""
        with self.app.app_context():
            session = db.session()
            now = utcnow()
            try:
                begin_writing(session)
                received = receive_lab_message(
                    session, message, origin=f"{MLLP_ORIGIN}:{peer}", now=now
                )
                assert self.listener_id is not None  # record_start ran before serving
                listener_received(session, listener_id=self.listener_id, now=now)
                session.commit()
            except Exception as exc:
                session.rollback()
                log.exception("a message from %s could not be stored; no ACK sent", peer)
                raise StoreFailed(str(exc)) from exc
            ack, encoding = hl7_ack(received, now=now)
            log.info("lab message %s from %s: %s", received.message_id, peer, received.status)
            return ack.encode(encoding, "replace")


class _Connection(socketserver.BaseRequestHandler):
    server: MllpServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        peer = self.client_address[0]
        sock.settimeout(POLL_SECONDS)
        buffer = bytearray()
        while not self.server.stopping.is_set():
            try:
                chunk = sock.recv(RECEIVE_BYTES)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return  # the sender closed the connection
            buffer += chunk
            while (message := next_frame(buffer)) is not None:
                try:
                    sock.sendall(framed(self.server.store(message, peer)))
                except StoreFailed:
                    return  # closing without an ACK: the sender sends it again
                except OSError:
                    return  # the sender went away; the message is stored all the same
            if len(buffer) > self.server.max_message_bytes:
                log.warning(
                    "closed a connection from %s: a frame of more than %s bytes",
                    peer,
                    f"{self.server.max_message_bytes:,}",
                )
                return


def serve(app: Flask, host: str, port: int, *, ready=print) -> None:
    """Listen on ``host``:``port`` until SIGTERM or SIGINT; then stop cleanly."""
    stop = threading.Event()
    server = MllpServer((host, port), app)
    server.record_start()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    accepting = threading.Thread(target=server.serve_forever, name="mllp-accept")
    accepting.start()
    ready(f"listening for MLLP on {server.address}")
    try:
        while not stop.wait(1):
            pass
    finally:
        server.shutdown()  # no new connections
        server.stopping.set()  # each connection answers what it is storing, then closes
        server.server_close()  # waits for them
        accepting.join()
        server.record_stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    ready(f"stopped listening on {server.address}")
