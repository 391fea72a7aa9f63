from tests.browser.conftest import chromium  # noqa: F401
from tests.pki import cert_app, cert_client, cert_header, pki  # noqa: F401
from tests.web.staff.support import admin, catalogue, location, staff  # noqa: F401
