"""One ARR per segment page: the segment's totals and its analytics figures for today read
the same ARR (DESIGN section 1's: the accounts' active contracts), even when contracts are
booked ahead (a renewal starting after today) or closed before their end date."""

from datetime import timedelta
from decimal import Decimal

import pytest

from customers import services as customer_services
from customers.models import ContractStatus
from customers.tests.factories import AccountFactory
from segments import analytics
from segments.models import Segment
from segments.tests.engine_fixtures import published, recompute

pytestmark = pytest.mark.django_db


def test_segment_totals_and_todays_metrics_show_the_same_arr(today):
    # Given an account renewed early (its next contract starts after today) and one whose
    # contract churned before its end date
    renewed = AccountFactory(name="Renewed", plan="pro")
    old = customer_services.contract_create(
        account=renewed,
        start_date=today - timedelta(days=300),
        end_date=today + timedelta(days=60),
        arr=Decimal("100000.00"),
    )
    customer_services.contract_renew(
        contract=old, end_date=today + timedelta(days=425), arr=Decimal("130000.00")
    )
    churned = AccountFactory(name="Churned", plan="pro")
    gone = customer_services.contract_create(
        account=churned,
        start_date=today - timedelta(days=100),
        end_date=today + timedelta(days=200),
        arr=Decimal("40000.00"),
    )
    customer_services.contract_update(contract=gone, data={"status": ContractStatus.CHURNED})
    segment = published("Pro", {"all": [{"field": "plan", "op": "eq", "value": "pro"}]})

    # When the segment is recomputed and its figures for today are read
    recompute(segment)
    segment = Segment.objects.get(pk=segment.pk)
    metrics = analytics.segment_metrics_many(segment_ids=[segment.pk], as_of=today)[segment.pk]

    # Then both say $130,000 (the active contracts), not the contracts running today
    assert segment.arr == Decimal("130000.00")
    assert metrics.arr == segment.arr
