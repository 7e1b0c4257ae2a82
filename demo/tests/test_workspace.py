"""The demo workspace: segments with members, exclusive tiers, playbooks that fire, the
renewal queue, and nothing done twice."""

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F
from django.utils import timezone

from customers.models import Account, ContractItem, ContractStatus
from demo.accounts import seed_demo
from demo.workspace import seed_demo_workspace
from health.models import AccountHealth, HealthHistory, ManualEntry, Scorecard
from playbooks.models import Playbook, PlaybookRun, RenewalQueueEntry, Task
from segments import analytics
from segments.models import Membership, MembershipEvent, Segment
from workspace.models import TeamMember

pytestmark = pytest.mark.django_db


def member_ids_of(segment: Segment) -> set[int]:
    return set(Membership.objects.filter(segment=segment).values_list("account_id", flat=True))


def test_workspace_creates_recomputed_segments_playbooks_and_the_queue(today):
    seed_demo(accounts=300, seed=3)

    result = seed_demo_workspace()

    assert result.created
    assert Segment.objects.count() == len(result.segments) == 11
    for segment in Segment.objects.all():
        assert segment.current_version_id is not None
        members = Membership.objects.filter(segment=segment).count()
        assert members == segment.member_count == result.segments[segment.name]
    assert result.segments["Top 50 by ARR"] == 50
    assert result.segments["Strategic accounts (hand-picked)"] == 10
    # the product segment holds the accounts selling the Analytics add-on on an active contract
    with_analytics = set(
        ContractItem.objects.filter(
            product__code="ANALYTICS", contract__status=ContractStatus.ACTIVE
        ).values_list("contract__account_id", flat=True)
    )
    analytics = Segment.objects.get(name="Analytics add-on")
    assert with_analytics and member_ids_of(analytics) == with_analytics
    # the tiers are exclusive: no account in two of them
    in_tiers = (
        Membership.objects.filter(segment__exclusive_group__name="Revenue tier")
        .values("account_id")
        .annotate(n=Count("segment"))
    )
    assert in_tiers.exists() and not in_tiers.filter(n__gt=1).exists()
    # the at-risk playbook runs for the current members; the queue has its renewal tasks
    save = Playbook.objects.get(name="Save at-risk accounts")
    assert PlaybookRun.objects.filter(playbook=save).count() == result.segments["At risk"] > 0
    assert RenewalQueueEntry.objects.count() == result.queue_entries > 0
    assert Task.objects.filter(source="renewal").count() == result.renewal_tasks > 0
    # every demo CSM is on one of the two demo managers' teams, four each
    teams = TeamMember.objects.values("manager__username").annotate(n=Count("id"))
    assert {(t["manager__username"], t["n"]) for t in teams} == {("manager1", 4), ("manager2", 4)}


def test_the_tiers_have_history_and_the_other_segments_are_new(today):
    # Given the demo workspace
    seed_demo(accounts=300, seed=3)
    seed_demo_workspace()
    tiers = list(Segment.objects.filter(exclusive_group__name="Revenue tier"))
    new = Segment.objects.get(name="At risk")

    # When their analytics are read as of today
    growth = analytics.segment_growth(segment_ids=[s.pk for s in tiers], as_of=today)
    metrics = analytics.segment_metrics_many(segment_ids=[s.pk for s in tiers], as_of=today)
    # (the recompute stamps events with the real clock, after the pinned today)
    young = analytics.segment_metrics(segment_id=new.pk, as_of=timezone.localdate())

    # Then each tier grows over a year of daily points and is measured over a trailing
    # year, while a segment created today is "since created" (yet not a flat 100 %)
    for tier in tiers:
        assert len(growth[tier.pk]) > 300
        assert metrics[tier.pk].population == analytics.PopulationKind.TRAILING
    assert young.population == analytics.PopulationKind.SINCE_CREATED
    assert young.population_size > 0 and young.nrr != 1
    # churned accounts were in a tier until they churned
    assert MembershipEvent.objects.filter(segment__in=tiers, kind="exited").exists()


def test_workspace_is_created_once(today):
    seed_demo(accounts=100, seed=3)
    assert seed_demo_workspace().created
    counts = (Segment.objects.count(), Playbook.objects.count(), Membership.objects.count())

    again = seed_demo_workspace()

    assert not again.created
    assert counts == (Segment.objects.count(), Playbook.objects.count(), Membership.objects.count())


def test_command_needs_accounts_and_reports(capsys, today):
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("seed_demo_workspace")
    assert not Segment.objects.exists()

    seed_demo(accounts=100, seed=3)
    call_command("seed_demo_workspace")
    out = capsys.readouterr().out
    assert "segment 'At risk'" in out and "Renewal queue:" in out


def test_workspace_scores_health_with_two_scorecards_and_a_red_segment(today):
    seed_demo(accounts=300, seed=3)

    result = seed_demo_workspace()

    # two scorecards: Enterprise (the Enterprise tier first) and the default
    assert result.scorecards == ["Enterprise", "Everyone else"]
    enterprise = Scorecard.objects.get(name="Enterprise")
    assert enterprise.segment.name == "Enterprise tier"
    assert set(enterprise.measures.values_list("source", flat=True)) == {
        "field",
        "condition",
        "manual",
    }
    tier = member_ids_of(enterprise.segment)
    scored_by = dict(AccountHealth.objects.values_list("account_id", "scorecard__name"))
    assert len(scored_by) == Account.objects.count()
    assert {scored_by[pk] for pk in tier} == {"Enterprise"}
    assert {name for pk, name in scored_by.items() if pk not in tier} == {"Everyone else"}
    # health_score is the computed score, and CSM sentiment scores were entered
    assert not Account.objects.exclude(health_score=F("health__score")).exists()
    assert result.sentiment_entries == ManualEntry.objects.count() > 0
    # a history over past weeks: some accounts have more than one row
    assert HealthHistory.objects.values("day").distinct().count() > 1
    # "Health: red" holds exactly the red accounts, and its playbook made tasks
    red = Segment.objects.get(name="Health: red")
    assert member_ids_of(red) == set(
        AccountHealth.objects.filter(status="red").values_list("account_id", flat=True)
    )
    assert result.segments["Health: red"] == red.member_count > 0
    rescue = Playbook.objects.get(name="Rescue red health")
    assert rescue.segment_id == red.pk and PlaybookRun.objects.filter(playbook=rescue).exists()
