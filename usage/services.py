"""Writes of the usage app other than ingestion (see ``ingest``): metrics and retention."""

from datetime import timedelta

from django.db import transaction

from .models import DailyUsage, MetricKind, UsageMetric
from .settings_access import retention_days, usage_today


@transaction.atomic
def usage_metric_create(
    *, key: str, label: str = "", unit: str = "", kind: str = MetricKind.COUNT
) -> UsageMetric:
    metric = UsageMetric(key=key, label=label or key, unit=unit, kind=kind)
    metric.full_clean()
    metric.save()
    return metric


def usage_retention_apply() -> int:
    """Delete daily rows older than the retention period (at least the 180 days the rules
    read, so no rule value changes); returns how many were deleted. Idempotent."""
    cutoff = usage_today() - timedelta(days=retention_days())
    deleted, _ = DailyUsage.objects.filter(day__lt=cutoff).delete()
    return deleted
