from tests.pki import pki  # noqa: F401
