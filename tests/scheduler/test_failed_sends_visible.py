"""Failed sends are visible: an administrator finds them, with their error, in the admin."""

from datetime import date

from notifications.models import Channel, Kind, Notification, Status


def test_an_administrator_sees_failed_sends_and_their_last_error(client, root):
    Notification.objects.create(
        kind=Kind.DRAW_OVERDUE,
        channel=Channel.EMAIL,
        recipient_key="email:dr@example.org",
        address="dr@example.org",
        subject_key="patient:1",
        key_date=date(2026, 5, 20),
        subject="overdue",
        body="overdue",
        status=Status.FAILED,
        attempts=6,
        last_error="SMTPServerDisconnected: connection unexpectedly closed",
    )
    client.force_login(root)

    page = client.get("/admin/notifications/notification/?status__exact=failed")

    assert page.status_code == 200
    assert b"SMTPServerDisconnected: connection unexpectedly closed" in page.content


def test_the_failed_sends_page_is_closed_to_a_prescriber(client, alice):
    client.force_login(alice)

    page = client.get("/admin/notifications/notification/?status__exact=failed")

    assert page.status_code == 302  # to the admin login: not staff
