"""Health runs: only changes are written (current row, one history row, the account's
health_score, a mark for the segment sweep); a run that changes nothing writes nothing;
scores as of a past date; scorecards switching with segment membership; the sweep path
(an account write reaches its score and its health segments); typed-in scores kept."""

from datetime import date, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from cs_platform.db import dialect
from customers import services as customer_services
from customers.models import Account, PendingEvaluation
from customers.tests.factories import AccountFactory
from health import selectors, services
from health.models import AccountHealth, HealthHistory, Scorecard
from segments.engine import segments_evaluate_changed_accounts
from segments.tests.engine_fixtures import member_ids, published, recompute
from tests.concurrency import run_while_held

from .fixtures import condition, field, run, score_of, scorecard

TODAY = date(2026, 11, 22)
pytestmark = pytest.mark.django_db
TICKETS = field("tickets", "open_tickets", 10, 0)  # 0 tickets: 100, 10 or more: 0
CHAMPION = condition("champion", {"field": "has_champion", "op": "eq", "value": True})

WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture(autouse=True)
def _today(settings):
    settings.CS_TODAY = TODAY


def _writes(queries) -> list[str]:
    """Statements that wrote rows of a real table (work tables are temporary)."""
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(WRITES)
        and "health_target" not in q["sql"]
        and "health_changed" not in q["sql"].split("SELECT")[0]
    ]


def test_first_run_writes_current_history_column_and_marks_then_a_rerun_writes_nothing():
    # given two accounts and a scorecard
    a = AccountFactory(open_tickets=2, has_champion=True)
    b = AccountFactory(open_tickets=10, has_champion=False)
    scorecard(measures=[TICKETS, CHAMPION])
    PendingEvaluation.objects.all().delete()

    # when scored the first time
    result = run(today=TODAY)

    # then both changed: current rows, one history row each, the column, marks for segments
    assert (result.changed, result.scores_copied, result.marked) == (2, 2, 2)
    assert score_of(a) == 90 and score_of(b) == 0
    assert HealthHistory.objects.count() == 2
    assert Account.objects.get(pk=a.pk).health_score == 90
    assert set(PendingEvaluation.objects.values_list("account_id", flat=True)) == {a.pk, b.pk}

    # and a second run with nothing changed writes no row at all
    PendingEvaluation.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        again = run(today=TODAY)
    assert (again.changed, again.scores_copied, again.marked) == (0, 0, 0)
    assert HealthHistory.objects.count() == 2
    assert not PendingEvaluation.objects.exists()
    table_writes = [
        sql
        for sql in _writes(queries.captured_queries)
        if not sql.lstrip().upper().startswith(("INSERT INTO HEALTH_", "DELETE FROM HEALTH_"))
    ]
    # (the account-score copy statement runs but updates no row: counted above)
    assert all("health_score" in sql for sql in table_writes), table_writes


def test_history_only_on_change_and_as_of_answers_every_past_date():
    # given an account scored on three days, its data changing on the third only
    account = AccountFactory(open_tickets=5)
    scorecard(measures=[TICKETS])
    day1, day2, day3 = TODAY - timedelta(days=40), TODAY - timedelta(days=20), TODAY
    run(today=day1)
    run(today=day2)
    Account.objects.filter(pk=account.pk).update(open_tickets=1)
    run(today=day3)

    # then two history rows (day 1 and day 3), and the score as of any date follows them
    assert list(HealthHistory.objects.values_list("day", "score")) == [(day1, 50), (day3, 90)]
    assert selectors.account_health(account, day1 - timedelta(days=1))["score"] is None
    assert selectors.account_health(account, day1)["score"] == 50
    assert selectors.account_health(account, day2)["score"] == 50
    assert selectors.account_health(account, day3 - timedelta(days=1))["score"] == 50
    assert selectors.account_health(account)["score"] == 90
    history = selectors.account_health_history(account.pk, since=day2)
    assert [(h["day"], h["score"]) for h in history] == [
        (day2.isoformat(), 50),
        (day3.isoformat(), 90),
    ]


def test_what_moved_the_score_lists_measures_by_change_largest_first():
    account = AccountFactory(open_tickets=10, has_champion=False)
    scorecard(measures=[TICKETS, field("size", "employees", 0, 100, weight=2), CHAMPION])
    Account.objects.filter(pk=account.pk).update(employees=50)
    start = TODAY - timedelta(days=10)
    run(today=start)  # tickets 0, size 50 (w 2), champion 0 → 100/4 = 25
    Account.objects.filter(pk=account.pk).update(open_tickets=8, has_champion=True)
    run(today=TODAY)  # tickets 20, size 50, champion 100 → 220/4 = 55
    account.refresh_from_db()

    changes = selectors.account_health_changes(account, start, TODAY)

    assert (changes["from"]["score"], changes["to"]["score"], changes["score_change"]) == (
        25,
        55,
        30,
    )
    assert [(m["key"], m["change"]) for m in changes["measures"]] == [
        ("champion", "25.00"),
        ("tickets", "5.00"),
        ("size", "0.00"),
    ]


def test_accounts_switch_scorecard_with_their_segment_and_history_says_which_produced_what():
    # given a default scorecard and an enterprise one on a segment of enterprise accounts
    account = AccountFactory(plan="pro", open_tickets=0, has_champion=False)
    default = scorecard("Everyone", measures=[TICKETS])
    segment = published("Enterprise", {"field": "plan", "op": "eq", "value": "enterprise"})
    recompute(segment)
    enterprise = scorecard("Enterprise", measures=[CHAMPION], segment=segment.pk, priority=1)
    run(today=TODAY - timedelta(days=5))
    assert AccountHealth.objects.get(account=account).scorecard_id == default.pk
    assert score_of(account) == 100

    # when the account becomes enterprise (its segment membership follows)
    customer_services.account_update(account=account, data={"plan": "enterprise"})
    segments_evaluate_changed_accounts(today=TODAY)

    # then the sweep rescored it with the enterprise scorecard, and history keeps both
    assert member_ids(segment) == {account.pk}
    health = AccountHealth.objects.get(account=account)
    assert (health.scorecard_id, health.score) == (enterprise.pk, 0)
    assert list(HealthHistory.objects.order_by("day").values_list("scorecard_id", "score")) == [
        (default.pk, 100),
        (enterprise.pk, 0),
    ]
    before = selectors.account_health(account, TODAY - timedelta(days=1))
    assert before["scorecard"] == {"id": default.pk, "name": "Everyone", "version": 1}


def test_an_account_write_reaches_its_score_and_then_its_health_segment_in_one_sweep():
    # given a segment of red accounts and a scored account that is green
    account = AccountFactory(open_tickets=0)
    scorecard(measures=[TICKETS])
    run(today=TODAY)
    red = published("Health: red", {"field": "health.status", "op": "eq", "value": "red"})
    recompute(red)
    assert member_ids(red) == set()
    PendingEvaluation.objects.all().delete()

    # when its data changes through the services and the sweep runs once
    customer_services.account_update(account=account, data={"open_tickets": 9})
    segments_evaluate_changed_accounts(today=TODAY)

    # then the sweep rescored it first, and the segment sees the new status
    assert score_of(account) == 10
    assert Account.objects.get(pk=account.pk).health_score == 10
    assert member_ids(red) == {account.pk}
    assert not PendingEvaluation.objects.exists()  # the sweep marks nothing again


def test_a_scorecard_change_rescores_and_no_scorecard_means_nothing_is_computed():
    account = AccountFactory(open_tickets=0, health_score=33)
    # with no scorecard at all a run computes and writes nothing (the column is kept)
    assert run(today=TODAY).scored == 0
    assert Account.objects.get(pk=account.pk).health_score == 33
    card = scorecard(measures=[TICKETS])
    run(today=TODAY)
    assert score_of(account) == 100
    services.scorecard_update(scorecard=card, data={"measures": [CHAMPION]}, partial=True)
    run(today=TODAY)
    assert score_of(account) == 0
    # deleting the last scorecard leaves the account unscored (null), recorded in history
    services.scorecard_delete(scorecard=Scorecard.objects.get())
    run(today=TODAY)
    health = AccountHealth.objects.get(account=account)
    assert (health.scorecard_id, health.score) == (None, None)
    assert Account.objects.get(pk=account.pk).health_score is None


def test_typed_in_scores_become_manual_entries_of_a_default_scorecard():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("health.migrations.0002_typed_in_scores")
    # given accounts with typed-in scores (as before scores were computed)
    typed = AccountFactory(health_score=64)
    blank = AccountFactory(health_score=None)
    # when the data migration runs
    migration.typed_in_scores_to_entries(apps, connection.schema_editor())
    # then a default scorecard holds them as a manual measure, and a run keeps each score
    card = Scorecard.objects.get()
    assert (card.name, card.segment_id) == (migration.SCORECARD_NAME, None)
    run(today=TODAY)
    assert score_of(typed) == 64 and score_of(blank) is None
    assert Account.objects.get(pk=typed.pk).health_score == 64


def _digest_items(account) -> list[int | None]:
    """The stored digest's measure scores, by key (an integer array on PostgreSQL, a text
    of the numbers on SQLite)."""
    digest = AccountHealth.objects.get(account=account).measures_digest
    if isinstance(digest, str):
        return [None if item == "-" else int(item) for item in digest.split(",")]
    return list(digest)


def test_a_stored_row_without_a_digest_is_compared_by_its_json_and_only_gets_the_digest():
    # given scored accounts whose stored rows have no digest (written before it existed)
    a = AccountFactory(open_tickets=2, has_champion=True)
    b = AccountFactory(open_tickets=10, has_champion=False)
    scorecard(measures=[TICKETS, CHAMPION])
    run(today=TODAY)
    digests = dict(AccountHealth.objects.values_list("account_id", "measures_digest"))
    assert _digest_items(a) == [10000, 8000]  # champion, tickets: by key
    AccountHealth.objects.update(measures_digest=None)
    PendingEvaluation.objects.all().delete()

    # when a run finds nothing else changed
    result = run(today=TODAY + timedelta(days=1))

    # then nothing changed: no history row, no mark, the day kept; the digest is back
    assert (result.changed, result.marked) == (0, 0)
    assert HealthHistory.objects.count() == 2
    assert not PendingEvaluation.objects.exists()
    assert set(AccountHealth.objects.values_list("day", flat=True)) == {TODAY}
    assert dict(AccountHealth.objects.values_list("account_id", "measures_digest")) == digests

    # and a real change of a measure score still writes history, with its digest
    Account.objects.filter(pk=b.pk).update(open_tickets=5)
    assert run(today=TODAY + timedelta(days=2)).changed == 1
    assert _digest_items(b) == [0, 5000]
    assert HealthHistory.objects.filter(account=b).count() == 2


def test_a_measure_left_out_with_the_score_unchanged_is_a_change():
    # given an account whose two measures score the same (employees 500: 50; 5 tickets: 50)
    account = AccountFactory(open_tickets=5, employees=500)
    scorecard(measures=[TICKETS, field("size", "employees", 0, 1000)])
    run(today=TODAY)
    assert _digest_items(account) == [50_00, 50_00]  # size, tickets

    # when the size becomes unknown: the measure is left out, the score stays 50
    Account.objects.filter(pk=account.pk).update(employees=None)
    result = run(today=TODAY + timedelta(days=1))

    # then the health changed (its measures did): a history row, the measure gone
    assert result.changed == 1 and score_of(account) == 50
    assert _digest_items(account) == [None, 50_00]
    assert HealthHistory.objects.filter(account=account).count() == 2
    assert AccountHealth.objects.get(account=account).measures == {"tickets": 50}


def test_a_partial_run_puts_the_planner_settings_of_its_transaction_back():
    # given a scored account, rescored as a sweep batch does, inside its transaction
    account = AccountFactory(open_tickets=2)
    scorecard(measures=[TICKETS])
    run(today=TODAY)
    Account.objects.filter(pk=account.pk).update(open_tickets=4)
    names = ["enable_hashjoin", "enable_mergejoin", "work_mem"]
    with transaction.atomic(), connection.cursor() as cursor:
        before = dialect().current_settings(cursor, names)
        result = run(accounts=Account.objects.filter(pk=account.pk), today=TODAY)

        # then the account is rescored, and what the batch runs next plans as before
        assert result.changed == 1 and score_of(account) == 60
        assert dialect().current_settings(cursor, names) == before
    if connection.vendor == "postgresql":
        assert before["enable_hashjoin"] == "on"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks (SQLite: one writer)")
def test_a_row_another_transaction_holds_is_skipped_by_the_copy_without_waiting_for_it():
    # given two scored accounts whose score then moves
    held, free = AccountFactory(open_tickets=0), AccountFactory(open_tickets=0)
    scorecard(measures=[TICKETS])
    run(today=TODAY)
    Account.objects.filter(pk__in=[held.pk, free.pk]).update(open_tickets=5)

    def hold_row():  # as a writer updating the account does
        with transaction.atomic():
            Account.objects.select_for_update(no_key=True).get(pk=held.pk)

    # when both are rescored while another transaction holds one account's row
    outcome = run_while_held(
        holder=hold_row,
        hold_after="FOR NO KEY UPDATE",
        other=lambda: run(accounts=Account.objects.filter(pk__in=[held.pk, free.pk]), today=TODAY),
        hold_seconds=3.0,
    )

    # then the run did not wait for it (a wait would take the whole 3 s hold): both healths are written, the free row's column is
    # copied, the held one is left to a later run of its scope, which copies it
    assert outcome["errors"] == []
    assert outcome["other_seconds"] < 2.5
    assert outcome["other"].scores_copied == 1
    assert score_of(held) == score_of(free) == 50
    columns = dict(Account.objects.values_list("pk", "health_score"))
    assert (columns[held.pk], columns[free.pk]) == (100, 50)
    assert run(accounts=Account.objects.filter(pk=held.pk), today=TODAY).scores_copied == 1
    assert Account.objects.get(pk=held.pk).health_score == 50
