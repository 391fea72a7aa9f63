from ep.domain.demo import load_demo


def test_the_start_page_lists_what_anyone_can_order_in_swedish(client, db_session, now):
    load_demo(db_session, now=now)
    db_session.commit()
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="sv">' in page
    assert "Klamydia och gonorré hemtest" in page
    assert "Diabeteskontroll" not in page  # assigned by staff, not generally available


def test_every_page_carries_the_security_headers(client, db_session):
    response = client.get("/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
