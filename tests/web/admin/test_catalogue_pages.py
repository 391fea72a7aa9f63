"""EP.Admin keeps the catalogue: packages and their rules, analyses, sampling locations."""

import pytest
from sqlalchemy import select

from ep.domain.audit import description
from ep.models import Analysis, Package, SamplingLocation
from tests.web.staff.support import audit_events

ADMIN_PAGES = (
    "/EP.Admin/packages",
    "/EP.Admin/packages/new",
    "/EP.Admin/analyses",
    "/EP.Admin/analyses/new",
    "/EP.Admin/locations",
    "/EP.Admin/locations/new",
    "/EP.Admin/audit",
)


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_only_admins_reach_the_catalogue_pages(
    cert_client, cert_header, staff_user, outsider, admin_user, path
):
    assert cert_client.get(path).status_code == 403
    assert cert_client.get(path, headers=cert_header(staff_user)).status_code == 403
    assert cert_client.get(path, headers=cert_header(outsider)).status_code == 403
    assert cert_client.get(path, headers=cert_header(admin_user)).status_code == 200


def test_the_package_list_shows_each_package_with_its_release_policy(admin, catalogue):
    page = admin.get("/EP.Admin/packages").text
    assert "STI-HOME" in page
    assert "contact-positive" in page
    assert "21613-5, 24111-7" in page


def package_form(**changes):
    form = {
        "code": "LIPIDS",
        "name_sv": "Blodfetter",
        "name_en": "Blood lipids",
        "instructions_sv": "Kom fastande.",
        "instructions_en": "Come fasting.",
        "order_validity_days": "45",
        "release_policy": "delay:48",
        "remind_offer_after_days": "10",
        "remind_expiring_within_days": "",
        "remind_kit_after_days": "",
        "generally_available": "1",
        "min_age": "40",
        "max_age": "75",
        "active": "1",
        "analyses": ["NPU02192", "NPU27300"],
    }
    form.update(changes)
    return form


def test_an_admin_adds_a_package_with_its_analyses_and_rules(
    admin, admin_user, catalogue, db_session
):
    token = admin.token("/EP.Admin/packages/new")
    response = admin.post("/EP.Admin/packages/new", package_form(), token=token)
    assert response.status_code == 302
    db_session.commit()
    package = db_session.scalar(select(Package).where(Package.code == "LIPIDS"))
    assert [a.code for a in package.analyses] == ["NPU02192", "NPU27300"]
    assert package.release_policy == "delay:48"
    assert package.order_validity_days == 45
    assert (package.min_age, package.max_age) == (40, 75)
    assert package.generally_available and package.active and not package.home_kit
    assert package.remind_offer_after_days == 10
    assert package.remind_expiring_within_days is None
    events = audit_events(db_session, actor_id=admin_user.hsa_id, object_id="LIPIDS")
    assert [e.action for e in events] == ["catalogue:add-package"]  # one change, one event
    kept = description(events[0].details)
    assert kept is not None and kept["analyses"] == ["NPU02192", "NPU27300"]
    assert {"code", "name_sv", "release_policy", "analyses"} <= set(kept["fields"])


def test_every_problem_in_a_package_form_is_shown_by_its_field(admin, catalogue, db_session):
    token = admin.token("/EP.Admin/packages/new")
    response = admin.post(
        "/EP.Admin/packages/new",
        package_form(
            code="DIABETES",
            name_en="",
            release_policy="delay:soon",
            min_age="70",
            max_age="18",
            order_validity_days="0",
            analyses=[],
        ),
        token=token,
    )
    assert response.status_code == 400
    page = response.text
    assert "Koden används redan." in page
    assert "Fältet måste fyllas i." in page
    assert "delay:&lt;timmar&gt;" in page
    assert "Den övre åldersgränsen måste vara minst den undre." in page
    assert "Skriv ett tal från 1 till 365." in page
    assert "Välj minst en analys." in page
    for field in ("code", "name_en", "release_policy", "max_age", "order_validity_days"):
        assert f'id="{field}-error"' in page
    assert 'value="Blodfetter"' in page  # what was typed is kept


def test_an_admin_changes_the_release_policy_and_reminders_of_a_package(
    admin, catalogue, db_session
):
    package = catalogue["PSA"]
    path = f"/EP.Admin/packages/{package.id}"
    page = admin.get(path).text
    assert 'value="delay:24"' in page
    token = admin.token(path)
    form = package_form(
        code="PSA", release_policy="immediate", remind_kit_after_days="5", analyses=["NPU08669"]
    )
    assert admin.post(path, form, token=token).status_code == 302
    db_session.commit()
    db_session.refresh(package)
    assert package.release_policy == "immediate"
    assert package.remind_kit_after_days == 5
    update = audit_events(db_session, action="catalogue:update-package", object_id="PSA")[0]
    kept = description(update.details)
    assert kept is not None and {"release_policy", "remind_kit_after_days"} <= set(kept["fields"])


def test_an_admin_adds_and_edits_an_analysis_with_a_decimal_comma(admin, catalogue, db_session):
    token = admin.token("/EP.Admin/analyses/new")
    form = {
        "code": "NPU01700",
        "name_sv": "P-Kolesterol",
        "name_en": "P-Cholesterol",
        "unit": "mmol/L",
        "ref_low": "3,0",
        "ref_high": "5.0",
    }
    assert admin.post("/EP.Admin/analyses/new", form, token=token).status_code == 302
    db_session.commit()
    analysis = db_session.scalar(select(Analysis).where(Analysis.code == "NPU01700"))
    assert (analysis.ref_low, analysis.ref_high) == (3.0, 5.0)
    page = admin.get(f"/EP.Admin/analyses/{analysis.id}").text
    assert 'value="3,0"' not in page and 'value="3"' in page

    response = admin.post(
        f"/EP.Admin/analyses/{analysis.id}", {**form, "ref_low": "6", "ref_high": "x"}, token=token
    )
    assert response.status_code == 400
    assert "Skriv ett tal, till exempel 5,4." in response.text


def test_an_admin_adds_edits_and_closes_a_sampling_location(admin, admin_user, db_session):
    token = admin.token("/EP.Admin/locations/new")
    form = {
        "code": "VC-NORR",
        "name": "Vårdcentralen Norr <provtagning>",
        "address": "Norrgatan 3",
        "city": "Norrtälje",
        "opening_hours": "Mån–tors 8–15",
        "care_unit_hsa_id": "SE2321000016-VN01",
    }
    assert admin.post("/EP.Admin/locations/new", form, token=token).status_code == 302
    db_session.commit()
    location = db_session.scalar(select(SamplingLocation).where(SamplingLocation.code == "VC-NORR"))
    assert location.active

    page = admin.get("/EP.Admin/locations").text
    assert "Vårdcentralen Norr &lt;provtagning&gt;" in page

    bad = admin.post(
        f"/EP.Admin/locations/{location.id}", {**form, "care_unit_hsa_id": "VN01"}, token=token
    )
    assert bad.status_code == 400
    assert 'id="care_unit_hsa_id-error"' in bad.text

    response = admin.post(
        f"/EP.Admin/locations/{location.id}/active",
        {"active": "0"},
        token=token,
        follow_redirects=True,
    )
    assert "är stängt för nya beställningar" in response.text
    db_session.commit()
    db_session.refresh(location)
    assert not location.active
    actions = [e.action for e in audit_events(db_session, object_id="VC-NORR")]
    assert actions == ["catalogue:add-location", "catalogue:deactivate-location"]


def test_an_admin_writes_what_an_outcome_means_and_the_next_step_in_both_languages(
    admin, catalogue, db_session
):
    analysis = db_session.scalar(select(Analysis).where(Analysis.code == "NPU27300"))
    token = admin.token(f"/EP.Admin/analyses/{analysis.id}")
    form = {
        name: getattr(analysis, name) or ""
        for name in "code name_sv name_en unit ref_text about_sv about_en".split()
    }
    form |= {"ref_low": "27", "ref_high": "42"}
    form |= {
        "abnormal_meaning_sv": "Högt blodsocker de senaste månaderna.",
        "abnormal_next_en": "Contact your health centre within a few weeks.",
    }
    assert admin.post(f"/EP.Admin/analyses/{analysis.id}", form, token=token).status_code == 302
    db_session.commit()
    analysis = db_session.get(Analysis, analysis.id)
    assert analysis.guidance("abnormal", "sv")[0] == "Högt blodsocker de senaste månaderna."
    assert (
        analysis.guidance("abnormal", "en")[1] == "Contact your health centre within a few weeks."
    )
    page = admin.get(f"/EP.Admin/analyses/{analysis.id}").text
    assert "Högt blodsocker de senaste månaderna." in page
