"""Writes of the usage app other than ingestion (see ``ingest``) and the window values
(see ``features``): metrics and retention."""

from datetime import timedelta

from django.db import transaction

from . import features
from .models import DailyUsage, MetricKind, UsageMetric
from .settings_access import retention_days, usage_today


@transaction.atomic
def usage_metric_create(
    *, key: str, label: str = "", unit: str = "", kind: str = MetricKind.COUNT
) -> UsageMetric:
    metric = UsageMetric(key=key, label=label or key, unit=unit, kind=kind)
    metric.full_clean()
    metric.save()
    features.features_state_create(metric, today=usage_today())
    return metric


def usage_retention_apply() -> int:
    """Delete daily rows older than the retention period (at least the 180 days the rules
    read, so no rule value changes); returns how many were deleted. Idempotent.

    The window values are slid to today first: the slide reads days up to 180 before
    its first day, and after this none older than the cutoff are left."""
    today = usage_today()
    features.usage_features_slide(today=today)
    cutoff = today - timedelta(days=retention_days())
    with transaction.atomic():
        # Ingestion's changes wait: a last active day is cleared with its rows.
        features.usage_writers_lock()
        deleted = 0
        # Metric by metric: each a range of the daily table's (metric, day, account) key.
        for metric_id in UsageMetric.objects.order_by("pk").values_list("pk", flat=True):
            count, _ = DailyUsage.objects.filter(metric_id=metric_id, day__lt=cutoff).delete()
            deleted += count
        features.features_forget_before(cutoff)
    return deleted
