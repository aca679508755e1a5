"""Project-wide pytest configuration."""

import os

import pytest


def pytest_report_header(config: pytest.Config) -> list[str]:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        database = "postgresql"
    elif "sqlite" in engine:
        database = "sqlite"
    else:
        database = engine
    redis = "set" if os.environ.get("REDIS_URL") else "not set (Celery eager)"
    return [f"clozrems: database={database}, REDIS_URL {redis}"]
