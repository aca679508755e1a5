"""`review_needed` on the pages (docs/rules.md §9.1): a result filed late that conflicts with a
recorded act is flagged in the clinic worklist and at the top of the patient page, with the
conflicts named; the prescriber acknowledges them there, and the flag clears."""

from datetime import timedelta

import pytest

from monitoring.models import ReviewAcknowledgement
from tests.monitoring.test_real_histories import D0, at, clinic, started  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def flagged(clinic):  # noqa: F811 - the imported fixture
    c = started(clinic)
    # The day before the start's 800 is filed three days late: the start conflicts with it.
    c.now(at(D0 + timedelta(days=3), 10)).result(800, at(D0 - timedelta(days=1)))
    assert c.decision()["review_needed"]
    return c


def test_the_worklist_flags_the_patient_for_review(client, alice, flagged):
    client.force_login(alice)
    html = client.get("/clinic/").content.decode()
    assert f'data-testid="review-{flagged.patient.pk}"' in html
    assert "review needed" in html


def test_the_patient_page_names_the_conflicts_at_the_top_and_the_prescriber_acknowledges(
    client, alice, flagged
):
    client.force_login(alice)
    url = f"/clinic/patients/{flagged.patient.pk}/"
    html = client.get(url).content.decode()
    assert html.index('data-testid="attention"') < html.index('id="chart-h"')
    # the review_needed warning, then each of the two conflicts
    assert html.count('<li data-code="review_needed">') == 3
    assert "I have reviewed these" in html

    response = client.post(f"{url}review/", {"note": "checked with the lab"})

    assert response.status_code == 302
    ack = ReviewAcknowledgement.objects.get(patient=flagged.patient)
    assert ack.note == "checked with the lab"
    html = client.get(url).content.decode()
    assert '<li data-code="review_needed">' not in html
    assert (
        f'data-testid="review-{flagged.patient.pk}"' not in client.get("/clinic/").content.decode()
    )


def test_a_designee_sees_the_conflicts_but_may_not_acknowledge(client, designee, flagged):
    client.force_login(designee)
    url = f"/clinic/patients/{flagged.patient.pk}/"
    html = client.get(url).content.decode()
    # the review_needed warning, then each of the two conflicts
    assert html.count('<li data-code="review_needed">') == 3
    assert "I have reviewed these" not in html
    assert client.post(f"{url}review/", {"note": "x"}).status_code == 403
    assert not ReviewAcknowledgement.objects.exists()


def test_nothing_to_review_is_a_clear_refusal_that_writes_nothing(client, alice, clinic):  # noqa: F811
    c = started(clinic)
    client.force_login(alice)
    response = client.post(f"/clinic/patients/{c.patient.pk}/review/", {"note": "x"})
    assert response.status_code == 422
    assert "is waiting for a review" in response.content.decode()
    assert not ReviewAcknowledgement.objects.exists()
