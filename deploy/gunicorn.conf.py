"""gunicorn settings for EP (`gunicorn -c deploy/gunicorn.conf.py wsgi:app`).

The configuration is EP's own (EP_CONFIG, else instance/ep.ini):

- ``ClientCertificateSource = tls``: gunicorn terminates TLS with ServerCertificateFile
  and ServerKeyFile, and asks for a client certificate without requiring one
  (``ssl.CERT_OPTIONAL``: the resident's pages need none; TrustedCaFile names the CAs it
  asks for). The constant matters: ``cert_reqs = True`` would also mean optional, and
  nobody would notice (DESIGN.md section 14). OpenSSL lets any certificate through
  (ep.identity.tls) and the app verifies it from the socket — chain to TrustedCaFile,
  validity, CRL, HSA-ID, role — so a refused one gets EP's 403, not a failed handshake.
- ``ClientCertificateSource = header``: a reverse proxy terminates TLS (deploy/nginx-ep.conf)
  and gunicorn serves plain HTTP on loopback.

EP_BIND (e.g. 127.0.0.1:8443, or fd://3) and EP_WORKERS override the defaults.
"""

import os
import ssl

from ep.config import load_config
from ep.identity.tls import let_ep_judge_client_certificates

_ep = load_config()
_tls = _ep["ClientCertificateSource"] == "tls"

bind = os.environ.get("EP_BIND", "127.0.0.1:8443" if _tls else "127.0.0.1:8000")
workers = int(os.environ.get("EP_WORKERS", "2"))
worker_class = "sync"
timeout = 30
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
# every worker creates its own app (and database engine) after the fork
preload_app = False
# no shared ~/.gunicorn/gunicorn.ctl: several EP instances may run on one host
control_socket_disable = True

if _tls:
    if not (_ep["ServerCertificateFile"] and _ep["ServerKeyFile"]):
        raise SystemExit(
            f"{_ep.path}: ClientCertificateSource = tls needs ServerCertificateFile and "
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
        if context.verify_mode == ssl.CERT_OPTIONAL:
            let_ep_judge_client_certificates(context)
        return context
