#!/bin/sh
# Entrypoint of the clozrems image (web, worker and beat).
#
# RUN_MIGRATIONS=1 (the web service in compose.yaml): before the command, bring the schema up to
# date and write the versioned periodic-task schedule into django-celery-beat's tables.
# SEED_DEMO=1 as well: load the demo users and patients (their password is public: never on real
# data).
set -eu

if [ "${RUN_MIGRATIONS:-0}" = "1" ]; then
    python manage.py migrate --noinput
    python manage.py sync_periodic_tasks
    if [ "${SEED_DEMO:-0}" = "1" ]; then
        python manage.py seed_demo
    fi
fi

exec "$@"
