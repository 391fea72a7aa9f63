from tests.web.staff.support import admin, catalogue, location, staff  # noqa: F401
