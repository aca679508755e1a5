"""SQLite, the zero-setup database: concurrent writers queue for the write lock instead of
failing with "database is locked" (answered as a 503). Write-ahead logging keeps readers off the
writer's way, transactions begin IMMEDIATE so two transactions that read before they write
cannot deadlock, and a busy timeout makes the second writer wait for the first.

The writers run against a database file of their own, with the options the settings give every
SQLite connection (CLOZREMS_SQLITE_OPTIONS), whichever database the rest of the suite uses."""

from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction

WRITERS = 4
ROUNDS = 25


@pytest.fixture
def sqlite_file(tmp_path, settings, django_db_blocker):
    alias = "sqlite_writers"
    config = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(tmp_path / "writers.sqlite3"),
        "OPTIONS": dict(settings.CLOZREMS_SQLITE_OPTIONS),
    }
    configured = connections.configure_settings({"default": dict(config), alias: config})
    connections.settings[alias] = configured[alias]
    with django_db_blocker.unblock():
        with connections[alias].cursor() as cursor:
            cursor.execute("CREATE TABLE tally (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
            cursor.execute("INSERT INTO tally (id, n) VALUES (1, 0)")
        yield alias
        connections[alias].close()
    del connections[alias]
    del connections.settings[alias]


def test_the_settings_give_sqlite_wal_a_busy_timeout_and_immediate_transactions(
    sqlite_file, django_db_blocker
):
    with django_db_blocker.unblock(), connections[sqlite_file].cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 5000
    assert getattr(connections[sqlite_file], "transaction_mode", None) == "IMMEDIATE"


def test_concurrent_read_then_write_transactions_all_commit_and_lose_nothing(
    sqlite_file, django_db_blocker
):
    """Each round every writer starts at once (a barrier), reads the tally and writes it back
    plus one: with deferred transactions two readers deadlock on the upgrade to a write lock
    and one fails; queued behind BEGIN IMMEDIATE, all commit and no increment is lost."""
    barrier = threading.Barrier(WRITERS)
    errors: list[str] = []

    def writer() -> None:
        with django_db_blocker.unblock():
            try:
                for _ in range(ROUNDS):
                    barrier.wait(timeout=30)
                    with transaction.atomic(using=sqlite_file):
                        with connections[sqlite_file].cursor() as cursor:
                            cursor.execute("SELECT n FROM tally WHERE id = 1")
                            (n,) = cursor.fetchone()
                            cursor.execute("UPDATE tally SET n = %s WHERE id = 1", [n + 1])
            except Exception as error:  # reported by the assertion below
                errors.append(repr(error))
                barrier.abort()
            finally:
                connections[sqlite_file].close()
                del connections[sqlite_file]

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[:3]
    with django_db_blocker.unblock(), connections[sqlite_file].cursor() as cursor:
        cursor.execute("SELECT n FROM tally WHERE id = 1")
        assert cursor.fetchone()[0] == WRITERS * ROUNDS
