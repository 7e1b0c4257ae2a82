"""Shared builders for the health tests."""

from decimal import Decimal
from typing import Any

from health import services
from health.engine import health_recompute
from health.models import AccountHealth, Scorecard


def field(key: str, name: str, bad: Any, good: Any, weight: Any = 1) -> dict:
    return {
        "key": key,
        "label": key,
        "weight": str(weight),
        "source": "field",
        "field": name,
        "bad": str(bad),
        "good": str(good),
    }


def condition(key: str, rule: dict, weight: Any = 1) -> dict:
    return {"key": key, "label": key, "weight": str(weight), "source": "condition", "rule": rule}


def manual(key: str, weight: Any = 1, valid_days: int = 90) -> dict:
    return {
        "key": key,
        "label": key,
        "weight": str(weight),
        "source": "manual",
        "valid_days": valid_days,
    }


def scorecard(name: str = "Default", measures: list[dict] | None = None, **extra: Any) -> Scorecard:
    data = {"name": name, "segment": None, "measures": measures or [], **extra}
    return services.scorecard_create(data=data)


def health_of(account) -> AccountHealth | None:
    return AccountHealth.objects.filter(account=account).first()


def score_of(account) -> int | None:
    row = health_of(account)
    return None if row is None else row.score


def run(**kwargs: Any):
    return health_recompute(**kwargs)


D = Decimal
