"""Health on the workspace pages (docs/health.md, "Screens"): the badge's status for a page
of accounts, and the account page's health section: the breakdown, "what moved the
score" between two dates, the 12-month trend chart and the manual-measure form.

Reads go through ``health.selectors``; the manual score is written by
``health.services.manual_entry_create`` (views.py / health_views.py).
"""

from datetime import date, timedelta
from typing import Any

from django import forms

from cs_platform import clock
from customers.models import Account
from health import selectors as health_selectors
from health.models import SCORE_MAX, MeasureSource, Scorecard

from .health_charts import health_trend_chart

TREND_DAYS = 365
CHANGES_DEFAULT_DAYS = 30


class ManualScoreForm(forms.Form):
    """A CSM's score for one of the manual measures of the account's scorecard."""

    measure = forms.ChoiceField(label="Measure")
    score = forms.IntegerField(label="Score (0–100)", min_value=0, max_value=SCORE_MAX)
    comment = forms.CharField(
        label="Comment",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Why this score?"}),
    )

    def __init__(self, *args: Any, measures: list[dict[str, Any]], **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["measure"].choices = [(m["key"], m["label"]) for m in measures]


def attach_health(accounts: list[Account]) -> None:
    """Give each account its ``health_status`` (one query for the page)."""
    found = health_selectors.health_by_account(account.id for account in accounts)
    for account in accounts:
        account.health_status = found.get(account.id, (None, None))[1]


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def changes_dates(params: Any, today: date) -> tuple[date, date, list[str]]:
    """``?from=`` and ``?to=`` of the "what moved" form (default: 30 days ago to today),
    with the errors of bad input (then the defaults are used)."""
    errors = []
    start = _day(params.get("from"))
    end = _day(params.get("to"))
    if params.get("from") and start is None:
        errors.append("From: expected a date (YYYY-MM-DD).")
    if params.get("to") and end is None:
        errors.append("To: expected a date (YYYY-MM-DD).")
    start = start or today - timedelta(days=CHANGES_DEFAULT_DAYS)
    end = min(end or today, today)
    if start > end:
        errors.append("From must be on or before To.")
        start, end = end - timedelta(days=CHANGES_DEFAULT_DAYS), end
    return start, end, errors


def account_health_section(
    account: Account, *, params: Any, can_work: bool, today: date | None = None
) -> dict[str, Any]:
    """Everything the account page's health section shows."""
    today = today or clock.today()
    health = health_selectors.account_health(account)
    start, end, errors = changes_dates(params, today)
    since = today - timedelta(days=TREND_DAYS)
    history = health_selectors.account_health_history(account.pk, since)
    manual = manual_measures(health)
    scorecard_id = (health["scorecard"] or {}).get("id")
    thresholds = (
        Scorecard.objects.filter(pk=scorecard_id).values("red_below", "green_from").first()
        if scorecard_id is not None
        else None
    )
    return {
        "health": health,
        "health_changes": health_selectors.account_health_changes(
            # The section's health is the current one: the end's when the end is today.
            account,
            start,
            end,
            health_at_end=health if end >= clock.today() else None,
        ),
        "health_changes_errors": errors,
        "health_changes_range": {"from": start, "to": end},
        "health_trend_chart": health_trend_chart(
            history, start=since, end=today, **(thresholds or {})
        ),
        "health_history": history,
        "health_manual_measures": manual,
        "health_can_enter": can_work and bool(manual),
        "health_manual_form": ManualScoreForm(measures=manual),
    }


def manual_measures(health: dict[str, Any]) -> list[dict[str, Any]]:
    """The manual measures of the scorecard that scores the account now (``account_health``
    rows, each with the entry in force as its ``value``)."""
    return [m for m in health["measures"] if m["source"] == MeasureSource.MANUAL]
