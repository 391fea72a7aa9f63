from tests.browser.conftest import chromium  # noqa: F401
from tests.web.staff.support import admin, catalogue, location, staff  # noqa: F401
