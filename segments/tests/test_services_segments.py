"""Segment and version services: validation surfaces rule paths, versions are immutable
once published, publish queues a recompute after commit, static members."""

import pytest
from django.core.exceptions import ValidationError

from segments import engine, services
from segments.models import (
    Membership,
    MembershipEvent,
    Segment,
    SegmentKind,
    SegmentVersion,
)

from .engine_fixtures import ARR_100K, account, member_ids, published, row_counts

pytestmark = pytest.mark.django_db


def test_invalid_rule_is_refused_with_its_path_and_nothing_is_stored(today):
    # given a rule whose third clause has a non-number value
    rule = {
        "all": [
            {"field": "plan", "op": "eq", "value": "pro"},
            {"field": "region", "op": "in", "value": ["NA"]},
            {"field": "arr", "op": "gte", "value": "abc"},
        ]
    }

    # when a segment is created with it, then the error names the path, under "rule"
    with pytest.raises(ValidationError) as raised:
        services.segment_create(name="Bad", rule=rule)
    assert raised.value.message_dict == {"rule": ['all[2].value: expected a number, got "abc"']}
    assert not Segment.objects.exists()
    assert not SegmentVersion.objects.exists()


def test_invalid_rank_is_refused_under_its_field(today):
    with pytest.raises(ValidationError) as raised:
        services.segment_create(name="Bad rank", rule=ARR_100K, rank_by="name", rank_limit=0)
    assert set(raised.value.message_dict) == {"rank_by", "rank_limit"}
    assert not Segment.objects.exists()


def test_draft_update_with_invalid_rule_keeps_the_stored_rule(today):
    segment = services.segment_create(name="Draft", rule=ARR_100K)
    draft = segment.versions.get()
    with pytest.raises(ValidationError) as raised:
        services.version_update_draft(
            version=draft, data={"rule": {"field": "nope", "op": "eq", "value": 1}}
        )
    assert "rule" in raised.value.message_dict
    draft.refresh_from_db()
    assert draft.rule == ARR_100K


def test_published_versions_are_immutable(today):
    # given a published version
    segment = published("Big", ARR_100K)
    version = segment.current_version

    # when someone tries to change or republish it, then it is refused and unchanged
    with pytest.raises(ValidationError) as raised:
        services.version_update_draft(version=version, data={"rule": {"all": []}})
    assert raised.value.code == "published_immutable"
    with pytest.raises(ValidationError):
        services.version_publish(version=version)
    version.refresh_from_db()
    assert version.rule == ARR_100K


def test_versions_are_numbered_and_publish_makes_current(today):
    segment = services.segment_create(name="Growth", rule=ARR_100K)
    v2 = services.version_create_draft(segment=segment, rule={"all": []}, note="everyone")
    assert [v.number for v in segment.versions.order_by("number")] == [1, 2]
    assert Segment.objects.get(pk=segment.pk).current_version is None

    services.version_publish(version=v2)

    segment.refresh_from_db()
    assert segment.current_version == v2
    assert v2.__class__.objects.get(pk=v2.pk).published_at is not None


def test_publish_queues_recompute_after_commit(
    today, eager_tasks, django_capture_on_commit_callbacks
):
    # given a matching account and a draft
    big = account(arr=150000)
    segment = services.segment_create(name="Big", rule=ARR_100K)

    # when the draft is published, nothing is recomputed before commit...
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.version_publish(version=segment.versions.get())
    assert member_ids(segment) == set()
    assert len(callbacks) == 1

    # ...and the queued task recomputes it once the transaction commits
    callbacks[0]()
    assert member_ids(segment) == {big.pk}


def test_static_segment_members_are_added_and_removed_with_events(today):
    a, b = account(), account()
    segment = services.segment_create(name="Hand-picked", kind=SegmentKind.STATIC, publish=True)

    assert services.static_segment_members_add(segment=segment, account_ids=[a.pk, b.pk]) == 2
    assert services.static_segment_members_add(segment=segment, account_ids=[a.pk]) == 0
    assert services.static_segment_members_remove(segment=segment, account_ids=[a.pk]) == 1

    assert member_ids(segment) == {b.pk}
    assert sorted(
        MembershipEvent.objects.filter(segment=segment).values_list("account_id", "kind")
    ) == sorted([(a.pk, "entered"), (b.pk, "entered"), (a.pk, "exited")])
    segment.refresh_from_db()
    assert segment.member_count == 1

    # a recompute of a static segment never touches its members
    before = row_counts()
    engine.segment_recompute(segment_id=segment.pk)
    assert row_counts()["memberships"] == before["memberships"]
    assert Membership.objects.filter(segment=segment).count() == 1


def test_static_member_changes_are_refused_for_dynamic_segments(today):
    segment = published("Big", ARR_100K)
    with pytest.raises(ValidationError):
        services.static_segment_members_add(segment=segment, account_ids=[account().pk])


def test_static_segment_refuses_unknown_accounts(today):
    segment = services.segment_create(name="Hand", kind=SegmentKind.STATIC)
    with pytest.raises(ValidationError) as raised:
        services.static_segment_members_add(segment=segment, account_ids=[999999])
    assert "account_ids" in raised.value.message_dict
    assert not Membership.objects.exists()


def test_segment_kind_cannot_change_and_review_is_recorded(today):
    segment = published("Big", ARR_100K)
    with pytest.raises(ValidationError) as raised:
        services.segment_update(segment=segment, data={"kind": SegmentKind.STATIC})
    assert "kind" in raised.value.message_dict
    services.segment_mark_reviewed(segment=segment)
    segment.refresh_from_db()
    assert segment.last_reviewed_at == today
