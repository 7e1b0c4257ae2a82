"""The two roles of the product, kept as Django groups (created by a data migration)."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission

MANAGERS = "Managers"
CSMS = "CSMs"


def is_manager(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_cs_is_manager", None)
    if cached is None:
        cached = user.groups.filter(name=MANAGERS).exists()
        user._cs_is_manager = cached
    return cached


def is_csm(user: AbstractBaseUser | AnonymousUser) -> bool:
    return user.is_authenticated and user.groups.filter(name=CSMS).exists()


def can_work_account(user: AbstractBaseUser | AnonymousUser, account: Any) -> bool:
    """CSMs change only their own book (notes, touchpoints, tasks); managers everything.
    ``account`` is anything with an ``owner_id`` (an ``Account``, or one read ``only``
    its id and owner)."""
    return is_manager(user) or (account.owner_id is not None and account.owner_id == user.pk)


# Apps whose models managers may change in full; CSMs may view them all.
MANAGED_APPS = ("customers", "segments", "health", "playbooks", "django_celery_beat")
# The login protection's records (django-axes): managers see lockouts and unlock an account
# or address by deleting its access attempts.
MANAGER_LOGIN_PROTECTION_CODENAMES = (
    "view_accessattempt",
    "delete_accessattempt",
    "view_accesslog",
    "view_accessfailurelog",
)
# What a CSM may change beyond viewing; object-level checks (own book only) live in code.
CSM_CODENAMES = ("add_note", "change_note", "change_task", "add_task")


def roles_sync_permissions(**kwargs: object) -> None:
    """Give the role groups their model permissions (idempotent; run after every migrate,
    once the permissions of every app exist)."""
    managers, _ = Group.objects.get_or_create(name=MANAGERS)
    csms, _ = Group.objects.get_or_create(name=CSMS)
    in_apps = Permission.objects.filter(content_type__app_label__in=MANAGED_APPS)
    managers.permissions.add(
        *in_apps,
        *Permission.objects.filter(content_type__app_label="auth", codename="view_user"),
        *Permission.objects.filter(
            content_type__app_label="axes", codename__in=MANAGER_LOGIN_PROTECTION_CODENAMES
        ),
    )
    csms.permissions.add(
        *in_apps.filter(codename__startswith="view_"), *in_apps.filter(codename__in=CSM_CODENAMES)
    )
