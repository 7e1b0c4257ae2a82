"""Deeply nested JSON (1,000 levels, far past what the recursive decoder and walkers
survive) is refused with a 400 or a form error naming the problem on every JSON input: the
API's JSON bodies (ordinary and bulk), JSON strings in API forms, the admin's JSON fields,
the in-app rule editor and the periodic tasks' arguments. Never a RecursionError."""

import json

import pytest
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from cs_platform.json_limits import (
    MAX_JSON_DEPTH,
    JSONTooDeep,
    text_depth,
    text_depth_check,
    value_depth_check,
)
from customers.field_values import has_nul
from customers.models import Account
from customers.tests.api_client import api_client
from customers.tests.factories import AccountFactory
from segments import services as segment_services
from segments.models import Segment

pytestmark = pytest.mark.django_db

DEEP = 1000
TOO_DEEP_BODY = "nested too deeply (more than 64 levels of arrays and objects)"


def nested_object(levels: int, leaf: str = "1") -> str:
    return '{"a":' * levels + leaf + "}" * levels


def nested_list(levels: int, leaf: str = "1") -> str:
    return "[" * levels + leaf + "]" * levels


@pytest.fixture
def segment(manager) -> Segment:
    return segment_services.segment_create(
        name="Pro", rule={"field": "plan", "op": "eq", "value": "pro"}, created_by=manager
    )


def post_json(user, url: str, body: str, method: str = "post"):
    return getattr(api_client(user), method)(url, body, content_type="application/json")


def endpoints(segment: Segment, account: Account) -> dict[str, tuple[str, str, str]]:
    """(method, url, body with a 1,000-level value where the endpoint takes JSON)."""
    deep_object, deep_list = nested_object(DEEP), nested_list(DEEP)
    return {
        "segment create": ("post", "/api/segments/", f'{{"name":"D","rule":{deep_object}}}'),
        "version create": (
            "post",
            f"/api/segments/{segment.pk}/versions/",
            f'{{"rule":{deep_object}}}',
        ),
        "account traits": (
            "post",
            "/api/accounts/",
            f'{{"name":"D","external_id":"d","traits":{deep_object}}}',
        ),
        "account traits change": (
            "patch",
            f"/api/accounts/{account.pk}/",
            f'{{"traits":{deep_object}}}',
        ),
        "bulk upsert": (
            "post",
            "/api/accounts/bulk/",
            f'{{"accounts":[{{"external_id":"d","name":"D","traits":{deep_object}}}]}}',
        ),
        "usage daily": (
            "post",
            "/api/usage/daily/",
            f'[{{"account":"d","metric":"m","day":"2026-01-01","value":{deep_list}}}]',
        ),
        "usage events": (
            "post",
            "/api/usage/events/",
            f'[{{"account":"d","metric":"m","at":"2026-01-01T00:00:00Z","count":{deep_list}}}]',
        ),
        "playbook steps": (
            "post",
            "/api/playbooks/",
            f'{{"name":"P","segment":{segment.pk},"steps":[{{"kind":"create_task","config":{deep_object}}}]}}',
        ),
        "contract items": (
            "post",
            "/api/contracts/",
            f'{{"account":{account.pk},"start_date":"2026-01-01","end_date":"2027-01-01",'
            f'"arr":"100.00","items":{deep_list}}}',
        ),
        "import profile columns": (
            "post",
            "/api/import-profiles/",
            f'{{"name":"deep","label":"Deep","columns":{deep_list}}}',
        ),
        "attribute choices": (
            "post",
            "/api/attributes/",
            f'{{"key":"tier","label":"Tier","type":"choice","choices":{deep_list}}}',
        ),
        "token": ("post", "/api/auth/token/", f'{{"username":{deep_list},"password":"x"}}'),
    }


@pytest.mark.parametrize(
    "name",
    [
        "segment create",
        "version create",
        "account traits",
        "account traits change",
        "bulk upsert",
        "usage daily",
        "usage events",
        "playbook steps",
        "contract items",
        "import profile columns",
        "attribute choices",
        "token",
    ],
)
def test_a_1000_level_body_is_a_400_naming_the_problem(manager, segment, name):
    method, url, body = endpoints(segment, AccountFactory())[name]
    response = post_json(manager, url, body, method)
    assert response.status_code == 400
    assert TOO_DEEP_BODY in response.json()["detail"]


def test_the_bound_is_exactly_64_levels(manager):
    # A body of 64 levels is parsed (and then judged by the endpoint), 65 is refused
    at_limit = post_json(manager, "/api/usage/daily/", nested_list(MAX_JSON_DEPTH))
    assert at_limit.status_code == 400 and "detail" not in at_limit.json()
    over = post_json(manager, "/api/usage/daily/", nested_list(MAX_JSON_DEPTH + 1))
    assert over.status_code == 400 and TOO_DEEP_BODY in over.json()["detail"]


def test_brackets_inside_strings_do_not_count(manager):
    name = "[" * 500 + '"\\' + "{" * 500
    response = post_json(
        manager, "/api/accounts/", json.dumps({"name": name[:200], "external_id": "b"})
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("content_type", ["form", "multipart"])
def test_a_deep_rule_sent_as_a_form_field_is_a_400(manager, content_type):
    data = {"name": "Form", "rule": nested_object(DEEP)}
    client = api_client(manager)
    response = (
        client.post("/api/segments/", data, format="multipart")
        if content_type == "multipart"
        else client.post(
            "/api/segments/",
            f"name=Form&rule={nested_object(DEEP)}",
            content_type="application/x-www-form-urlencoded",
        )
    )
    assert response.status_code == 400
    assert response.json()["rule"] == [
        f"Nested too deeply (more than {MAX_JSON_DEPTH} levels of arrays and objects)."
    ]
    assert not Segment.objects.filter(name="Form").exists()


# --- forms ----------------------------------------------------------------------------------------


@pytest.fixture
def manager_client(manager) -> Client:
    client = Client()
    client.force_login(manager)
    return client


def test_the_admin_rule_field_refuses_deep_json(manager_client, segment):
    response = manager_client.post(
        reverse("admin:segments_segmentversion_add"),
        {"segment": segment.pk, "rule": nested_object(DEEP), "rank_by": "", "note": ""},
    )
    assert response.status_code == 200
    assert "Enter valid JSON: " + TOO_DEEP_BODY in response.content.decode()


def test_the_admin_traits_field_refuses_deep_json(manager_client):
    account = AccountFactory()
    page = manager_client.get(reverse("admin:customers_account_change", args=[account.pk]))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {
        name: form[name].value() if form[name].value() is not None else ""
        for name in form.fields
        if name != "assign_owner"
    }
    data["traits"] = nested_object(DEEP)
    data.update({f"{prefix}-TOTAL_FORMS": "0" for prefix in ("contracts", "assignments")})
    data.update({f"{prefix}-INITIAL_FORMS": "0" for prefix in ("contracts", "assignments")})
    response = manager_client.post(
        reverse("admin:customers_account_change", args=[account.pk]), data
    )
    assert response.status_code == 200
    assert "Enter valid JSON: " + TOO_DEEP_BODY in response.content.decode()


def test_the_periodic_task_arguments_refuse_deep_json(manager_client):
    every = IntervalSchedule.objects.create(every=5, period="minutes")
    response = manager_client.post(
        reverse("admin:django_celery_beat_periodictask_add"),
        {
            "name": "Deep",
            "regtask": "segments.recompute_all",
            "interval": every.pk,
            "args": nested_list(DEEP),
            "kwargs": "{}",
            "enabled": "on",
            "priority": "",
            "headers": "{}",
        },
    )
    assert response.status_code == 200
    assert "Enter valid JSON: " + TOO_DEEP_BODY in response.content.decode()
    assert not PeriodicTask.objects.filter(name="Deep").exists()


def test_the_in_app_rule_editor_refuses_deep_json(manager_client, segment):
    response = manager_client.post(
        reverse("segment-version-create", args=[segment.pk]),
        {"rule": nested_object(DEEP), "rank_by": "", "rank_limit": "", "note": ""},
    )
    assert response.status_code in (200, 400)
    assert "not valid JSON: " + TOO_DEEP_BODY in response.content.decode()


# --- the checks themselves ------------------------------------------------------------------------


def test_the_checks_survive_any_depth():
    text = nested_list(200_000)
    assert text_depth(text) == 200_000
    with pytest.raises(JSONTooDeep):
        text_depth_check(text.encode())
    deep: list = []
    for _ in range(200_000):
        deep = [deep]
    with pytest.raises(JSONTooDeep):
        value_depth_check(deep)
    assert has_nul([deep, "\x00"]) and not has_nul(deep)


def test_every_admin_json_field_is_bounded(rf, django_user_model):
    """Every JSON field a registered admin page (or inline) shows as a form field is the
    bounded one, so a new admin cannot forget it."""
    from django import forms
    from django.contrib import admin

    from cs_platform.json_forms import BoundedJSONFormField

    request = rf.get("/admin/")
    request.user = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    seen = []
    for model, model_admin in admin.site._registry.items():
        form_classes = [model_admin.get_form(request)]
        form_classes += [
            i.get_formset(request).form for i in model_admin.get_inline_instances(request)
        ]
        for form_class in form_classes:
            for name, field in form_class.base_fields.items():
                if isinstance(field, forms.JSONField):
                    seen.append(f"{model.__name__}.{name}")
                    assert isinstance(field, BoundedJSONFormField), seen[-1]
    # (an inline's field is listed under the page that shows it: a playbook's steps)
    assert {"Account.traits", "SegmentVersion.rule", "Playbook.config"} <= set(seen)
