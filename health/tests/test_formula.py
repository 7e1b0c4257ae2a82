"""The score formula of DESIGN 12, computed set-based in SQL, against an independent
computation in Python with exact fractions: renormalization over the measures present,
missing values and expired manual scores left out, rounding half up (at .5 exactly),
thresholds at their boundaries. Random accounts and scorecards from hypothesis."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from customers.models import Account
from customers.tests.factories import AccountFactory
from health.models import AccountHealth, ManualEntry, Scorecard

from .fixtures import condition, field, manual, run, scorecard

TODAY = date(2026, 11, 22)
pytestmark = pytest.mark.django_db


def half_up(value: Fraction) -> int:
    """Round a non-negative fraction half up to an integer."""
    return int(value + Fraction(1, 2))


def reference(account: dict, measures: list[dict], red_below: int, green_from: int):
    """(score, status, {key: score in hundredths}) by the definition, in exact fractions:
    each measure's score kept to hundredths, half up; the total Σ w×s ÷ Σ w half up."""
    scores: dict[str, int] = {}
    for m in measures:
        if m["source"] == "field":
            value = account[m["field"]]
            if value is None:
                continue
            bad, good = Fraction(m["bad"]), Fraction(m["good"])
            share = min(max((Fraction(value) - bad) / (good - bad), Fraction(0)), Fraction(1))
            scores[m["key"]] = half_up(share * 10000)
        elif m["source"] == "condition":
            scores[m["key"]] = 10000 if account["has_champion"] else 0
        else:
            entry = account["entry"]
            if entry is not None and entry[1] < m["valid_days"]:
                scores[m["key"]] = entry[0] * 100
    weights = {m["key"]: Fraction(m["weight"]) for m in measures}
    present = list(scores)
    if not present:
        return None, None, {}
    total = sum(weights[k] * Fraction(scores[k], 100) for k in present) / sum(
        weights[k] for k in present
    )
    score = half_up(total)
    status = "red" if score < red_below else "green" if score >= green_from else "yellow"
    return score, status, scores


accounts_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "employees": st.one_of(st.none(), st.integers(0, 500)),
            "open_tickets": st.integers(0, 30),
            "has_champion": st.booleans(),
            # (score, age in days) of the latest manual entry, or none
            "entry": st.one_of(st.none(), st.tuples(st.integers(0, 100), st.integers(0, 120))),
        }
    ),
    min_size=1,
    max_size=8,
)
weights = st.decimals(min_value=Decimal("0.01"), max_value=50, places=2)
bounds = st.tuples(st.integers(-50, 600), st.integers(-50, 600)).filter(lambda b: b[0] != b[1])
# Bounds with decimals, for a field of whole numbers (scored in integers, its bounds scaled).
_bound = st.decimals(min_value=-50, max_value=600, places=2)
fractional_bounds = st.tuples(_bound, _bound).filter(lambda b: b[0] != b[1])


@settings(
    max_examples=25,
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    accounts=accounts_strategy,
    employees_bounds=fractional_bounds,
    tickets_bounds=bounds,
    w=st.lists(weights, min_size=4, max_size=4),
    valid_days=st.integers(1, 120),
    thresholds=st.tuples(st.integers(0, 100), st.integers(0, 100)).map(sorted),
)
def test_sql_score_agrees_with_the_definition(
    accounts, employees_bounds, tickets_bounds, w, valid_days, thresholds, settings_today
):
    # given random accounts and a scorecard of four measures, one of each kind and two fields
    Scorecard.objects.all().delete()
    Account.objects.all().delete()
    measures = [
        field("size", "employees", *employees_bounds, weight=w[0]),
        field("tickets", "open_tickets", *tickets_bounds, weight=w[1]),
        condition("champion", {"field": "has_champion", "op": "eq", "value": True}, weight=w[2]),
        manual("sentiment", weight=w[3], valid_days=valid_days),
    ]
    card = scorecard(measures=measures, red_below=thresholds[0], green_from=thresholds[1])
    sentiment = card.measures.get(key="sentiment")
    rows = []
    for data in accounts:
        account = AccountFactory(
            employees=data["employees"],
            open_tickets=data["open_tickets"],
            has_champion=data["has_champion"],
        )
        if data["entry"] is not None:
            score, age = data["entry"]
            ManualEntry.objects.create(
                account=account,
                measure=sentiment,
                score=score,
                entered_at=timezone.make_aware(datetime(2026, 1, 1)),
                entered_on=TODAY - timedelta(days=age),
            )
        rows.append((account, data))
    for m in measures:
        m["valid_days"] = valid_days

    # when every account is scored
    run(today=TODAY)

    # then each stored score, status and measure score is the definition's
    stored = {h.account_id: h for h in AccountHealth.objects.all()}
    for account, data in rows:
        score, status, scores = reference(data, measures, *thresholds)
        health = stored[account.pk]
        assert (health.score, health.status) == (score, status), (data, measures)
        assert {k: round(Decimal(str(v)) * 100) for k, v in health.measures.items()} == scores
        assert Account.objects.get(pk=account.pk).health_score == score


@pytest.fixture
def settings_today(settings):
    settings.CS_TODAY = TODAY


def _one(measures: list[dict], **extra) -> None:
    Scorecard.objects.all().delete()
    scorecard(measures=measures, **extra)


def test_rounding_is_half_up_at_exactly_one_half(settings_today):
    # given two equally weighted conditions and a field scoring 1 point: (100 + 0 + 1) / 2
    account = AccountFactory(has_champion=True, open_tickets=1)
    champion = condition("champion", {"field": "has_champion", "op": "eq", "value": True})
    never = condition("never", {"field": "has_champion", "op": "eq", "value": False})
    _one([champion, field("one", "open_tickets", 0, 100)], red_below=0, green_from=100)
    run(today=TODAY)
    # (100 + 1) / 2 = 50.5 → 51
    assert AccountHealth.objects.get(account=account).score == 51
    # and 49.5 rounds to 50: (100 + 0 + ... ) weights 1, 1 with scores 99 and 0
    account.open_tickets = 99
    account.save(update_fields=["open_tickets"])
    _one([never, field("one", "open_tickets", 0, 100)], red_below=0, green_from=100)
    run(today=TODAY)
    assert AccountHealth.objects.get(account=account).score == 50


@pytest.mark.parametrize(
    "tickets, status", [(39, "red"), (40, "yellow"), (69, "yellow"), (70, "green")]
)
def test_thresholds_at_their_boundaries(settings_today, tickets, status):
    account = AccountFactory(open_tickets=tickets)
    _one([field("t", "open_tickets", 0, 100)])  # red_below 40, green_from 70
    run(today=TODAY)
    health = AccountHealth.objects.get(account=account)
    assert (health.score, health.status) == (tickets, status)


def test_missing_and_expired_measures_are_renormalized_away_and_all_missing_is_null(
    settings_today,
):
    # given a field (null for one account), and a manual score that expired for the other
    with_size = AccountFactory(employees=80)
    without = AccountFactory(employees=None)
    card = scorecard(
        measures=[field("size", "employees", 0, 100, weight=3), manual("csm", weight=1)]
    )
    csm = card.measures.get(key="csm")
    ManualEntry.objects.create(
        account=with_size,
        measure=csm,
        score=20,
        entered_at=timezone.now(),
        entered_on=TODAY - timedelta(days=90),  # valid days 90: expired today
    )
    ManualEntry.objects.create(
        account=without, measure=csm, score=20, entered_at=timezone.now(), entered_on=TODAY
    )
    # when scored
    run(today=TODAY)
    # then each is scored by what is present; with nothing present the score is null
    assert AccountHealth.objects.get(account=with_size).score == 80
    assert AccountHealth.objects.get(account=without).score == 20
    ManualEntry.objects.filter(account=without).delete()
    run(today=TODAY)
    health = AccountHealth.objects.get(account=without)
    assert (health.score, health.status, health.measures) == (None, None, {})
