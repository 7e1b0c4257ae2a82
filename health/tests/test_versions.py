"""Scorecard versions (and the manual-score join of a full run): a change of thresholds, measures or weights publishes a new version
of the scorecard's definition; the health rows a run writes point at the version that
produced them, so a past score is explained (and "what moved the score" computed) with
the weights in force on that day, even after the scorecard is deleted."""

from datetime import date, timedelta
from importlib import import_module

import pytest
from django.apps import apps
from django.db import connection

from customers.models import Account
from customers.tests.factories import AccountFactory
from health import selectors, services
from health.models import (
    AccountHealth,
    HealthHistory,
    ManualEntry,
    Measure,
    Scorecard,
    ScorecardVersion,
)

from .fixtures import condition, field, manual, run, scorecard

TODAY = date(2026, 11, 22)
BEFORE = TODAY - timedelta(days=10)
pytestmark = pytest.mark.django_db
CHAMPION = condition("champion", {"field": "has_champion", "op": "eq", "value": True})


def tickets(weight: int = 1) -> dict:
    return field("tickets", "open_tickets", 10, 0, weight=weight)  # 5 tickets: 50


@pytest.fixture(autouse=True)
def _today(settings):
    settings.CS_TODAY = TODAY


def _breakdown(health: dict) -> list[tuple[str, str, str]]:
    return [(m["key"], m["weight"], m["contribution"]) for m in health["measures"]]


def test_explain_before_a_change_of_weights_uses_the_weights_of_then():
    # given an account scored on BEFORE with equal weights: (50 + 100) / 2 = 75
    account = AccountFactory(open_tickets=5, has_champion=True)
    card = scorecard(measures=[tickets(), CHAMPION])
    run(today=BEFORE)

    # when the tickets weight becomes 3 and the account is rescored today: 250 / 4 = 63
    services.scorecard_update(
        scorecard=card, data={"measures": [tickets(3), CHAMPION]}, partial=True
    )
    run(today=TODAY)

    # then a date before the change is explained with the old weights, today with the new
    then = selectors.account_health(account, TODAY - timedelta(days=5))
    now = selectors.account_health(account)
    assert (then["score"], then["scorecard"]) == (
        75,
        {"id": card.pk, "name": "Default", "version": 1},
    )
    assert _breakdown(then) == [("tickets", "1.00", "25.00"), ("champion", "1.00", "50.00")]
    assert (now["score"], now["scorecard"]["version"]) == (63, 2)
    assert _breakdown(now) == [("tickets", "3.00", "37.50"), ("champion", "1.00", "25.00")]
    # and "what moved the score" compares each day's own contributions
    changes = selectors.account_health_changes(account, TODAY - timedelta(days=5), TODAY)
    assert (changes["scorecard_changed"], changes["version_changed"]) == (False, True)
    assert [(m["key"], m["change"]) for m in changes["measures"]] == [
        ("champion", "-25.00"),
        ("tickets", "12.50"),
    ]
    # and the history says which version produced each value
    versions = dict(ScorecardVersion.objects.values_list("number", "pk"))
    assert list(HealthHistory.objects.order_by("day").values_list("day", "version_id")) == [
        (BEFORE, versions[1]),
        (TODAY, versions[2]),
    ]
    assert [h["version"] for h in selectors.account_health_history(account.pk, BEFORE)] == [1, 2]


def test_a_new_version_that_moves_no_score_still_dates_the_weights_a_rename_does_not():
    # given an account whose measures both score 100 (any weights give 100)
    account = AccountFactory(open_tickets=0, has_champion=True)
    card = scorecard(measures=[tickets(), CHAMPION])
    run(today=BEFORE)

    # when only the weights change
    services.scorecard_update(
        scorecard=card, data={"measures": [tickets(4), CHAMPION]}, partial=True
    )
    changed = run(today=TODAY).changed

    # then the score is the same, but one history row says the new version produced it
    assert changed == 1
    assert list(HealthHistory.objects.order_by("day").values_list("score", "version__number")) == [
        (100, 1),
        (100, 2),
    ]
    assert _breakdown(selectors.account_health(account))[0] == ("tickets", "4.00", "80.00")

    # and a change of name (or priority) keeps the version: the next run writes nothing
    services.scorecard_update(scorecard=card, data={"name": "Renamed", "priority": 7}, partial=True)
    services.scorecard_update(
        scorecard=card, data={"measures": [tickets("4.00"), CHAMPION]}, partial=True
    )
    assert ScorecardVersion.objects.count() == 2
    assert run(today=TODAY + timedelta(days=1)).changed == 0
    assert selectors.account_health(account)["scorecard"]["name"] == "Renamed"


def test_a_deleted_scorecards_past_scores_keep_its_definition():
    # given an account scored by a scorecard that is then deleted
    account = AccountFactory(open_tickets=5, has_champion=False)
    card = scorecard("Old card", measures=[tickets(3), CHAMPION])
    card_id = card.pk
    run(today=BEFORE)
    services.scorecard_delete(scorecard=card)
    run(today=TODAY)

    # when a date before the deletion is explained
    then = selectors.account_health(account, BEFORE)

    # then it shows that scorecard's name, measures and weights of then: 150 / 4 = 38
    assert AccountHealth.objects.get(account=account).score is None
    assert (then["score"], then["status"]) == (38, "red")
    assert then["scorecard"] == {"id": card_id, "name": "Old card", "version": 1}
    assert _breakdown(then) == [("tickets", "3.00", "37.50"), ("champion", "1.00", "0.00")]


def test_the_migration_gives_each_scorecard_version_one_and_points_its_rows_at_it():
    migration = import_module("health.migrations.0005_scorecard_versions")
    # given rows written before versions existed
    account = AccountFactory(open_tickets=5, has_champion=True)
    card = scorecard(measures=[tickets(2), CHAMPION], red_below=30)
    run(today=BEFORE)
    Scorecard.objects.update(current_version=None)
    AccountHealth.objects.update(version=None)
    HealthHistory.objects.update(version=None)
    ScorecardVersion.objects.all().delete()

    # when the data migration runs
    migration.versions_create(apps, connection.schema_editor())

    # then the scorecard has version 1, its definition as published, and the rows point at it
    version = ScorecardVersion.objects.get()
    card.refresh_from_db()
    assert (version.scorecard_id, version.number, card.current_version_id) == (
        card.pk,
        1,
        version.pk,
    )
    assert version.definition == {
        "red_below": 30,
        "green_from": 70,
        "measures": [
            {"key": "tickets", "label": "tickets", "weight": "2.00", "source": "field",
             "field": "open_tickets", "bad": "10.000000", "good": "0.000000"},
            {"key": "champion", "label": "champion", "weight": "1.00", "source": "condition",
             "rule": {"field": "has_champion", "op": "eq", "value": True}},
        ],
    }  # fmt: skip
    assert set(AccountHealth.objects.values_list("version_id", flat=True)) == {version.pk}
    assert set(HealthHistory.objects.values_list("version_id", flat=True)) == {version.pk}
    # and saving the same definition again is no new version: nothing is rescored
    services.scorecard_update(
        scorecard=card, data={"measures": [tickets(2), CHAMPION]}, partial=True
    )
    assert ScorecardVersion.objects.count() == 1
    assert run(today=TODAY).changed == 0
    assert selectors.account_health(account, BEFORE)["scorecard"]["version"] == 1


def test_a_full_run_and_a_partial_run_read_the_same_manual_entry():
    # given entries of one manual measure: the latest by day, then by time, then by id
    # wins; one too old to count, one dated after today
    a, b, c = (AccountFactory() for _ in range(3))
    scorecard(measures=[manual("sentiment", valid_days=30)])
    measure = Measure.objects.get(key="sentiment")

    def entry(account, score, days_ago, at="2026-11-01T10:00:00Z"):
        ManualEntry.objects.create(
            account=account,
            measure=measure,
            score=score,
            entered_at=at,
            entered_on=TODAY - timedelta(days=days_ago),
        )

    entry(a, 10, 5)
    entry(a, 20, 2, at="2026-11-01T09:00:00Z")
    entry(a, 30, 2, at="2026-11-01T08:00:00Z")
    entry(b, 40, 3)
    entry(b, 50, 3)  # same day and time: the later id wins
    entry(c, 60, 30)  # valid on the days 30 … 1 ago, not today
    entry(c, 70, -1)  # tomorrow's

    # when every account is scored by a full run (a join) and by a partial run (a subquery)
    run(today=TODAY)
    full = dict(AccountHealth.objects.values_list("account_id", "score"))
    AccountHealth.objects.all().delete()
    run(accounts=Account.objects.all(), today=TODAY)
    partial = dict(AccountHealth.objects.values_list("account_id", "score"))

    # then both read the same entry of each account
    assert full == partial == {a.pk: 20, b.pk: 50, c.pk: None}
