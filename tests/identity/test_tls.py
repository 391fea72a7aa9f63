"""ep.identity.tls: OpenSSL lets client certificates through for EP to judge."""

import ssl

import pytest

from ep.identity.tls import let_ep_judge_client_certificates


def test_only_a_context_asking_for_an_optional_certificate_is_changed():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # CERT_NONE: asks for nothing

    with pytest.raises(ValueError, match="optional client certificate"):
        let_ep_judge_client_certificates(context)


def test_an_optional_certificate_context_is_changed_and_keeps_its_mode():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_OPTIONAL

    assert let_ep_judge_client_certificates(context) is True
    assert context.verify_mode == ssl.CERT_OPTIONAL
