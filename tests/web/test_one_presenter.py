"""The counter page and the API show a decision through one presenter
(pharmacy.presenters.decision_body): for the same patient, pharmacy and instant, the page's
decision is the API's answer, field for field, for an allowed and for a blocked patient."""

import pytest


@pytest.mark.parametrize("which", ["allowed_patient", "stale_patient"])
def test_the_counter_page_shows_the_apis_decision(which, request, client, api, phil, pharmacy):
    patient = request.getfixturevalue(which)
    client.force_login(phil)
    client.get(
        "/counter/", {"last_name": patient.last_name, "date_of_birth": patient.date_of_birth}
    )

    page = client.get(f"/counter/patients/{patient.pk}/")
    answer = api(phil).get(f"/api/v1/patients/{patient.pk}/eligibility/")

    assert page.status_code == 200 and answer.status_code == 200
    shown = page.context["decision"]
    assert shown == answer.json()
    # Both decisions are real ones: the blocked patient is offered the emergency supply.
    if which == "stale_patient":
        assert shown["decision"] == "blocked" and shown["emergency_supply"]["available"]
    else:
        assert shown["decision"] == "allowed"
