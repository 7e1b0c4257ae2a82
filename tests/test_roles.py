"""The Managers and CSMs groups exist after migrate, with their permissions."""

import pytest
from django.contrib.auth.models import Group

from cs_platform.roles import CSMS, MANAGERS, is_csm, is_manager

pytestmark = pytest.mark.django_db


def codenames(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}


def test_managers_may_change_everything_in_the_product_apps():
    perms = codenames(MANAGERS)
    for model in ("account", "contract", "csmassignment", "attributedefinition", "note"):
        for action in ("view", "add", "change", "delete"):
            assert f"customers.{action}_{model}" in perms
    assert "django_celery_beat.change_periodictask" in perms
    assert "auth.view_user" in perms
    assert "auth.change_user" not in perms


def test_csms_may_view_everything_but_change_only_their_own_work():
    perms = codenames(CSMS)
    assert {"customers.view_account", "customers.view_contract", "customers.add_note"} <= perms
    assert "customers.change_account" not in perms
    assert "customers.change_contract" not in perms
    assert "customers.delete_account" not in perms


def test_role_helpers(manager, csm):
    assert is_manager(manager) and not is_csm(manager)
    assert is_csm(csm) and not is_manager(csm)
