"""GET /health/ (docs/api.md, Operations)."""


def test_health_is_200_when_the_database_answers(api, db, settings):
    settings.REDIS_URL = ""

    response = api().get("/health/")

    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.json()["status"] == "ok"


def test_health_needs_no_credentials_and_reveals_no_data(api, db, settings):
    settings.REDIS_URL = ""

    body = api().get("/health/").json()

    assert set(body) == {"status", "database", "broker"}


def test_health_is_503_when_the_database_does_not_answer(api, db, settings, monkeypatch):
    from django.db import OperationalError, connections

    settings.REDIS_URL = ""

    def broken(self, *args, **kwargs):
        raise OperationalError("the database is down")

    client = api()
    with monkeypatch.context() as patch:
        patch.setattr(type(connections["default"]), "cursor", broken)
        response = client.get("/health/")

    assert response.status_code == 503
    assert response.json()["database"] == "error: OperationalError"
    assert response.json()["status"] == "unavailable"
