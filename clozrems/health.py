"""GET /health/: 200 when the database (and the broker, when configured) answer, else 503."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as error:  # any driver error means "not answering"
        return f"error: {error.__class__.__name__}"


def _broker() -> str:
    if not settings.BROKER_URL:
        return "not configured (tasks run eagerly)"
    try:
        if settings.BROKER_URL.startswith("redis"):
            import redis

            client = redis.Redis.from_url(
                settings.BROKER_URL, socket_timeout=2, socket_connect_timeout=2
            )
            client.ping()
        else:
            from kombu import Connection

            with Connection(settings.BROKER_URL, connect_timeout=2) as broker:
                broker.ensure_connection(max_retries=1)
        return "ok"
    except Exception as error:
        return f"error: {error.__class__.__name__}"


def health(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database(), "broker": _broker()}
    healthy = all(v == "ok" or v.startswith("not configured") for v in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )
