"""The draft backtest on a small hand-built history whose answer is worked out by hand:
each renewal's account scored by the draft as of 90 days before the contract's end date,
from the daily usage stored for those days, and the churn rate per status band."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import Account, ContractStatus
from customers.tests.factories import AccountFactory, ContractFactory
from health import backtest, services
from health.backtest import draft_preview
from health.models import ManualEntry
from usage.models import DailyUsage
from usage.tests.fixtures import metric

from .fixtures import condition, field, manual, scorecard

TODAY = date(2026, 11, 22)
pytestmark = pytest.mark.django_db
ACTIVE_DAYS = field("active", "usage.logins.days_active_30d", 0, 10)


def renewal(ended_days_ago: int, status: str, active_days_before: int, logins):
    """An account whose contract ended ``ended_days_ago`` with ``status``, and that was
    active on ``active_days_before`` days of the 30 days ending 90 days before that."""
    account = AccountFactory()
    end = TODAY - timedelta(days=ended_days_ago)
    ContractFactory(
        account=account,
        start_date=end - timedelta(days=365),
        end_date=end,
        status=status,
        arr=Decimal("1000"),
    )
    as_of = end - timedelta(days=90)
    DailyUsage.objects.bulk_create(
        DailyUsage(account=account, metric=logins, day=as_of - timedelta(days=n), value=1)
        for n in range(active_days_before)
    )
    return account


def test_churn_rate_per_band_as_the_draft_scored_each_account_90_days_before_renewal(settings):
    settings.CS_TODAY = TODAY
    logins = metric("logins")
    # given renewals of the last 12 months with what their accounts did 90 days before:
    renewal(30, ContractStatus.CHURNED, 0, logins)  # 0 active days → 0: red, churned
    renewal(200, ContractStatus.CHURNED, 2, logins)  # 2 → 20: red, churned
    renewal(300, ContractStatus.RENEWED, 3, logins)  # 3 → 30: red, renewed
    renewal(10, ContractStatus.RENEWED, 5, logins)  # 5 → 50: yellow, renewed
    renewal(60, ContractStatus.RENEWED, 10, logins)  # 10 → 100: green, renewed
    renewal(100, ContractStatus.CHURNED, 8, logins)  # 8 → 80: green, churned
    # and contracts that do not count: older than a year, undecided, cancelled
    renewal(400, ContractStatus.CHURNED, 0, logins)
    renewal(20, ContractStatus.ACTIVE, 0, logins)
    renewal(20, ContractStatus.CANCELLED, 0, logins)
    card = scorecard(measures=[field("tickets", "open_tickets", 10, 0)])
    draft = {"name": card.name, "segment": None, "measures": [ACTIVE_DAYS]}
    services.scorecard_draft_save(scorecard=card, data=draft)

    # when the draft is previewed
    preview = draft_preview(scorecard=card)

    # then: red 3 contracts, 2 churned; yellow 1, none; green 2, one churned
    bands = preview["backtest"]["bands"]
    assert (bands["red"]["contracts"], bands["red"]["churned"]) == (3, 2)
    assert bands["red"]["churn_rate"] == "0.6667"
    assert (bands["yellow"]["contracts"], bands["yellow"]["churn_rate"]) == (1, "0.0000")
    assert (bands["green"]["contracts"], bands["green"]["churn_rate"]) == (2, "0.5000")
    assert bands["unscored"]["contracts"] == 0
    assert (preview["backtest"]["contracts"], preview["backtest"]["churned"]) == (6, 3)
    # six renewals are far too few to judge, and the preview says so
    assert preview["backtest"]["too_thin"] is True
    assert "Only 6 renewals" in preview["backtest"]["message"]
    assert all(band["too_thin"] for band in bands.values())
    # today nobody logged in: the draft would make all nine accounts red (ARR of the
    # active contract only), while the live definition (no open tickets) has them green
    assert preview["today"]["draft"]["red"]["count"] == 9
    assert preview["today"]["draft"]["red"]["arr"] == "0.00"
    assert preview["today"]["live"]["red"]["count"] == 0


def test_the_live_definition_is_backtested_when_there_is_no_draft(settings):
    settings.CS_TODAY = TODAY
    card = scorecard(measures=[field("tickets", "open_tickets", 10, 0)])
    preview = draft_preview(scorecard=card)
    assert preview["definition"] == "live"
    assert preview["backtest"]["contracts"] == 0 and preview["backtest"]["too_thin"]
    assert preview["backtest"]["notes"] == [
        "tickets: open_tickets has no history; today's value is used"
    ]


def test_one_statement_over_every_renewal_gives_what_scoring_each_day_on_its_own_gives(
    settings, monkeypatch
):
    """Each renewal scored as of its own day in one statement (``per_row_day``) against the
    same scorecard scored one renewal date at a time: usage windows, a relative-date rule
    and manual scores all read as of that day."""
    settings.CS_TODAY = TODAY
    logins = metric("logins")
    card = scorecard(
        measures=[
            ACTIVE_DAYS,
            condition("recent", {"field": "last_seen_at", "op": "within_last_days", "value": 20}),
            manual("sentiment", weight=2, valid_days=30),
        ]
    )
    sentiment = card.measures.get(key="sentiment")
    for n in range(24):
        ended = 5 + 15 * n
        status = ContractStatus.CHURNED if n % 3 == 0 else ContractStatus.RENEWED
        account = renewal(ended, status, n % 11, logins)
        as_of = TODAY - timedelta(days=ended + 90)
        seen = as_of - timedelta(days=(n * 7) % 40)
        Account.objects.filter(pk=account.pk).update(last_seen_at=seen)
        if n % 2:
            entered = as_of - timedelta(days=(n * 5) % 45)
            ManualEntry.objects.create(
                account=account,
                measure=sentiment,
                score=(n * 13) % 101,
                entered_on=entered,
                entered_at=timezone.now(),
            )
    used = []
    real = backtest.per_row_day

    def spy(*args, **kwargs):
        used.append(real(*args, **kwargs))
        return used[-1]

    monkeypatch.setattr(backtest, "per_row_day", spy)
    together = draft_preview(scorecard=card)["backtest"]
    monkeypatch.setattr(backtest, "per_row_day", lambda *args, **kwargs: None)
    day_by_day = draft_preview(scorecard=card)["backtest"]

    assert used and used[0] is not None  # the one statement was used
    assert together["contracts"] == 24
    assert together["bands"] == day_by_day["bands"]
    # the bands are not all alike (the data moves accounts between them)
    assert len({band["contracts"] for band in together["bands"].values()}) > 1
