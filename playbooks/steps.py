"""Playbook step kinds: the config each accepts (validated with errors naming the path),
the template context, and the webhook delivery. Planning a step for an account is in
``services.step_planner`` and performing it in ``services.execution``; this module only
validates, renders and talks HTTP.

Step configs (JSON):

- ``create_task``: ``{"title": TEMPLATE, "description": TEMPLATE?, "due_in_days": N?
  (default 7), "assignee": "owner" | USERNAME (default "owner")}``
- ``send_email``: ``{"subject": TEMPLATE, "body": TEMPLATE, "to_owner": bool? (default
  true), "to": [ADDRESS, ...]?}``. There is no contact model: mail goes to the owner CSM
  and/or a fixed list of addresses.
- ``set_lifecycle_stage``: ``{"stage": a value of the lifecycle_stage picklist}``
- ``webhook``: ``{"url": http(s) URL, "secret": TEXT, "timeout_seconds": N? (1-30,
  default 10), "max_attempts": N? (1-10, default 5)}``. The body is signed:
  ``X-CS-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>``.
- ``assign_csm``: ``{"pool": [USERNAME, ...], "strategy": "round_robin" |
  "fewest_accounts" | "least_arr"}``; only acts on accounts without an owner.

Templates use Django's template language on a plain dict context: ``{{ account.name }}``,
``{{ account.arr }}``, ``{{ account.renewal_date }}``, ``{{ account.csm }}``,
``{{ segment.name }}``, ``{{ playbook.name }}``, ``{{ today }}`` (see ``template_context``).
"""

import hashlib
import hmac
import json
from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.template import Context, Engine, TemplateSyntaxError

from customers.models import Account
from customers.picklists import picklist_choices

from . import webhooks
from .models import StepKind
from .webhooks import WebhookResult

STRATEGIES = ("round_robin", "fewest_accounts", "least_arr")
DEFAULT_DUE_IN_DAYS = 7
MAX_DUE_IN_DAYS = 3650
WEBHOOK_DEFAULT_TIMEOUT = 10
WEBHOOK_MAX_TIMEOUT = 30
WEBHOOK_DEFAULT_ATTEMPTS = 5
WEBHOOK_MAX_ATTEMPTS = 10
# Backoff between webhook attempts: 30 s, 60 s, 120 s, ... capped at one hour (below the
# Redis visibility timeout, see settings).
WEBHOOK_BACKOFF_BASE_SECONDS = 30
WEBHOOK_BACKOFF_MAX_SECONDS = 3600
TEMPLATE_MAX_LENGTH = 10_000

_engine = Engine(autoescape=False, debug=False)

_ALLOWED_KEYS = {
    StepKind.CREATE_TASK: {"title", "description", "due_in_days", "assignee"},
    StepKind.SEND_EMAIL: {"subject", "body", "to_owner", "to"},
    StepKind.SET_LIFECYCLE_STAGE: {"stage"},
    StepKind.WEBHOOK: {"url", "secret", "timeout_seconds", "max_attempts"},
    StepKind.ASSIGN_CSM: {"pool", "strategy"},
}


class _Errors:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.messages: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.messages.append(f"{self.prefix}.{key}: {message}")


def _check_template(config: dict, key: str, errors: _Errors, *, required: bool) -> None:
    value = config.get(key)
    if value is None or value == "":
        if required:
            errors.add(key, "this field is required.")
        return
    if not isinstance(value, str):
        errors.add(key, f"expected a text template, got {value!r}.")
        return
    if len(value) > TEMPLATE_MAX_LENGTH:
        errors.add(key, f"too long (more than {TEMPLATE_MAX_LENGTH} characters).")
        return
    try:
        _engine.from_string(value)
    except TemplateSyntaxError as exc:
        errors.add(key, f"invalid template: {exc}")


def _check_int(
    config: dict, key: str, errors: _Errors, *, low: int, high: int, required: bool = False
) -> None:
    if key not in config:
        if required:
            errors.add(key, "this field is required.")
        return
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(key, f"expected a whole number, got {value!r}.")
    elif not low <= value <= high:
        errors.add(key, f"expected a number from {low} to {high}, got {value}.")


def _existing_usernames(usernames: list[str]) -> set[str]:
    user_model = get_user_model()
    return set(
        user_model.objects.filter(username__in=usernames, is_active=True).values_list(
            "username", flat=True
        )
    )


def step_config_validate(kind: str, config: Any, *, path: str = "config") -> dict:
    """Check one step's config; raise ValidationError whose messages name the path
    (e.g. ``steps[1].config.due_in_days: expected a whole number, got "x".``).
    Returns the config with defaults filled in."""
    errors = _Errors(path)
    if kind not in StepKind.values:
        raise ValidationError(
            [
                f"{path.rsplit('.', 1)[0]}.kind: unknown step kind {kind!r}; expected one of "
                f"{', '.join(StepKind.values)}."
            ]
        )
    if not isinstance(config, dict):
        raise ValidationError([f"{path}: expected an object, got {config!r}."])
    for key in sorted(set(config) - _ALLOWED_KEYS[kind]):
        errors.add(key, f"unknown option for {kind}.")
    config = dict(config)
    if kind == StepKind.CREATE_TASK:
        _check_template(config, "title", errors, required=True)
        _check_template(config, "description", errors, required=False)
        _check_int(config, "due_in_days", errors, low=0, high=MAX_DUE_IN_DAYS)
        config.setdefault("due_in_days", DEFAULT_DUE_IN_DAYS)
        assignee = config.setdefault("assignee", "owner")
        if not isinstance(assignee, str) or not assignee:
            errors.add("assignee", f'expected "owner" or a username, got {assignee!r}.')
        elif assignee != "owner" and not _existing_usernames([assignee]):
            errors.add("assignee", f"no active user named {assignee!r}.")
    elif kind == StepKind.SEND_EMAIL:
        _check_template(config, "subject", errors, required=True)
        _check_template(config, "body", errors, required=True)
        to_owner = config.setdefault("to_owner", True)
        if not isinstance(to_owner, bool):
            errors.add("to_owner", f"expected true or false, got {to_owner!r}.")
        to = config.setdefault("to", [])
        if not isinstance(to, list):
            errors.add("to", f"expected a list of email addresses, got {to!r}.")
        else:
            for index, address in enumerate(to):
                try:
                    validate_email(address)
                except (ValidationError, TypeError):
                    errors.add(f"to[{index}]", f"not a valid email address: {address!r}.")
            if to_owner is False and not to:
                errors.add("to", "no recipient: set to_owner or list at least one address.")
    elif kind == StepKind.SET_LIFECYCLE_STAGE:
        stage = config.get("stage")
        stages = picklist_choices("lifecycle_stage")
        if stage not in stages:
            errors.add(
                "stage",
                f"unknown lifecycle stage {stage!r}; expected one of {', '.join(stages)}.",
            )
    elif kind == StepKind.WEBHOOK:
        url = config.get("url")
        try:
            URLValidator(schemes=["http", "https"])(url)
        except (ValidationError, TypeError):
            errors.add("url", f"expected an http(s) URL, got {url!r}.")
        else:
            problem = webhooks.url_address_problem(url)
            if problem:
                errors.add("url", problem)
        secret = config.get("secret")
        if not isinstance(secret, str) or not secret:
            errors.add("secret", "a non-empty signing secret is required.")
        _check_int(config, "timeout_seconds", errors, low=1, high=WEBHOOK_MAX_TIMEOUT)
        _check_int(config, "max_attempts", errors, low=1, high=WEBHOOK_MAX_ATTEMPTS)
        config.setdefault("timeout_seconds", WEBHOOK_DEFAULT_TIMEOUT)
        config.setdefault("max_attempts", WEBHOOK_DEFAULT_ATTEMPTS)
    elif kind == StepKind.ASSIGN_CSM:
        pool = config.get("pool")
        if not isinstance(pool, list) or not pool or not all(isinstance(u, str) for u in pool):
            errors.add("pool", f"expected a non-empty list of usernames, got {pool!r}.")
        else:
            missing = [u for u in pool if u not in _existing_usernames(pool)]
            if missing:
                errors.add("pool", f"no active user named {', '.join(map(repr, missing))}.")
            if len(set(pool)) != len(pool):
                errors.add("pool", "a username is listed twice.")
        strategy = config.get("strategy")
        if strategy not in STRATEGIES:
            errors.add(
                "strategy",
                f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}.",
            )
    if errors.messages:
        raise ValidationError(errors.messages)
    return config


# --- templates --------------------------------------------------------------------------------


def account_context(account: Account) -> dict[str, Any]:
    """The account fields a template may use (a plain dict: templates cannot reach
    related objects or methods)."""
    owner = account.owner
    return {
        "id": account.id,
        "name": account.name,
        "external_id": account.external_id,
        "domain": account.domain or "",
        "industry": account.industry or "",
        "region": account.region or "",
        "country": account.country or "",
        "plan": account.plan or "",
        "lifecycle_stage": account.lifecycle_stage or "",
        "employees": account.employees,
        "health_score": account.health_score,
        "arr": account.arr,
        "mrr": account.mrr,
        "renewal_date": account.renewal_date,
        "open_tickets": account.open_tickets,
        "active_users": account.active_users,
        "licensed_seats": account.licensed_seats,
        "customer_since": account.customer_since,
        "csm": owner.username if owner else "",
        "csm_name": (owner.get_full_name() or owner.username) if owner else "",
        "csm_email": owner.email if owner else "",
    }


def template_context(*, account: Account, playbook: Any, today: date) -> dict[str, Any]:
    segment = playbook.segment
    return {
        "account": account_context(account),
        "playbook": {"id": playbook.id, "name": playbook.name, "trigger": playbook.trigger},
        "segment": {"id": segment.id, "name": segment.name, "slug": segment.slug},
        "today": today,
    }


def render(template: str, context: dict[str, Any]) -> str:
    if not template:
        return ""
    return _engine.from_string(template).render(Context(context)).strip()


# --- webhook ----------------------------------------------------------------------------------


def webhook_signature(secret: str, body: bytes) -> str:
    """The ``X-CS-Signature`` header value for ``body``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_post(
    *, url: str, secret: str, payload: dict, delivery: str, timeout: float
) -> WebhookResult:
    """POST ``payload`` as JSON, signed, under the address policy of ``webhooks``. 2xx: ok.
    5xx and no answer: retryable. Anything else (4xx, redirects): failed for good."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "cs-platform-webhook/1",
        "X-CS-Signature": webhook_signature(secret, body),
        "X-CS-Delivery": delivery,
    }
    return webhooks.deliver(url=url, body=body, headers=headers, timeout=timeout)


def webhook_backoff(attempt: int) -> int:
    """Seconds to wait before attempt ``attempt + 1`` (attempt counts from 1)."""
    return min(WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** (attempt - 1), WEBHOOK_BACKOFF_MAX_SECONDS)
