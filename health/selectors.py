"""Reads of the health app, for the API and the screens (docs/health.md).

- ``account_health`` — an account's health now or as of a past date, with each measure's
  value, score, weight and contribution (the breakdown of the account page);
- ``account_health_history`` — the score changes since a date (the trend chart);
- ``account_health_changes`` — "what moved the score" between two dates;
- ``health_by_account`` / ``status_split`` / ``status_split_as_of`` — badges for lists of
  accounts and the red/yellow/green split (count and ARR) of a set of accounts, now or on
  a past date (segment analytics).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Sum

from cs_platform import clock
from customers.models import Account
from rules import field_value, json_actual, registry
from segments.engine.targets import attribute_specs

from .models import (
    AccountHealth,
    HealthHistory,
    HealthStatus,
    ManualEntry,
    Measure,
    MeasureSource,
    Scorecard,
    ScorecardVersion,
)

TWO_PLACES = Decimal("0.01")
STATUSES = (*HealthStatus.values, None)


@dataclass(frozen=True)
class HealthState:
    """An account's health on one day: what the current row or a history row holds."""

    scorecard_id: int | None
    version_id: int | None
    score: int | None
    status: str | None
    measures: dict[str, Any]
    since: date | None


def _as_decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(TWO_PLACES)


def health_state(account_id: int, as_of: date | None = None) -> HealthState | None:
    """The account's health at the end of ``as_of`` (None or today: the current row); None
    when nothing was recorded by then."""
    today = clock.today()
    if as_of is None or as_of >= today:
        row = AccountHealth.objects.filter(account_id=account_id).first()
        if row is None:
            return None
        return HealthState(
            row.scorecard_id, row.version_id, row.score, row.status, row.measures or {}, row.day
        )
    row = (
        HealthHistory.objects.filter(account_id=account_id, day__lte=as_of)
        .order_by("-day", "-id")
        .first()
    )
    if row is None:
        return None
    return HealthState(
        row.scorecard_id, row.version_id, row.score, row.status, row.measures or {}, row.day
    )


@dataclass(frozen=True)
class _Shown:
    """A measure as a breakdown shows it: from the version of the definition that produced
    the scores (its weight then), with today's stored measure for its input value."""

    key: str
    label: str
    source: str
    weight: Decimal
    live: Measure | None


def _contributions(measures: list[_Shown], scores: dict[str, Any]) -> dict[str, Decimal]:
    """Each present measure's points in the total: weight × score ÷ Σ weight (present)."""
    present = [m for m in measures if scores.get(m.key) is not None]
    total_weight = sum((m.weight for m in present), Decimal(0))
    if not total_weight:
        return {}
    return {
        m.key: (m.weight * Decimal(str(scores[m.key])) / total_weight).quantize(
            TWO_PLACES, rounding=ROUND_HALF_UP
        )
        for m in present
    }


def _measures_shown(
    state: HealthState, scorecard: Scorecard | None, version: ScorecardVersion | None
) -> list[_Shown]:
    """The measures of the version that produced ``state`` (weights, labels of then); the
    scorecard's current measures for a row without a version (a scorecard deleted before
    versions were kept has none: no measures)."""
    live = {m.key: m for m in scorecard.measures.all()} if scorecard else {}
    if version is None:
        return [_Shown(m.key, m.label, m.source, m.weight, m) for m in live.values()]
    return [
        _Shown(m["key"], m["label"], m["source"], Decimal(str(m["weight"])), live.get(m["key"]))
        for m in version.definition.get("measures", [])
    ]


def _measure_value(measure: Measure, account: Account, today: date, attributes: dict) -> Any:
    """A measure's input value for an account today: the field's value, whether the
    condition matches, or the manual entry in force (score, comment, who, when)."""
    if measure.source == MeasureSource.FIELD:
        rule_field = registry.get(measure.field, attributes)
        return None if rule_field is None else json_actual(field_value(rule_field, account, today))
    if measure.source == MeasureSource.MANUAL:
        entry = (
            ManualEntry.objects.filter(
                account=account,
                measure=measure,
                entered_on__gt=today - timedelta(days=measure.valid_days),
                entered_on__lte=today,
            )
            .select_related("entered_by")
            .first()
        )
        if entry is None:
            return None
        return {
            "score": entry.score,
            "comment": entry.comment,
            "entered_by": entry.entered_by.username if entry.entered_by else None,
            "entered_on": entry.entered_on.isoformat(),
            "valid_until": (entry.entered_on + timedelta(days=measure.valid_days - 1)).isoformat(),
        }
    return None  # a condition's value is its score (100 matched, 0 not)


def account_health(account: Account, as_of: date | None = None) -> dict[str, Any]:
    """``{scorecard, score, status, measures: [{key, label, source, value, score, weight,
    contribution}], as_of}`` (DESIGN 12). ``scorecard`` is ``{id, name, version}``: the
    scorecard and the version of its definition that produced the health of that day,
    whose measures, labels and weights are shown (the weights in force then, not today's).
    ``contribution``: the measure's points in the score (weight × score ÷ the weights of
    the measures present; they add up to the unrounded score). Measures left out (no
    value, no valid entry) have score and contribution null. ``value`` is read for today
    only (past dates: null)."""
    today = clock.today()
    day = today if as_of is None or as_of > today else as_of
    state = health_state(account.pk, day)
    result: dict[str, Any] = {
        "scorecard": None,
        "score": None,
        "status": None,
        "measures": [],
        "as_of": day.isoformat(),
    }
    if state is None:
        return result
    scorecard = Scorecard.objects.filter(pk=state.scorecard_id).first()
    version = (
        ScorecardVersion.objects.filter(pk=state.version_id).first() if state.version_id else None
    )
    measures = _measures_shown(state, scorecard, version)
    contributions = _contributions(measures, state.measures)
    attributes = attribute_specs() if day == today else {}
    rows = []
    for measure in measures:
        score = state.measures.get(measure.key)
        value = None
        if day == today and measure.live is not None:
            value = _measure_value(measure.live, account, today, attributes)
        rows.append(
            {
                "key": measure.key,
                "label": measure.label,
                "source": measure.source,
                "value": value,
                "score": None if score is None else str(_as_decimal(score)),
                "weight": str(measure.weight.quantize(TWO_PLACES)),
                "contribution": None
                if measure.key not in contributions
                else str(contributions[measure.key]),
            }
        )
    if state.scorecard_id:
        name = scorecard.name if scorecard else (version.name if version else None)
        result["scorecard"] = {
            "id": state.scorecard_id,
            "name": name,
            "version": version.number if version else None,
        }
    result.update(score=state.score, status=state.status, measures=rows)
    return result


def account_health_history(account_id: int, since: date | None = None) -> list[dict[str, Any]]:
    """``[{day, score, status, scorecard, version}]``: the value in force on ``since``
    (default a year ago; dated ``since``) followed by every change after it, oldest first.
    Each row holds from its day until the next row's. ``version``: the number of the
    version of the scorecard's definition that produced it (null: not known)."""
    since = since or clock.today() - timedelta(days=365)
    rows = []
    start = health_state(account_id, since)
    if start is not None:
        number = (
            ScorecardVersion.objects.filter(pk=start.version_id)
            .values_list("number", flat=True)
            .first()
            if start.version_id
            else None
        )
        rows.append(
            {
                "day": since,
                "score": start.score,
                "status": start.status,
                "scorecard": start.scorecard_id,
                "version": number,
            }
        )
    later = (
        HealthHistory.objects.filter(account_id=account_id, day__gt=since)
        .order_by("day", "id")
        .values("day", "score", "status", "scorecard_id", "version__number")
    )
    for row in later:
        if rows and rows[-1]["day"] == row["day"]:
            rows.pop()  # the last change of a day is that day's value
        rows.append(
            {
                "day": row["day"],
                "score": row["score"],
                "status": row["status"],
                "scorecard": row["scorecard_id"],
                "version": row["version__number"],
            }
        )
    return [{**row, "day": row["day"].isoformat()} for row in rows]


def account_health_changes(
    account: Account, start: date, end: date, *, health_at_end: dict[str, Any] | None = None
) -> dict[str, Any]:
    """ "What moved the score" from the end of ``start`` to the end of ``end``: both
    scores and, per measure, its contribution on each date and the change, largest change
    (in absolute points) first. Contributions use the weights in force on each date (the
    version of the definition that produced that day's health); ``scorecard_changed``
    says when the two dates were scored by different scorecards, ``version_changed`` when
    by different versions of their definitions (a change of weights or thresholds too).
    ``health_at_end``: ``account_health(account, end)`` when the caller has it already."""
    before = account_health(account, start)
    after = health_at_end if health_at_end is not None else account_health(account, end)
    by_key: dict[str, dict[str, Any]] = {}
    for side, health in (("from", before), ("to", after)):
        for measure in health["measures"]:
            entry = by_key.setdefault(
                measure["key"], {"key": measure["key"], "label": measure["label"]}
            )
            entry[f"{side}_score"] = measure["score"]
            entry[f"{side}_contribution"] = measure["contribution"]
    changes = []
    for entry in by_key.values():
        low = Decimal(entry.get("from_contribution") or 0)
        high = Decimal(entry.get("to_contribution") or 0)
        entry.setdefault("from_score", None)
        entry.setdefault("to_score", None)
        entry.setdefault("from_contribution", None)
        entry.setdefault("to_contribution", None)
        entry["change"] = str(high - low)
        changes.append(entry)
    changes.sort(key=lambda e: (-abs(Decimal(e["change"])), e["key"]))
    score_change = (
        None
        if before["score"] is None or after["score"] is None
        else after["score"] - before["score"]
    )
    return {
        "from": {
            "day": before["as_of"],
            "score": before["score"],
            "status": before["status"],
            "scorecard": before["scorecard"],
        },
        "to": {
            "day": after["as_of"],
            "score": after["score"],
            "status": after["status"],
            "scorecard": after["scorecard"],
        },
        "score_change": score_change,
        "scorecard_changed": (before["scorecard"] or {}).get("id")
        != (after["scorecard"] or {}).get("id"),
        "version_changed": _version_key(before) != _version_key(after),
        "measures": changes,
    }


def _version_key(health: dict[str, Any]) -> tuple[Any, Any]:
    scorecard = health["scorecard"] or {}
    return scorecard.get("id"), scorecard.get("version")


def health_by_account(account_ids: Iterable[int]) -> dict[int, tuple[int | None, str | None]]:
    """``{account id: (score, status)}`` for badges on a page of accounts (one query);
    accounts never scored are left out."""
    rows = AccountHealth.objects.filter(account_id__in=list(account_ids)).values_list(
        "account_id", "score", "status"
    )
    return {account_id: (score, status) for account_id, score, status in rows}


def _split(rows: Iterable[dict]) -> dict[str, dict[str, Any]]:
    result = {str(status): {"count": 0, "arr": Decimal(0)} for status in STATUSES}
    for row in rows:
        bucket = result[str(row["status"])]
        bucket["count"] += row["count"]
        bucket["arr"] += row["arr"] or Decimal(0)
    return result


def status_split(accounts: QuerySet[Account]) -> dict[str, dict[str, Any]]:
    """``{"red"|"yellow"|"green"|"None": {count, arr}}`` of ``accounts`` now (one grouped
    query; "None": not scored)."""
    rows = (
        accounts.order_by()
        .values(status=F("health__status"))
        .annotate(count=Count("id"), arr=Sum("arr"))
    )
    return _split(rows)


def status_split_as_of(accounts: QuerySet[Account], day: date) -> dict[str, dict[str, Any]]:
    """The same split on a past ``day``, from the history (the status in force at the end
    of ``day``); ARR is today's ARR of those accounts (ARR on a date: segments analytics)."""
    status_then = (
        HealthHistory.objects.filter(account_id=OuterRef("pk"), day__lte=day)
        .order_by("-day", "-id")
        .values("status")[:1]
    )
    rows = (
        accounts.order_by()
        .annotate(status_then=Subquery(status_then))
        .values(status=F("status_then"))
        .annotate(count=Count("id"), arr=Sum("arr"))
    )
    return _split(rows)
