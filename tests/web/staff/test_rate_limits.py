"""Staff look-ups by personnummer are rate limited per staff member and per address."""

import logging


def look_up(staff, path, count) -> list[int]:
    token = staff.token("/staff/")
    return [
        staff.post(path, {"personnummer": "19121212-1212"}, token=token).status_code
        for _ in range(count)
    ]


def test_patient_look_ups_past_the_limit_are_refused_and_logged(
    make_app, pki, cert_header, staff_user, resident, caplog
):
    from tests.web.staff.support import SignedIn

    app = make_app(**pki.settings(StaffLookupRateLimit="3/hour"))
    staff = SignedIn(app.test_client(), cert_header(staff_user), staff_user.hsa_id)
    caplog.set_level(logging.WARNING, logger="ep.ratelimit")
    assert look_up(staff, "/staff/patients", 3) == [302, 302, 302]
    assert look_up(staff, "/staff/sampling", 1) == [429]  # one limit for every look-up
    assert f"user:{staff_user.hsa_id}" in caplog.text
