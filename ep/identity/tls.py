"""TLS termination in gunicorn (ClientCertificateSource = tls): EP judges the certificate.

With ``cert_reqs = ssl.CERT_OPTIONAL`` gunicorn asks every client for a certificate, and
OpenSSL then refuses the whole connection when one is presented that does not verify
against ``ca_certs`` — from another CA, expired. The operator would see a failed handshake
where the issue and the operations manual promise a 403, and EP's log would not say why.
So OpenSSL is told to carry on whatever it finds (a verify callback that answers "go on"),
and EP verifies every certificate itself, as it does in header mode: chain to
TrustedCaFile, validity, CRL, HSA-ID, active user, role (ep.web.access). Nothing is let in
that EP has not verified; what is refused gets the 403 and a log line with the reason.

Python's ssl module has no verify callback, so this one is set on the context's
``SSL_CTX`` with ctypes, through the OpenSSL library the ``_ssl`` module itself is linked
against. The ``SSL_CTX`` pointer is the first field after the object header of CPython's
``SSLContext``; it is checked before use (the verify mode OpenSSL reports must be the one
Python set), and when anything does not fit, nothing is changed: OpenSSL then keeps
refusing at the handshake, which fails closed.
"""

import ctypes
import logging
import ssl

log = logging.getLogger(__name__)

SSL_VERIFY_PEER = 0x01
_VerifyCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


@_VerifyCallback
def _go_on(_preverify_ok: int, _store) -> int:
    return 1  # EP verifies the certificate itself, for every request that needs one


def _openssl():
    library = ctypes.CDLL(ssl._ssl.__file__)  # its symbols and those of its libssl
    library.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
    library.SSL_CTX_get_verify_mode.restype = ctypes.c_int
    library.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VerifyCallback]
    library.SSL_CTX_set_verify.restype = None
    return library


def let_ep_judge_client_certificates(context: ssl.SSLContext) -> bool:
    """Make ``context`` (CERT_OPTIONAL) accept any client certificate for EP to verify.

    Returns True when done; False (and a warning) when this Python's ssl module does not
    look as expected, in which case the context is left as it was.
    """
    if context.verify_mode != ssl.CERT_OPTIONAL:
        raise ValueError("only a context that asks for an optional client certificate")
    try:
        openssl = _openssl()
        pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
        if not pointer or openssl.SSL_CTX_get_verify_mode(pointer) != SSL_VERIFY_PEER:
            raise LookupError("the SSL_CTX of this ssl.SSLContext was not where expected")
    except (AttributeError, OSError, LookupError) as exc:
        log.warning(
            "client certificates stay verified by OpenSSL at the handshake (a refused one "
            "fails the connection instead of getting 403): %s",
            exc,
        )
        return False
    openssl.SSL_CTX_set_verify(pointer, SSL_VERIFY_PEER, _go_on)
    return True
