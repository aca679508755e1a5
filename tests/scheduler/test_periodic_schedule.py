"""The periodic tasks are declared in code (notifications.schedule.PERIODIC_TASKS), each under a
stable key, and written into django-celery-beat's tables on every migrate and by `manage.py
sync_periodic_tasks`: a task never written is created, edits made in production are kept (a
rename included: the row stays linked to its key, so nothing is doubled), a task an
administrator deleted stays deleted, and `--reset` restores the code's definition."""

import json
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from clozrems.celery import app
from monitoring.reminders import SCANS
from notifications.models import ScheduledTask
from notifications.schedule import PERIODIC_TASKS

pytestmark = pytest.mark.django_db

DRAWS = next(p for p in PERIODIC_TASKS if p.args == ("draws",))


def sync(*args):
    out = StringIO()
    call_command("sync_periodic_tasks", *args, stdout=out)
    return out.getvalue()


def declared(periodic):
    return ScheduledTask.objects.get(key=periodic.key).periodic_task


def assert_matches_the_code(periodic):
    task = declared(periodic)
    assert task.name == periodic.name
    assert task.task == periodic.task
    assert json.loads(task.args) == list(periodic.args)
    assert task.enabled
    if periodic.every_minutes is not None:
        assert task.crontab is None
        assert (task.interval.every, task.interval.period) == (
            periodic.every_minutes,
            IntervalSchedule.MINUTES,
        )
    else:
        assert task.interval is None
        crontab = task.crontab
        assert (crontab.minute, crontab.hour) == (str(periodic.at_minute), str(periodic.at_hour))
        assert (crontab.day_of_week, crontab.day_of_month, crontab.month_of_year) == ("*",) * 3
        assert str(crontab.timezone) == settings.TIME_ZONE


def test_the_test_database_migrated_with_every_declared_periodic_task():
    for periodic in PERIODIC_TASKS:
        assert_matches_the_code(periodic)


def test_migrate_creates_the_periodic_tasks_on_a_database_that_lacks_them():
    """A fresh database: neither beat rows nor links."""
    ScheduledTask.objects.all().delete()
    PeriodicTask.objects.all().delete()

    call_command("migrate", verbosity=0, interactive=False)

    assert PeriodicTask.objects.filter(name__in=[p.name for p in PERIODIC_TASKS]).count() == len(
        PERIODIC_TASKS
    )
    for periodic in PERIODIC_TASKS:
        assert_matches_the_code(periodic)


def test_rows_written_before_keys_existed_are_adopted_not_doubled():
    """An existing deployment: beat rows by name (one already renamed), no links yet."""
    ScheduledTask.objects.all().delete()
    PeriodicTask.objects.filter(name=DRAWS.name).update(name="morning draws (ours)")
    before = PeriodicTask.objects.count()

    call_command("migrate", verbosity=0, interactive=False)

    assert PeriodicTask.objects.count() == before
    assert declared(DRAWS).name == "morning draws (ours)"
    assert ScheduledTask.objects.count() == len(PERIODIC_TASKS)


def test_a_task_renamed_in_the_admin_is_not_doubled_by_migrate(admin_client):
    task = declared(DRAWS)
    form = admin_client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    assert form.status_code == 200
    task.name = "draws at seven (renamed)"
    task.save()  # what the admin's change form saves
    before = PeriodicTask.objects.count()

    call_command("migrate", verbosity=0, interactive=False)
    sync()

    assert PeriodicTask.objects.count() == before
    assert not PeriodicTask.objects.filter(name=DRAWS.name).exists()
    assert PeriodicTask.objects.filter(task=DRAWS.task, args='["draws"]').count() == 1
    assert declared(DRAWS).name == "draws at seven (renamed)"


def test_a_task_deleted_in_the_admin_stays_deleted_through_migrate(admin_client):
    task = declared(DRAWS)
    response = admin_client.post(
        f"/admin/django_celery_beat/periodictask/{task.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()

    call_command("migrate", verbosity=0, interactive=False)
    output = sync()

    assert not PeriodicTask.objects.filter(task=DRAWS.task, args='["draws"]').exists()
    assert f"left deleted {DRAWS.name}" in output
    assert "0 periodic task(s) changed" in output
    assert ScheduledTask.objects.get(key=DRAWS.key).periodic_task is None


def test_reset_brings_a_deleted_task_back():
    declared(DRAWS).delete()

    output = sync("--reset")

    assert f"recreated {DRAWS.name}" in output
    assert_matches_the_code(DRAWS)


def test_the_declared_tasks_are_registered_and_name_known_scans():
    app.loader.import_default_modules()  # what a worker does at start: autodiscover the tasks
    for periodic in PERIODIC_TASKS:
        assert periodic.task in app.tasks, periodic.task
        if periodic.task == "monitoring.tasks.scan":
            assert periodic.args[0] in SCANS
    kinds = {p.args[0] for p in PERIODIC_TASKS if p.task == "monitoring.tasks.scan"}
    assert kinds == set(SCANS), "every scan is scheduled"
    assert {p.task for p in PERIODIC_TASKS} >= {
        "monitoring.tasks.scan_expiries",
        "notifications.tasks.deliver_pending",
    }


def test_syncing_twice_creates_no_duplicates():
    counts = (
        PeriodicTask.objects.count(),
        CrontabSchedule.objects.count(),
        IntervalSchedule.objects.count(),
    )

    assert "0 periodic task(s) changed" in sync()
    assert "0 periodic task(s) changed" in sync()

    assert (
        PeriodicTask.objects.count(),
        CrontabSchedule.objects.count(),
        IntervalSchedule.objects.count(),
    ) == counts
    for periodic in PERIODIC_TASKS:
        assert PeriodicTask.objects.filter(name=periodic.name).count() == 1


@pytest.fixture
def edited_in_production():
    """An operator disabled the draws scan and moved it to 09:15."""
    task = declared(DRAWS)
    task.enabled = False
    task.crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="15",
        hour="9",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    task.save()
    return task


def test_a_plain_sync_keeps_an_edited_task(edited_in_production):
    sync()
    sync()

    task = declared(DRAWS)
    assert not task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("9", "15")


def test_reset_restores_the_code_definition(edited_in_production):
    output = sync("--reset")

    assert f"reset {DRAWS.name}" in output
    assert_matches_the_code(DRAWS)
    for periodic in PERIODIC_TASKS:
        assert PeriodicTask.objects.filter(name=periodic.name).count() == 1


def test_a_task_not_declared_in_code_is_left_alone():
    PeriodicTask.objects.create(
        name="operator's own task",
        task="notifications.tasks.deliver_pending",
        interval=IntervalSchedule.objects.get_or_create(every=30, period="minutes")[0],
    )

    sync("--reset")

    assert PeriodicTask.objects.filter(name="operator's own task").exists()
