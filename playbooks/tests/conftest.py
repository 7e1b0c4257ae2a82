import importlib

import pytest
from django.apps import apps as django_apps


@pytest.fixture
def default_windows(db):
    """The T-120 and T-90 windows of the data migration, re-created if a transactional
    test (which flushes tables) ran earlier in the session."""
    from playbooks.models import RenewalWindow

    return [
        RenewalWindow.objects.get_or_create(days=days, defaults={"name": f"T-{days}"})[0]
        for days in (120, 90)
    ]


@pytest.fixture
def default_churn_reasons(db) -> None:
    """The churn reasons migration 0011 creates (a transactional test's flush removes them)."""
    migration = importlib.import_module("playbooks.migrations.0011_one_open_task_per_renewal")
    migration.churn_reasons(django_apps, None)
