"""Celery application for clozrems.

Configuration comes from Django settings (the ``CELERY_`` prefixed names); tasks are found in
each installed app's ``tasks`` module.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clozrems.settings")

app = Celery("clozrems")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
