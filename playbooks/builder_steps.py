"""The playbook builder's steps as forms: for each step kind, the fields a manager fills in
(with labels, help and the template variables a text can use), read from a POST into the
``{"kind", "config"}`` specs that ``services.playbook_steps_validate`` checks, and the
service's path-naming errors (``steps[1].config.title: …``) put back beside their field.
"""

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q

from cs_platform.roles import CSMS, MANAGERS
from customers.models import Account
from customers.picklists import picklist_choices
from segments.models import Segment

from . import steps
from .models import Playbook, StepKind

# (key, label, widget, help); widgets: text, template, long_template, int, bool, list,
# assignee, stage, users, strategy, url, secret.
KIND_FIELDS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    StepKind.CREATE_TASK: (
        ("title", "Task title", "template", "Required."),
        ("description", "Description", "long_template", ""),
        ("due_in_days", "Due in (days)", "int", f"Default {steps.DEFAULT_DUE_IN_DAYS}."),
        ("assignee", "Assign to", "assignee", "The account's owner, or one person."),
    ),
    StepKind.SEND_EMAIL: (
        ("subject", "Subject", "template", "Required."),
        ("body", "Body", "long_template", "Required."),
        ("to_owner", "Send to the owner CSM", "bool", ""),
        ("to", "Also to (addresses)", "list", "Comma-separated e-mail addresses."),
    ),
    StepKind.SET_LIFECYCLE_STAGE: (("stage", "New lifecycle stage", "stage", ""),),
    StepKind.WEBHOOK: (
        ("url", "URL", "url", "POSTed as JSON, signed with HMAC-SHA256 (X-CS-Signature)."),
        ("secret", "Signing secret", "secret", "Required."),
        ("timeout_seconds", "Timeout (seconds)", "int", f"1 to {steps.WEBHOOK_MAX_TIMEOUT}."),
        ("max_attempts", "Attempts", "int", f"1 to {steps.WEBHOOK_MAX_ATTEMPTS}, with backoff."),
    ),
    StepKind.ASSIGN_CSM: (
        ("pool", "Pool of CSMs", "users", "Only accounts without an owner get one."),
        ("strategy", "How to pick", "strategy", ""),
    ),
}
STRATEGY_LABELS = {
    "round_robin": "Round robin",
    "fewest_accounts": "Fewest accounts",
    "least_arr": "Least ARR",
}
# Widgets whose value is sent even when empty: the validation then names what is missing.
ALWAYS_SENT = ("bool", "users", "template", "url", "secret", "stage")
ERROR_PATH = re.compile(r"^steps\[(?P<index>\d+)\]\.(?:config\.(?P<key>\w+)|kind)\S*: (?P<msg>.+)$")


def template_variables() -> list[str]:
    """Every ``{{ … }}`` a step's text may use (``steps.template_context``'s keys)."""
    context = steps.template_context(
        account=Account(), playbook=Playbook(segment=Segment()), today=date.today()
    )
    names = []
    for key, value in context.items():
        if isinstance(value, dict):
            names.extend(f"{key}.{inner}" for inner in value)
        else:
            names.append(key)
    return names


def people() -> list[tuple[str, str]]:
    users = (
        get_user_model()
        .objects.filter(Q(groups__name=CSMS) | Q(groups__name=MANAGERS), is_active=True)
        .distinct()
        .order_by("username")
    )
    return [(u.username, u.get_full_name() or u.username) for u in users]


@dataclass
class StepForm:
    index: int
    kind: str
    values: dict[str, Any]
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kind_label(self) -> str:
        return StepKind(self.kind).label if self.kind in StepKind.values else self.kind

    def fields(self) -> list[dict[str, Any]]:
        """The step's fields, ready for the template (value, choices, errors)."""
        shown = []
        for key, label, widget, help_text in KIND_FIELDS.get(self.kind, ()):
            item = {
                "key": key,
                "name": f"step-{self.index}-{key}",
                "label": label,
                "widget": widget,
                "help": help_text,
                "value": self.values.get(key, ""),
                "errors": self.errors.get(key, []),
            }
            if widget == "assignee":
                item["choices"] = [("owner", "The account's owner CSM"), *people()]
            elif widget == "users":
                item["choices"] = people()
            elif widget == "stage":
                item["choices"] = [(v, v) for v in picklist_choices("lifecycle_stage")]
            elif widget == "strategy":
                item["choices"] = list(STRATEGY_LABELS.items())
            shown.append(item)
        return shown


def step_forms_from_config(step_list: list[Any]) -> list[StepForm]:
    """The forms of saved steps (``PlaybookStep`` rows)."""
    forms = []
    for index, step in enumerate(step_list):
        values = dict(step.config)
        if isinstance(values.get("to"), list):
            values["to"] = ", ".join(values["to"])
        forms.append(StepForm(index=index, kind=step.kind, values=values))
    return forms


def step_forms_from_post(post: Any) -> list[StepForm]:
    """The steps as posted: ``steps`` lists the step indexes in order, and each step's
    fields are ``step-<index>-<key>``."""
    forms = []
    for position, raw in enumerate(post.getlist("steps")):
        if not raw.isdigit():
            continue
        kind = post.get(f"step-{raw}-kind", "")
        values: dict[str, Any] = {}
        for key, _label, widget, _help in KIND_FIELDS.get(kind, ()):
            name = f"step-{raw}-{key}"
            if widget == "users":
                values[key] = post.getlist(name)
            elif widget == "bool":
                values[key] = post.get(name) == "on"
            else:
                values[key] = post.get(name, "").strip()
        forms.append(StepForm(index=position, kind=kind, values=values))
    return forms


def step_specs(forms: list[StepForm]) -> list[dict[str, Any]]:
    """The ``{"kind", "config"}`` specs of the forms, typed as the step validation expects
    (numbers as numbers, address lists as lists); empty optional fields are left out so
    that their defaults apply."""
    specs = []
    for form in forms:
        config: dict[str, Any] = {}
        for key, _label, widget, _help in KIND_FIELDS.get(form.kind, ()):
            value = form.values.get(key)
            if widget == "int":
                if value in ("", None):
                    continue
                config[key] = int(value) if str(value).lstrip("-").isdigit() else value
            elif widget == "list":
                config[key] = [part.strip() for part in str(value or "").split(",") if part.strip()]
            elif value not in ("", None) or widget in ALWAYS_SENT:
                config[key] = value
        specs.append({"kind": form.kind, "config": config})
    return specs


def errors_to_forms(messages: list[str], forms: list[StepForm]) -> list[str]:
    """Put each ``steps[i].config.key: message`` beside its field; return the others."""
    left = []
    for message in messages:
        match = ERROR_PATH.match(message)
        if match and int(match["index"]) < len(forms):
            key = match["key"] or "kind"
            forms[int(match["index"])].errors.setdefault(key, []).append(match["msg"])
        else:
            left.append(message)
    return left
