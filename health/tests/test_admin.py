"""The managers' scorecard admin: the form with measures inline saves through the services,
bad input comes back as errors under the input it names (nothing stored), and the live
preview gives the red / yellow / green split of the definition on the page."""

import re
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from customers.tests.factories import AccountFactory
from health.models import Measure, Scorecard
from segments.tests.engine_fixtures import published

from .fixtures import condition, field, manual, scorecard

pytestmark = pytest.mark.django_db
INPUTS = ("key", "label", "weight", "source", "field", "bad", "good", "rule", "valid_days")


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def _post_data(
    measures: list[dict[str, Any]], existing: list[Measure] = (), **scorecard: Any
) -> dict[str, str]:
    """The admin form's POST: the scorecard's fields and the measures formset."""
    data = {
        "name": "Everyone",
        "segment": "",
        "priority": "100",
        "red_below": "40",
        "green_from": "70",
        **{k: str(v) for k, v in scorecard.items()},
        "measures-TOTAL_FORMS": str(len(measures)),
        "measures-INITIAL_FORMS": str(len(existing)),
        "measures-MIN_NUM_FORMS": "0",
        "measures-MAX_NUM_FORMS": "1000",
    }
    for index, measure in enumerate(measures):
        for name in INPUTS:
            value = measure.get(name, "")
            if name == "rule" and value != "":
                value = __import__("json").dumps(value)
            data[f"measures-{index}-{name}"] = "" if value is None else str(value)
        if index < len(existing):
            data[f"measures-{index}-id"] = str(existing[index].pk)
            data[f"measures-{index}-scorecard"] = str(existing[index].scorecard_id)
        if measure.get("DELETE"):
            data[f"measures-{index}-DELETE"] = "on"
    return data


TICKETS = field("tickets", "open_tickets", 10, 0, weight=2)
CHAMPION = condition("champion", {"field": "has_champion", "op": "eq", "value": True})
SENTIMENT = manual("sentiment", valid_days=60)


def _errors_of(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_the_form_renders_with_the_field_picker_and_the_rule_editor(manager_client):
    response = manager_client.get(reverse("admin:health_scorecard_add"))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="health-rule-schema"' in page and "rule_editor.js" in page
    assert "admin/health/scorecard.js" in page
    # the field picker offers numeric rule fields only, and no health field
    assert '<option value="open_tickets">' in page
    assert '<option value="plan">' not in page
    assert '<option value="health.score">' not in page and 'value="health_score"' not in page
    assert 'id="health-preview"' in page


def test_adding_a_scorecard_saves_it_and_its_measures_through_the_service(
    manager_client, django_capture_on_commit_callbacks
):
    data = _post_data([TICKETS, CHAMPION, SENTIMENT])

    with django_capture_on_commit_callbacks() as callbacks:
        response = manager_client.post(reverse("admin:health_scorecard_add"), data)

    assert response.status_code == 302, _errors_of(response)
    saved = Scorecard.objects.get(name="Everyone")
    rows = list(saved.measures.order_by("order").values_list("key", "source", "weight"))
    assert rows == [
        ("tickets", "field", Decimal("2.00")),
        ("champion", "condition", Decimal("1.00")),
        ("sentiment", "manual", Decimal("1.00")),
    ]
    assert saved.measures.get(key="sentiment").valid_days == 60
    assert saved.measures.get(key="champion").rule == CHAMPION["rule"]
    assert saved.measures.get(key="tickets").field == "open_tickets"
    assert callbacks, "the service queues the recompute of every account on commit"


def _error_at(response, where: str) -> str:
    """The errors the page shows at ``where``: ``measures-N-input`` (an input of the Nth
    measure), ``measures`` (the list) or a scorecard field."""
    (measures,) = [inline.formset for inline in response.context["inline_admin_formsets"]]
    if where == "measures":
        return " ".join(measures.non_form_errors())
    if where.startswith("measures-"):
        _, index, name = where.split("-", 2)
        return " ".join(measures.forms[int(index)].errors.get(name, []))
    return " ".join(response.context["adminform"].form.errors.get(where, []))


@pytest.mark.parametrize(
    ("measures", "scorecard_fields", "where", "message"),
    [
        ([{**TICKETS, "weight": "0"}], {}, "measures-0-weight", "greater than or equal to 0.01"),
        ([{**TICKETS, "good": "10"}], {}, "measures-0-good", "must differ from bad"),
        ([{**TICKETS, "field": "plan"}], {}, "measures-0-field", "not one of the available"),
        ([{**TICKETS, "field": ""}], {}, "measures-0-field", "Required for a field measure"),
        (
            [
                CHAMPION,
                {**CHAMPION, "key": "c2", "rule": {"field": "arr", "op": "gt", "value": "x"}},
            ],
            {},
            "measures-1-rule",
            "value: expected",
        ),
        ([{**CHAMPION, "rule": None}], {}, "measures-0-rule", "Required for a condition"),
        ([{**TICKETS, "key": "score"}], {}, "measures-0-key", "reserved"),
        ([TICKETS, {**SENTIMENT, "key": "tickets"}], {}, "measures", "duplicate"),
        ([TICKETS], {"red_below": 80, "green_from": 70}, "green_from", "at least red_below"),
        ([TICKETS], {"priority": 10**7}, "priority", "less than or equal to 1000000"),
        ([], {}, "measures", "at least one measure"),
    ],
)
def test_bad_input_is_an_error_at_the_input_it_names_and_nothing_is_stored(
    manager_client, measures, scorecard_fields, where, message
):
    response = manager_client.post(
        reverse("admin:health_scorecard_add"), _post_data(measures, **scorecard_fields)
    )

    assert response.status_code == 200
    assert message in _error_at(response, where)
    assert not Scorecard.objects.exists() and not Measure.objects.exists()


def test_a_second_default_scorecard_is_refused_on_the_segment_field(manager_client):
    scorecard("Existing default", [TICKETS])

    response = manager_client.post(reverse("admin:health_scorecard_add"), _post_data([TICKETS]))

    assert response.status_code == 200
    assert "another scorecard already scores the default" in _errors_of(response)
    assert Scorecard.objects.count() == 1


def test_changing_a_scorecard_keeps_a_manual_measure_row_and_deletes_a_removed_one(
    manager_client,
):
    card = scorecard("Everyone", [TICKETS, SENTIMENT])
    tickets, sentiment = card.measures.order_by("order")
    data = _post_data(
        [{**TICKETS, "DELETE": True}, {**SENTIMENT, "weight": "3"}, CHAMPION],
        existing=[tickets, sentiment],
        red_below=30,
    )

    response = manager_client.post(reverse("admin:health_scorecard_change", args=[card.pk]), data)

    assert response.status_code == 302, _errors_of(response)
    card.refresh_from_db()
    assert card.red_below == 30
    assert list(card.measures.order_by("order").values_list("key", flat=True)) == [
        "sentiment",
        "champion",
    ]
    kept = card.measures.get(key="sentiment")
    assert kept.pk == sentiment.pk and kept.weight == Decimal("3.00")


def test_the_live_preview_gives_the_split_of_the_definition_on_the_page(manager_client, today):
    # given three accounts: 0 tickets (100), 5 tickets (50), 10 tickets (0)
    for tickets, arr in ((0, 1000), (5, 2000), (10, 4000)):
        AccountFactory(open_tickets=tickets, arr=Decimal(arr))
    data = _post_data([{**TICKETS, "weight": "1"}])

    # when the unsaved definition is previewed
    response = manager_client.post(reverse("admin:health_scorecard_preview_add"), data)

    # then one account per band, with its ARR; nothing is saved
    assert response.status_code == 200
    page = response.content.decode()
    counts = dict(re.findall(r'data-band="(\w+)" data-count>(\d+)<', page))
    assert counts == {"red": "1", "yellow": "1", "green": "1", "unscored": "0"}
    assert "$4,000" in page and "$2,000" in page
    assert not Scorecard.objects.exists()


def test_the_preview_of_bad_input_names_the_measure_and_input(manager_client):
    data = _post_data([TICKETS, {**SENTIMENT, "valid_days": "0"}])

    response = manager_client.post(reverse("admin:health_scorecard_preview_add"), data)

    assert response.status_code == 200
    assert "measure 2 (sentiment) valid_days" in _errors_of(response)


def test_the_preview_of_a_segment_scorecard_with_the_backtest(manager_client, today):
    segment = published("Big", {"field": "arr", "op": "gte", "value": 100000})
    card = scorecard("Big ones", [TICKETS], segment=segment.pk, priority=1)
    data = _post_data(
        [{**TICKETS, "weight": "2"}],
        existing=list(card.measures.all()),
        name="Big ones",
        segment=segment.pk,
        priority=1,
    )
    data["backtest"] = "1"

    response = manager_client.post(reverse("admin:health_scorecard_preview", args=[card.pk]), data)

    assert response.status_code == 200
    assert 'id="health-preview-backtest"' in response.content.decode()
    assert "renewals with an outcome" in _errors_of(response)  # too thin: said so


def test_csms_cannot_use_the_scorecard_admin(client, csm):
    client.force_login(csm)

    response = client.post(reverse("admin:health_scorecard_preview_add"), _post_data([TICKETS]))

    assert response.status_code == 302  # to the admin login: not staff
