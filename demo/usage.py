"""Demo product usage: the demo metrics and ~120 days of daily usage for each demo account,
in shapes a CS team recognises — steady, growing, declining, dormant and seasonal — with
weekends quieter than weekdays.

A shape follows from the account (churned accounts went dormant, at-risk ones are mostly
declining, young ones growing); its level from the account's active users. One
``random.Random`` (its own, so the accounts' data is the same with or without usage)
drives everything in order: the same seed and "today" give the same rows. Days with a 0
value get no row (a day without a row counts as 0).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from customers.models import LifecycleStage, Plan
from usage.models import MetricKind, UsageMetric

USAGE_DAYS = 120

# (key, label, unit, kind, daily value per active user on a weekday at level 1)
METRICS: tuple[tuple[str, str, str, str, float], ...] = (
    ("logins", "Logins", "logins", MetricKind.COUNT, 0.8),
    ("reports_created", "Reports created", "reports", MetricKind.COUNT, 0.12),
    ("api_calls", "API calls", "calls", MetricKind.COUNT, 25.0),
    ("active_users", "Active users", "users", MetricKind.GAUGE, 0.7),
)
# Share of accounts that use the API at all, by plan.
API_SHARE = {Plan.FREE: 0.05, Plan.STARTER: 0.2, Plan.PRO: 0.5, Plan.ENTERPRISE: 0.8}
WEEKEND_FACTOR = 0.25
# Positions of the account columns the shapes read (demo.generator.ACCOUNT_COLUMNS).
ID, PLAN, LIFECYCLE, CUSTOMER_SINCE, ACTIVE_USERS = 0, 9, 10, 11, 17


class Shape(StrEnum):
    STEADY = "steady"
    GROWING = "growing"
    DECLINING = "declining"
    DORMANT = "dormant"
    SEASONAL = "seasonal"


@dataclass(frozen=True)
class AccountUsage:
    """How one account's usage develops over the days."""

    shape: Shape
    users: int  # active users at level 1
    stops_days_ago: int  # dormant: no usage on this day and after it
    phase: float  # seasonal: where in its four-week cycle the account starts
    uses_api: bool
    first_day: dt.date  # no usage before the account became a customer


def demo_metrics_upsert() -> list[UsageMetric]:
    """Create (or reset the label, unit and kind of) the demo metrics, in METRICS order."""
    metrics = []
    for key, label, unit, kind, _ in METRICS:
        metric, _ = UsageMetric.objects.update_or_create(
            key=key, defaults={"label": label, "unit": unit, "kind": kind}
        )
        metrics.append(metric)
    return metrics


def level(shape: Shape, days_ago: int, profile: AccountUsage) -> float:
    """The account's usage level ``days_ago`` days before today (1 = its usual level)."""
    t = (USAGE_DAYS - 1 - days_ago) / (USAGE_DAYS - 1)  # 0 on the first day, 1 today
    if shape is Shape.GROWING:
        return 0.3 + 0.9 * t
    if shape is Shape.DECLINING:
        # Steady, then down to a quarter over the last 50 days (about −50% month over month).
        return 1.0 if days_ago >= 50 else 0.25 + 0.75 * days_ago / 50
    if shape is Shape.DORMANT:
        if days_ago <= profile.stops_days_ago:
            return 0.0
        return 0.4 + 0.6 * min(1.0, (days_ago - profile.stops_days_ago) / 30)
    if shape is Shape.SEASONAL:
        return 1.0 + 0.6 * math.sin(2 * math.pi * (days_ago / 28 + profile.phase))
    return 1.0


class UsageGenerator:
    """Daily usage rows ``(account_id, metric_id, day, value)`` for account rows."""

    def __init__(self, *, seed: int, today: dt.date, metrics: Sequence[UsageMetric]) -> None:
        self.rng = random.Random(f"usage-{seed}")
        self.today = today
        self.metrics = list(metrics)
        self.days = [today - dt.timedelta(days=ago) for ago in range(USAGE_DAYS - 1, -1, -1)]

    def profile(self, account: Sequence[Any]) -> AccountUsage:
        rng = self.rng
        lifecycle = account[LIFECYCLE]
        roll = rng.random()
        if lifecycle == LifecycleStage.CHURNED:
            shape = Shape.DORMANT
        elif lifecycle == LifecycleStage.AT_RISK:
            shape = Shape.DECLINING if roll < 0.6 else Shape.DORMANT if roll < 0.8 else Shape.STEADY
        elif lifecycle in (LifecycleStage.TRIAL, LifecycleStage.ONBOARDING):
            shape = Shape.GROWING if roll < 0.7 else Shape.STEADY
        elif roll < 0.55:
            shape = Shape.STEADY
        elif roll < 0.75:
            shape = Shape.SEASONAL
        elif roll < 0.87:
            shape = Shape.GROWING
        elif roll < 0.95:
            shape = Shape.DECLINING
        else:
            shape = Shape.DORMANT
        return AccountUsage(
            shape=shape,
            users=max(1, int(account[ACTIVE_USERS] or 0)),
            stops_days_ago=rng.randint(31, 90),
            phase=rng.random(),
            uses_api=rng.random() < API_SHARE.get(account[PLAN], 0.3),
            first_day=account[CUSTOMER_SINCE],
        )

    def rows(self, accounts: Sequence[Sequence[Any]]) -> Iterator[tuple[int, int, dt.date, int]]:
        """The usage of ``accounts`` (rows with their ids set), account by account."""
        for account in accounts:
            yield from self.account_rows(account[ID], self.profile(account))

    def account_rows(
        self, account_id: int, profile: AccountUsage
    ) -> Iterator[tuple[int, int, dt.date, int]]:
        """One account's rows: each metric's days, oldest first (0 values left out)."""
        rng = self.rng
        levels = [
            level(profile.shape, USAGE_DAYS - 1 - i, profile) * rng.uniform(0.75, 1.25)
            if day >= profile.first_day
            else 0.0
            for i, day in enumerate(self.days)
        ]
        for metric, (_, _, _, kind, per_user) in zip(self.metrics, METRICS, strict=True):
            if metric.key == "api_calls" and not profile.uses_api:
                continue
            for day, amount in zip(self.days, levels, strict=True):
                if not amount:
                    continue
                weekday = 1.0 if day.weekday() < 5 else WEEKEND_FACTOR
                value = int(profile.users * per_user * amount * weekday + rng.random())
                if kind == MetricKind.GAUGE:
                    value = min(value, profile.users * 2)
                if value > 0:
                    yield (account_id, metric.pk, day, value)
