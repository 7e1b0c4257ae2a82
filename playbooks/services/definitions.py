"""Writes of playbook definitions: a playbook's fields, its ordered steps (validated by
``playbooks.steps``), activation and deactivation. Activating asks for the membership
events to be processed (``triggers.playbooks_request_processing``)."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .. import steps
from ..models import Playbook, PlaybookActivation, PlaybookStep, PlaybookTrigger
from .triggers import playbooks_request_processing

PLAYBOOK_FIELDS = (
    "name",
    "description",
    "segment",
    "trigger",
    "is_active",
    "stable_days",
    "reentry_cooldown_days",
    "on_activation",
    "fallback_assignee",
)


def playbook_steps_validate(step_specs: Any) -> list[dict]:
    """Validate a list of ``{"kind", "config"}`` (order = position); errors name the path,
    e.g. ``steps[1].config.url: ...``."""
    if not isinstance(step_specs, list):
        raise ValidationError({"steps": ["Expected a list of steps."]})
    cleaned, messages = [], []
    for index, spec in enumerate(step_specs):
        if not isinstance(spec, dict):
            messages.append(f"steps[{index}]: expected an object with kind and config.")
            continue
        try:
            config = steps.step_config_validate(
                spec.get("kind"), spec.get("config", {}), path=f"steps[{index}].config"
            )
        except ValidationError as exc:
            messages.extend(exc.messages)
            continue
        cleaned.append({"kind": spec["kind"], "config": config})
    if messages:
        raise ValidationError({"steps": messages})
    return cleaned


def _playbook_check(playbook: Playbook) -> None:
    playbook.full_clean()
    if (
        playbook.trigger == PlaybookTrigger.ON_EXIT
        and playbook.on_activation == PlaybookActivation.RUN_FOR_CURRENT_MEMBERS
    ):
        raise ValidationError(
            {"on_activation": ["An on_exit playbook cannot run for the current members."]}
        )


@transaction.atomic
def playbook_set_steps(*, playbook: Playbook, steps_data: list[dict]) -> list[PlaybookStep]:
    """Replace the playbook's steps with ``steps_data`` (validated; order = position)."""
    cleaned = playbook_steps_validate(steps_data)
    playbook.steps.all().delete()
    return PlaybookStep.objects.bulk_create(
        [
            PlaybookStep(playbook=playbook, order=index + 1, kind=s["kind"], config=s["config"])
            for index, s in enumerate(cleaned)
        ]
    )


@transaction.atomic
def playbook_create(*, steps: list[dict] | None = None, by: Any = None, **data: Any) -> Playbook:
    """Create a playbook (fields of PLAYBOOK_FIELDS) with its ordered steps
    (``[{"kind": ..., "config": {...}}, ...]``). Created active, it is activated now."""
    unknown = sorted(set(data) - set(PLAYBOOK_FIELDS))
    if unknown:
        raise ValidationError({name: ["Unknown or read-only field."] for name in unknown})
    playbook = Playbook(**data, created_by=by)
    if playbook.is_active:
        playbook.activated_at = timezone.now()
    _playbook_check(playbook)
    cleaned = playbook_steps_validate(steps or [])
    playbook.save()
    playbook_set_steps(playbook=playbook, steps_data=cleaned)
    if playbook.is_active:
        playbooks_request_processing(segment_id=playbook.segment_id)
    return playbook


@transaction.atomic
def playbook_update(
    *, playbook: Playbook, data: dict[str, Any], steps: list[dict] | None = None
) -> Playbook:
    """Change a playbook's fields (and replace its steps when ``steps`` is given).
    Switching ``is_active`` on (re)activates it: ``activated_at`` becomes now."""
    unknown = sorted(set(data) - set(PLAYBOOK_FIELDS))
    if unknown:
        raise ValidationError({name: ["Unknown or read-only field."] for name in unknown})
    was_active = Playbook.objects.filter(pk=playbook.pk).values_list("is_active", flat=True).get()
    for name, value in data.items():
        setattr(playbook, name, value)
    fields = list(data)
    if playbook.is_active and not was_active:
        playbook.activated_at = timezone.now()
        fields.append("activated_at")
    _playbook_check(playbook)
    if fields:
        playbook.save(update_fields=[*fields, "updated_at"])
    if steps is not None:
        playbook_set_steps(playbook=playbook, steps_data=steps)
    if playbook.is_active and "activated_at" in fields:
        playbooks_request_processing(segment_id=playbook.segment_id)
    return playbook


def playbook_activate(*, playbook: Playbook, on_activation: str | None = None) -> Playbook:
    data: dict[str, Any] = {"is_active": True}
    if on_activation:
        data["on_activation"] = on_activation
    return playbook_update(playbook=playbook, data=data)


def playbook_deactivate(*, playbook: Playbook) -> Playbook:
    return playbook_update(playbook=playbook, data={"is_active": False})
