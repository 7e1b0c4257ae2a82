"""JSON typed into forms (the admin's JSON fields, the in-app rule editor, the periodic
tasks' arguments) under the nesting bound of ``cs_platform.json_limits``: a form error
that says so instead of a RecursionError (Django's JSON field only catches decoding
errors, in ``to_python`` and again when it redisplays the input)."""

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django_celery_beat.admin import PeriodicTaskForm
from django_celery_beat.models import PeriodicTask

from .json_limits import DepthLimitedDecoder, JSONTooDeep, text_depth_check


def json_depth_error(text: Any) -> ValidationError | None:
    """The form error for JSON ``text`` nested too deeply, or None."""
    if not isinstance(text, str | bytes):
        return None
    try:
        text_depth_check(text)
    except JSONTooDeep as exc:
        return ValidationError(f"Enter valid JSON: {exc}.", code="too_deep")
    return None


class BoundedJSONFormField(forms.JSONField):
    """Django's JSON form field, refusing input nested past the bound."""

    def __init__(self, *, decoder: Any = None, **kwargs: Any) -> None:
        super().__init__(decoder=decoder or DepthLimitedDecoder, **kwargs)

    def to_python(self, value: Any) -> Any:
        if not self.disabled and (error := json_depth_error(value)):
            raise error
        return super().to_python(value)


class BoundedJSONAdminMixin:
    """Put before ``admin.ModelAdmin`` (or an inline) whose model has JSON fields."""

    formfield_overrides = {models.JSONField: {"form_class": BoundedJSONFormField}}


class BoundedPeriodicTaskForm(PeriodicTaskForm):
    """django-celery-beat's form, whose JSON arguments get the same bound."""

    def _clean_json(self, field: str) -> Any:
        if error := json_depth_error(self.cleaned_data.get(field)):
            raise error
        return super()._clean_json(field)


def periodic_task_admin_bound(site: admin.AdminSite) -> None:
    """Give the periodic tasks' admin page (django-celery-beat's) the bounded form."""
    if PeriodicTask not in site._registry:
        return
    registered = type(site._registry[PeriodicTask])
    site.unregister(PeriodicTask)
    site.register(
        PeriodicTask,
        type(registered.__name__, (registered,), {"form": BoundedPeriodicTaskForm}),
    )
