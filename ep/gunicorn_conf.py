"""gunicorn settings for EP: `gunicorn -c python:ep.gunicorn_conf "ep:create_app()"`.

The configuration is EP's own (EP_CONFIG, else instance/ep.ini); a problem in it stops
gunicorn with the one line that names the file, key and problem.

- ``ClientCertificateSource = header`` (production, deploy/nginx-ep.conf): nginx terminates
  TLS, asks for the SITHS certificate and forwards it; gunicorn serves plain HTTP on
  loopback, and believes nginx's headers only from TrustedProxies (ep.web.proxies).
- ``ClientCertificateSource = tls`` (the demo, small installations): gunicorn terminates
  TLS with ServerCertificateFile and ServerKeyFile and asks for a client certificate
  without requiring one (``ssl.CERT_OPTIONAL``: the resident's pages need none). The
  constant matters: ``cert_reqs = True`` would also mean optional, and nobody would notice
  (DESIGN.md section 14). OpenSSL checks a presented certificate against TrustedCaFile
  at the handshake: one from another CA, or expired, fails the connection (fail closed;
  docs/runbook.md says how to see why). A certificate that passes is verified again by
  EP — CRL, HSA-ID, active user, role — and refused with EP's 403.

Workers: gthread. A connection that sends nothing waits in the worker's poller, not in a
thread, and is closed after ``keepalive`` seconds; only a connection with bytes to read
takes a thread. A client that sends half a request holds its thread, so each worker has
many more threads than requests it serves at once (they cost a little memory each, and
only while held). With the sync worker one idle connection stalled the health check for
``timeout`` seconds (DESIGN.md section 14); tests/deploy/test_slow_clients.py holds 100
idle and 100 half-sent TLS connections open and asks for the health check.

EP_BIND (e.g. 127.0.0.1:8443, or fd://3), EP_WORKERS and EP_THREADS override the defaults.
"""

import os
import ssl

from ep.config import ConfigError, load_config
from ep.logs import ACCESS_LOG_FORMAT, logging_config

try:
    _ep = load_config()
except ConfigError as exc:
    raise SystemExit(f"ep: {exc}") from None
_tls = _ep["ClientCertificateSource"] == "tls"

bind = os.environ.get("EP_BIND", "127.0.0.1:8443" if _tls else "127.0.0.1:8000")
workers = int(os.environ.get("EP_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("EP_THREADS", "256"))
# the thread pool's limit, and the connections a worker holds (idle ones cost a socket)
worker_connections = 1000
# seconds a worker's main loop may go silent before the arbiter restarts it (gthread
# keeps beating while its threads serve, so this catches a hung worker, not a slow page)
timeout = 30
graceful_timeout = 20
# an idle connection between requests is closed after this many seconds
keepalive = 5
# the request line and headers must be small: a SITHS certificate header is ~3 kB
limit_request_line = 8190
limit_request_field_size = 16384

# one logging configuration for the app, gunicorn and the batches (ep.logs)
logconfig_dict = logging_config(_ep["LogFormat"])
accesslog = None  # access lines go through gunicorn.access into logconfig_dict's handler
access_log_format = ACCESS_LOG_FORMAT
# X-Forwarded-Proto from the front only; the client's address is EP's (ep.web.proxies)
forwarded_allow_ips = ",".join(str(network) for network in _ep["TrustedProxies"])

# every worker creates its own app (and database engine) after the fork
preload_app = False
# no shared ~/.gunicorn/gunicorn.ctl: several EP instances may run on one host
control_socket_disable = True

if _tls:
    if not (_ep["ServerCertificateFile"] and _ep["ServerKeyFile"]):
        raise SystemExit(
            f"ep: {_ep.path}: ClientCertificateSource = tls needs ServerCertificateFile and "
            "ServerKeyFile (run `ep certs demo` for a demo certificate)"
        )
    certfile = str(_ep.path_of("ServerCertificateFile"))
    keyfile = str(_ep.path_of("ServerKeyFile"))
    if _ep["TrustedCaFile"]:
        cert_reqs = ssl.CERT_OPTIONAL
        ca_certs = str(_ep.path_of("TrustedCaFile"))
    else:
        cert_reqs = ssl.CERT_NONE  # no client certificates: staff and operator pages say 403

    def ssl_context(conf, default_ssl_context_factory):
        context = default_ssl_context_factory()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context
