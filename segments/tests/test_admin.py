"""The admin for managers: pages render, the rule editor shows path errors inline, drafts
are previewed, compared and published through the services, published versions are
read-only."""

import json
import re

import pytest
from django.urls import reverse

from cs_platform.models import OutboxMessage
from segments.models import Segment, SegmentVersion

from .engine_fixtures import ARR_100K, account, member_ids, published, recompute

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_manager(client, manager):
    client.force_login(manager)
    return client


def test_segment_pages_render_for_a_manager(
    admin_client_manager, today, django_assert_max_num_queries
):
    segment = published("Big", ARR_100K)
    for n in range(3):
        published(f"Other {n}", {"all": []})
    recompute(segment)

    with django_assert_max_num_queries(15):
        listing = admin_client_manager.get(reverse("admin:segments_segment_changelist"))
    assert listing.status_code == 200
    assert b"Big" in listing.content
    change = admin_client_manager.get(reverse("admin:segments_segment_change", args=[segment.pk]))
    assert change.status_code == 200
    assert "arr ≥ 100000" in change.content.decode()
    add = admin_client_manager.get(reverse("admin:segments_segment_add"))
    assert add.status_code == 200
    assert b"data-rule-editor" in add.content
    assert b"rule_editor.js" in add.content


def test_add_segment_with_invalid_rule_shows_the_path_and_stores_nothing(
    admin_client_manager, today
):
    response = admin_client_manager.post(
        reverse("admin:segments_segment_add"),
        {
            "name": "Bad",
            "kind": "dynamic",
            "is_active": "on",
            "review_every_days": "90",
            "priority": "100",
            "rule": '{"all": [{"field": "plan", "op": "eq", "value": "pro"}, '
            '{"field": "region", "op": "eq", "value": "NA"}, '
            '{"field": "arr", "op": "gte", "value": "abc"}]}',
            "rank_by": "",
            "rank_limit": "",
            "note": "",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "all[2].value: expected a number, got &quot;abc&quot;" in response.content.decode()
    assert not Segment.objects.exists()


def test_add_segment_and_publish_through_the_admin(admin_client_manager, today):
    response = admin_client_manager.post(
        reverse("admin:segments_segment_add"),
        {
            "name": "Big accounts",
            "kind": "dynamic",
            "is_active": "on",
            "review_every_days": "90",
            "priority": "100",
            "rule": '{"field": "arr", "op": "gte", "value": 100000}',
            "rank_by": "",
            "rank_limit": "",
            "note": "first",
            "publish": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    segment = Segment.objects.get()
    assert segment.slug == "big-accounts"
    assert segment.current_version.number == 1
    assert segment.current_version.published_at is not None


def test_draft_preview_publish_and_diff_in_the_admin(admin_client_manager, manager, today):
    # given a recomputed segment and a new draft created in the admin
    stays, enters = account(arr=150000), account(arr=70000)
    segment = published("Big", ARR_100K)
    recompute(segment)
    add = admin_client_manager.post(
        reverse("admin:segments_segmentversion_add"),
        {
            "segment": segment.pk,
            "rule": '{"field": "arr", "op": "gte", "value": 50000}',
            "rank_by": "",
            "rank_limit": "",
            "note": "wider",
        },
    )
    assert add.status_code == 302, add.content.decode()[:2000]
    draft = SegmentVersion.objects.get(segment=segment, number=2)
    assert draft.created_by == manager

    # when previewed, the diff shows the entering account
    preview = admin_client_manager.get(
        reverse("admin:segments_segmentversion_preview", args=[draft.pk])
    )
    assert preview.status_code == 200
    assert preview.context["preview"].entering_count == 1
    assert enters.name in preview.content.decode()

    # when compared with version 1, the changed clause is shown
    diff = admin_client_manager.get(
        reverse("admin:segments_segmentversion_diff", args=[draft.pk]) + "?a=1&b=2"
    )
    assert diff.status_code == 200
    assert diff.context["diff"].removed == ["arr ≥ 100000"]
    assert diff.context["diff"].added == ["arr ≥ 50000"]

    # when published from the admin, it becomes current
    publish = admin_client_manager.post(
        reverse("admin:segments_segmentversion_publish", args=[draft.pk])
    )
    assert publish.status_code == 302
    segment.refresh_from_db()
    assert segment.current_version == draft
    recompute(segment)
    assert member_ids(segment) == {stays.pk, enters.pk}


def test_published_version_is_read_only_in_the_admin(admin_client_manager, today):
    segment = published("Big", ARR_100K)
    version = segment.current_version
    url = reverse("admin:segments_segmentversion_change", args=[version.pk])

    page = admin_client_manager.get(url)
    assert page.status_code == 200
    assert b'name="rule"' not in page.content  # no editable field
    assert b"immutable" in page.content

    post = admin_client_manager.post(url, {"rule": '{"all": []}', "note": "sneaky"})
    assert post.status_code == 403
    version.refresh_from_db()
    assert version.rule == ARR_100K


def test_draft_edit_with_invalid_rule_shows_error_inline(admin_client_manager, today):
    segment = published("Big", ARR_100K)
    from segments import services

    draft = services.version_create_draft(segment=segment, rule=ARR_100K)
    url = reverse("admin:segments_segmentversion_change", args=[draft.pk])
    response = admin_client_manager.post(
        url,
        {
            "rule": '{"field": "plan", "op": "gte", "value": 1}',
            "rank_by": "",
            "rank_limit": "",
            "note": "",
        },
    )
    assert response.status_code == 200
    assert "rule" in response.context["adminform"].form.errors
    draft.refresh_from_db()
    assert draft.rule == ARR_100K


def test_recompute_now_action_and_button(
    admin_client_manager, today, django_capture_on_commit_callbacks
):
    segment = published("Big", ARR_100K)
    recomputes = OutboxMessage.objects.filter(task="segments.recompute")
    for request in (
        lambda: admin_client_manager.post(
            reverse("admin:segments_segment_recompute", args=[segment.pk])
        ),
        lambda: admin_client_manager.post(
            reverse("admin:segments_segment_changelist"),
            {"action": "recompute_now", "_selected_action": [segment.pk]},
        ),
    ):
        recomputes.update(state="done")  # (the publish's, or the previous one, has run)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = request()
        assert response.status_code == 302
        assert recomputes.get(state="queued").args == [segment.pk, segment.current_version_id]
        assert len(callbacks) == 1


def test_csm_cannot_publish(client, csm, today):
    segment = services_draft = None  # noqa: F841
    from segments import services

    segment = services.segment_create(name="Draft", rule=ARR_100K)
    csm.is_staff = True
    csm.save(update_fields=["is_staff"])
    client.force_login(csm)
    response = client.post(
        reverse("admin:segments_segmentversion_publish", args=[segment.versions.get().pk])
    )
    assert response.status_code == 403
    assert Segment.objects.get(pk=segment.pk).current_version is None


def test_the_rule_editor_receives_the_rule_language_from_the_server(admin_client_manager):
    # given the "add segment" page
    page = admin_client_manager.get(reverse("admin:segments_segment_add")).content.decode()
    # when the editor's schema is read from its JSON script tag
    found = re.search(r'<script id="rule-schema-rule" type="application/json">(.*?)</script>', page)
    assert found is not None
    schema = json.loads(found.group(1))
    # then it carries the registry's fields, operators, labels and choices
    assert schema["fields"]["plan"] == {"type": "choice", "label": "Plan"}
    assert schema["operator_labels"]["gte"]["label"] == "≥"
    assert schema["operator_labels"]["is_null"]["takes"] == "nothing"
    assert "enterprise" in schema["choices"]["plan"]
