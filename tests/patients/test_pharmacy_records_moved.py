"""Pharmacies, dispenses and the pharmacists' reach live in the patients app, below every app that
reads them (docs/architecture.md): their tables keep the names they had in the pharmacy app, their
content types (so the permissions granted on them) follow them, and their admin pages answer at
the former addresses too."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from patients.models import Dispense, PatientReach, Pharmacy

TABLES = {
    Pharmacy: "pharmacy_pharmacy",
    Dispense: "pharmacy_dispense",
    PatientReach: "pharmacy_patientreach",
}

moved_in = importlib.import_module("patients.migrations.0011_pharmacies_and_dispenses_moved_in")


def test_the_models_keep_the_tables_they_had():
    for model, table in TABLES.items():
        assert (model._meta.app_label, model._meta.db_table) == ("patients", table)


def test_the_pharmacy_app_holds_no_model_now():
    assert list(apps.get_app_config("pharmacy").get_models()) == []


@pytest.mark.django_db
def test_the_migration_moves_the_content_types_and_the_permissions_with_them():
    # As a database migrated before the move has them: the content types name the pharmacy app.
    ContentType.objects.filter(app_label="patients", model__in=moved_in.MOVED).update(
        app_label="pharmacy"
    )
    ContentType.objects.clear_cache()
    granted = Permission.objects.get(codename="view_dispense")
    assert granted.content_type.app_label == "pharmacy"

    moved_in.content_types_move(apps, SimpleNamespace(connection=connection))

    ContentType.objects.clear_cache()
    for name in moved_in.MOVED:
        assert ContentType.objects.filter(app_label="patients", model=name).exists(), name
        assert not ContentType.objects.filter(app_label="pharmacy", model=name).exists()
    granted.refresh_from_db()
    assert granted.content_type.app_label == "patients"
    assert ContentType.objects.get_for_model(Dispense) == granted.content_type

    moved_in.content_types_back(apps, SimpleNamespace(connection=connection))
    ContentType.objects.clear_cache()
    granted.refresh_from_db()
    assert granted.content_type.app_label == "pharmacy"


@pytest.mark.django_db
def test_the_pharmacies_admin_answers_at_its_former_address_too(admin_client, pharmacy):
    for address in ("/admin/patients/pharmacy/", "/admin/pharmacy/pharmacy/"):
        page = admin_client.get(address)
        assert page.status_code == 200, address
        assert pharmacy.name in page.content.decode()
    change = admin_client.get(f"/admin/pharmacy/pharmacy/{pharmacy.pk}/change/")
    assert change.status_code == 200
    assert admin_client.get("/admin/pharmacy/dispense/").status_code == 200
