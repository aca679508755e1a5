"""GET /api/v1/notifications/ (the caller's in-app reminders as delivered, newest first,
paginated, `?unread=true`; reminders that wait for a digest are in tests/scheduler/
test_digests.py) and POST /api/v1/notifications/{id}/read/; someone else's reminder is 404
(docs/api.md: never reveal a record the caller may not see)."""

from datetime import date, timedelta

import pytest

from notifications.models import Channel, Kind, Notification
from notifications.services import Occasion, Recipient, notifications_create
from tests.conftest import NOW

URL = "/api/v1/notifications/"


def tell(
    users,
    *,
    kind=Kind.CONFIRMATION_REQUESTED,
    subject_key="patient:1",
    key_date=date(2026, 5, 20),
    n=0,
):
    occasion = Occasion(
        kind, subject_key, key_date, f"{kind} #{n}", f"body of {kind} #{n}", occurrence=n
    )
    notifications_create(occasions=[(occasion, [Recipient(u.pk, u.email) for u in users])])


def in_app(user, **filters):
    return Notification.objects.filter(recipient=user, channel=Channel.IN_APP, **filters)


@pytest.fixture
def inbox(clock, alice, designee):
    """Alice: three in-app reminders (and their e-mail twins); her designee: one of its own."""
    for n in range(3):
        clock.move_to(NOW + timedelta(minutes=n))
        tell([alice], n=n)
    tell([designee], kind=Kind.CONSULT_NEEDED, n=9)
    return list(in_app(alice).order_by("-created_at", "-id"))


def test_the_list_holds_only_the_callers_in_app_reminders_newest_first(api, inbox, alice):
    assert Notification.objects.filter(recipient=alice, channel=Channel.EMAIL).count() == 3

    response = api(alice).get(URL)

    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 3
    assert [item["id"] for item in data["results"]] == [n.pk for n in inbox]
    assert [item["subject"] for item in data["results"]] == [
        "confirmation_requested #2",
        "confirmation_requested #1",
        "confirmation_requested #0",
    ]
    first = data["results"][0]
    assert {"id", "kind", "urgent", "patient", "subject", "body", "key_date", "read_at"} <= set(
        first
    )
    assert first["kind"] == "confirmation_requested"
    assert first["read_at"] is None


def test_the_list_is_paginated(api, clock, alice):
    for n in range(55):
        tell([alice], n=n)

    page_one = api(alice).get(URL).json()
    page_two = api(alice).get(URL, {"page": 2}).json()

    assert page_one["count"] == 55
    assert len(page_one["results"]) == 50
    assert page_one["next"] and page_one["previous"] is None
    assert len(page_two["results"]) == 5
    ids = {item["id"] for item in page_one["results"] + page_two["results"]}
    assert ids == set(in_app(alice).values_list("pk", flat=True))


def test_marking_a_reminder_read_sets_read_at_once(api, clock, inbox, alice):
    target = inbox[1]

    response = api(alice).post(f"{URL}{target.pk}/read/")

    assert response.status_code == 200
    assert response.json()["id"] == target.pk
    target.refresh_from_db()
    assert target.read_at == NOW + timedelta(minutes=2)

    clock.shift(timedelta(hours=1))
    again = api(alice).post(f"{URL}{target.pk}/read/")
    assert again.status_code == 200
    target.refresh_from_db()
    assert target.read_at == NOW + timedelta(minutes=2), "the first reading is kept"


def test_the_unread_filter(api, inbox, alice):
    api(alice).post(f"{URL}{inbox[0].pk}/read/")

    unread = api(alice).get(URL, {"unread": "true"}).json()
    read = api(alice).get(URL, {"unread": "false"}).json()

    assert [item["id"] for item in unread["results"]] == [inbox[1].pk, inbox[2].pk]
    assert [item["id"] for item in read["results"]] == [inbox[0].pk]
    assert read["results"][0]["read_at"] is not None


def test_the_kind_filter(api, clock, alice):
    tell([alice], kind=Kind.CONSULT_NEEDED)
    tell([alice], kind=Kind.LAPSE_WARNING)

    data = api(alice).get(URL, {"kind": "lapse_warning"}).json()

    assert [item["kind"] for item in data["results"]] == ["lapse_warning"]


def test_another_users_reminder_is_404_and_stays_unread(api, inbox, designee, alice):
    theirs = in_app(designee).get()

    assert api(alice).get(f"{URL}{theirs.pk}/").status_code == 404
    assert api(alice).post(f"{URL}{theirs.pk}/read/").status_code == 404

    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_an_email_row_addressed_to_the_caller_is_not_in_its_in_app_list(api, inbox, alice):
    email = Notification.objects.filter(recipient=alice, channel=Channel.EMAIL)[0]

    assert api(alice).get(f"{URL}{email.pk}/").status_code == 404


def test_anonymous_is_401(api, inbox):
    assert api().get(URL).status_code == 401
    assert api().post(f"{URL}{inbox[0].pk}/read/").status_code == 401


@pytest.mark.parametrize("persona", ["alice", "designee", "phil", "aud", "admin", "root"])
def test_every_role_reads_its_own_reminders(api, clock, persona, request):
    user = request.getfixturevalue(persona)
    tell([user])

    response = api(user).get(URL)

    assert response.status_code == 200
    assert response.json()["count"] == 1
