"""The windows slide with the calendar (the day-change job), and ingestion through the
real broker and worker changing a segment's membership."""

from datetime import date, timedelta

import pytest

from conftest import wait_for
from customers.tests.api_client import api_client
from segments import engine, services
from segments.models import Membership
from usage.models import DailyUsage

from .fixtures import account, daily, metric

ACTIVE = {"field": "usage.logins.sum_7d", "op": "gte", "value": 5}


def members(segment) -> set[int]:
    return set(Membership.objects.filter(segment=segment).values_list("account_id", flat=True))


@pytest.mark.django_db
def test_the_day_change_job_slides_the_window_without_new_data(settings):
    # given an account with 5 logins 6 days ago, in a published usage segment
    settings.CS_TODAY = date(2026, 11, 22)
    logins, acc = metric("logins"), account()
    daily(acc, logins, date(2026, 11, 16), 5)
    segment = services.segment_create(name="Active", rule=ACTIVE)
    services.version_publish(version=segment.versions.get())
    engine.segment_recompute(segment_id=segment.pk)
    assert members(segment) == {acc.pk}
    # when the day changes and the day-change job runs (no data arrived)
    settings.CS_TODAY = date(2026, 11, 23)
    result = engine.segments_recompute_date_dependent()
    # then the 7-day window no longer holds that day and the account leaves
    assert result.segments == 1
    assert members(segment) == set()


@pytest.mark.django_db
def test_the_day_change_job_leaves_date_independent_segments_alone(settings):
    settings.CS_TODAY = date(2026, 11, 22)
    segment = services.segment_create(name="Big", rule={"field": "arr", "op": "gte", "value": 1})
    services.version_publish(version=segment.versions.get())
    assert engine.segments_recompute_date_dependent().segments == 0


@pytest.mark.redis
def test_ingestion_through_broker_and_worker_changes_membership(
    celery_worker_process, settings, manager
):
    # given a published usage segment and an account without usage
    settings.SEGMENT_EVAL_DEBOUNCE_SECONDS = 0
    today = date.today()
    metric("logins")
    acc = account(external_id="acme")
    segment = services.segment_create(name="Active", rule=ACTIVE)
    services.version_publish(version=segment.versions.get())
    assert wait_for(lambda: segment.snapshots.exists(), timeout=30)
    assert members(segment) == set()
    # when yesterday's usage arrives through the API (late data for a past day)
    rows = [
        {
            "account": "acme",
            "metric": "logins",
            "day": (today - timedelta(days=1)).isoformat(),
            "value": 6,
        }
    ]
    response = api_client(manager).post("/api/usage/daily/", rows, format="json")
    assert response.status_code == 200, response.data
    # then the worker's sweep puts the account in the segment within seconds
    assert wait_for(lambda: members(segment) == {acc.pk}, timeout=30), members(segment)
    assert DailyUsage.objects.count() == 1


@pytest.mark.django_db
def test_the_day_change_job_slides_every_metrics_window_values(settings):
    # given kept window values of two metrics, one of them read by a segment
    from usage.features import usage_features_rebuild
    from usage.models import UsageFeatures, UsageFeatureState

    settings.CS_TODAY = date(2026, 11, 22)
    logins, reports, acc = metric("logins"), metric("reports"), account()
    daily(acc, logins, date(2026, 11, 16), 5)
    daily(acc, reports, date(2026, 11, 16), 2)
    usage_features_rebuild()
    segment = services.segment_create(name="Active", rule=ACTIVE)
    services.version_publish(version=segment.versions.get())
    engine.segment_recompute(segment_id=segment.pk)
    assert members(segment) == {acc.pk}
    # when the day changes and the day-change job runs
    settings.CS_TODAY = date(2026, 11, 23)
    engine.segments_recompute_date_dependent()
    # then both metrics' window values are as of the new day, and the segment followed
    assert set(UsageFeatureState.objects.values_list("as_of", flat=True)) == {date(2026, 11, 23)}
    assert list(UsageFeatures.objects.order_by("metric").values_list("sum_7d", flat=True)) == [0, 0]
    assert members(segment) == set()
