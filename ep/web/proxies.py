"""Who is really asking: the direct peer, and the client a trusted proxy speaks for.

Behind nginx every request comes from 127.0.0.1. The front overwrites X-Forwarded-For
with the client's address and X-Forwarded-Proto with its scheme; EP believes those two
headers only when the direct peer is one of ``TrustedProxies`` (any client can send
them). The client's address then becomes ``REMOTE_ADDR``, so the app's logs, the audit
trail and gunicorn's access log (which reads the same environ after the response) carry
it. Trust decisions never use it: they use the direct peer, kept in ``ep.peer_addr``.
"""

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from flask import request

PEER_KEY = "ep.peer_addr"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# every request asks about the same few addresses (nginx's, a monitor's) at least twice
@lru_cache(maxsize=1024)
def _ip(address: str | None):
    try:
        return ipaddress.ip_address(address or "")
    except ValueError:
        return None


def address_in(address: str | None, networks: Iterable[Network]) -> bool:
    """Whether ``address`` is an IP address inside one of ``networks``."""
    ip = _ip(address)
    return ip is not None and any(ip in network for network in networks)


def peer_address() -> str | None:
    """The address of the direct peer of this request (nginx behind a front)."""
    return request.environ.get(PEER_KEY, request.remote_addr)


def peer_in(networks: Iterable[Network]) -> bool:
    """Whether the direct peer is in ``networks`` (TrustedProxies, CitizenIdentityProxies)."""
    return address_in(peer_address(), networks)


class ForwardedFrom:
    """WSGI middleware: take the client's address and scheme from a trusted proxy only."""

    def __init__(self, app, trusted: tuple[Network, ...]):
        self.app = app
        self.trusted = trusted

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR")
        environ[PEER_KEY] = peer
        if address_in(peer, self.trusted):
            client = _last(environ.get("HTTP_X_FORWARDED_FOR"))
            if _ip(client) is not None:
                environ["REMOTE_ADDR"] = client
            scheme = _last(environ.get("HTTP_X_FORWARDED_PROTO"))
            if scheme in ("http", "https"):
                environ["wsgi.url_scheme"] = scheme
        return self.app(environ, start_response)


def _last(value: str | None) -> str | None:
    """The entry the nearest proxy added (the front overwrites, so there is one)."""
    if not value:
        return None
    return value.rsplit(",", 1)[-1].strip().lower()
