"""Preview and backtest of a scorecard's draft (docs/health.md, "Draft and backtest").

``draft_preview`` answers, without writing anything:

- **today**: the red / yellow / green (and unscored) counts and ARR of the accounts the
  draft would score, next to what the live definition gives them now;
- **backtest**: over the contracts that came up for renewal in the last 12 months — end
  date in (today − 365, today] and an outcome recorded: status ``renewed`` or ``churned``
  (the renewal outcome this product records on the contract; ``active`` ones past their
  end date are undecided, ``cancelled`` ones are not renewals: the definitions of
  docs/metrics.md) — each account scored by the draft as of the day 90 days before the
  contract's end date, and the churn rate (churned ÷ contracts) per status band.

"As of D" reads what is stored for D: usage windows end on D (the daily usage table),
relative dates count from D, manual scores are the entries valid on D. Account attributes
(open tickets, champion, …) have no history in this product, so they are read as they
are today; the response lists which measures that concerns. Accounts are assigned to
scorecards by today's segment memberships.

The backtest is one set-based statement over the renewal contracts, each row scored as
of its own day (``engine.per_row_day``: usage windows from the daily table through its
index, manual scores and relative dates from that day); a definition that cannot be read
that way is scored with one statement per renewal date.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, FilteredRelation, Q, QuerySet, Sum

from cs_platform import clock
from cs_platform.db import dialect
from customers.models import Account, Contract, ContractStatus
from segments.engine.targets import attribute_specs

from .definitions import ScorecardSpec, live_specs, ordered, spec_from_draft, spec_from_scorecard
from .engine import per_row_day, spec_id, target_select, work_tables_ensure
from .models import AccountHealth, MeasureSource, Scorecard

WINDOW_DAYS = 365
DAYS_BEFORE_RENEWAL = 90
# Fewer renewals than this in the window, overall or in a band: too thin to judge.
MIN_CONTRACTS = 30
MIN_BAND_CONTRACTS = 10
BANDS = ("red", "yellow", "green", "unscored")
OUTCOMES = (ContractStatus.RENEWED, ContractStatus.CHURNED)
# The alias of the renewal contract joined to each account row of the backtest.
RENEWAL = "health_renewal"
# The statement over every renewal (PostgreSQL; put back after it): each renewal's usage
# windows read its account's few daily rows by index, not through a bitmap built for each
# (at 1M accounts, 249,999 renewals: 12.5 s and 13.2 s against 16.9 s and 17.8 s).
PER_ROW_SETTINGS = {"enable_bitmapscan": "off"}


@dataclass
class _Band:
    contracts: int = 0
    churned: int = 0

    def as_dict(self) -> dict[str, Any]:
        rate = None
        if self.contracts:
            rate = str(
                (Decimal(self.churned) / self.contracts).quantize(
                    Decimal("0.0001"), rounding=ROUND_HALF_UP
                )
            )
        return {
            "contracts": self.contracts,
            "churned": self.churned,
            "churn_rate": rate,
            "too_thin": self.contracts < MIN_BAND_CONTRACTS,
        }


@dataclass
class _Backtest:
    bands: dict[str, _Band] = field(default_factory=lambda: {b: _Band() for b in BANDS})


def _split(rows: list[tuple]) -> dict[str, dict[str, Any]]:
    result = {band: {"count": 0, "arr": "0.00"} for band in BANDS}
    for status, count, arr in rows:
        result[status or "unscored"] = {
            "count": count,
            "arr": str(Decimal(str(arr or 0)).quantize(Decimal("0.01"))),
        }
    return result


def _live_split(scorecard_id: int) -> dict[str, dict[str, Any]]:
    rows = (
        AccountHealth.objects.filter(scorecard_id=scorecard_id)
        .order_by()
        .values_list("status")
        .annotate(count=Count("account_id"), arr=Sum("account__arr"))
    )
    return _split([(status, count, arr) for status, count, arr in rows])


def _history_notes(spec: ScorecardSpec) -> list[str]:
    notes = []
    for measure in spec.measures:
        if measure.source == MeasureSource.FIELD and not measure.field.startswith("usage."):
            notes.append(f"{measure.key}: {measure.field} has no history; today's value is used")
        if measure.source == MeasureSource.CONDITION:
            notes.append(
                f"{measure.key}: usage fields and relative dates as of that day; other "
                "account attributes as they are today"
            )
    return notes


def _renewals(first: date, today: date) -> QuerySet[Account]:
    """One row per contract that came up for renewal in (``first``, ``today``] with an
    outcome: its account, joined to it as ``RENEWAL``."""
    window = Q(
        contracts__end_date__gt=first,
        contracts__end_date__lte=today,
        contracts__status__in=OUTCOMES,
    )
    return Account.objects.alias(
        **{RENEWAL: FilteredRelation("contracts", condition=window)}
    ).filter(**{f"{RENEWAL}__id__isnull": False})


def _backtest_counts(
    specs: list[ScorecardSpec], spec: ScorecardSpec, first: date, today: date, cursor: Any
) -> list[tuple]:
    """(status, outcome, contracts) of the renewals of the accounts ``spec`` takes, each
    scored as of ``DAYS_BEFORE_RENEWAL`` days before its contract's end date: one statement
    (``per_row_day``), or one per end date when the definition cannot be read that way."""
    attributes = attribute_specs()
    outcome = {"health_outcome": F(f"{RENEWAL}__status")}
    group = (
        "SELECT t.status, t.health_outcome, COUNT(*) FROM ({target}) t "
        f"WHERE t.scorecard_id = {spec_id(spec)} GROUP BY t.status, t.health_outcome"
    )

    def build(accounts: QuerySet[Account], day: date) -> tuple[str, list[Any]]:
        # Scored as of past days: usage windows from the daily table, without the
        # joins of the window features (as of today) and of "today's" daily row.
        target = target_select(
            specs,
            accounts,
            today=day,
            attributes=attributes,
            scored=[spec],
            extra=outcome,
            field_joins=False,
        )
        return target.sql, target.params

    renewals = _renewals(first, today)
    day_sql = dialect().day_plus(f"{RENEWAL}.end_date", -DAYS_BEFORE_RENEWAL)
    statement = per_row_day(lambda day: build(renewals, day), day_sql)
    if statement is not None:
        with dialect().local_settings(cursor, PER_ROW_SETTINGS):
            cursor.execute(group.format(target=statement[0]), statement[1])
            return cursor.fetchall()
    rows: list[tuple] = []
    contracts = Contract.objects.filter(
        end_date__gt=first, end_date__lte=today, status__in=OUTCOMES
    )
    end_dates = contracts.order_by("end_date").values_list("end_date", flat=True).distinct()
    for end_date in end_dates:
        on_day = _renewals(end_date - timedelta(days=1), end_date)
        sql, params = build(on_day, end_date - timedelta(days=DAYS_BEFORE_RENEWAL))
        cursor.execute(group.format(target=sql), params)
        rows.extend(cursor.fetchall())
    return rows


def _backtest(
    specs: list[ScorecardSpec], spec: ScorecardSpec, today: date, cursor: Any
) -> dict[str, Any]:
    first = today - timedelta(days=WINDOW_DAYS)
    result = _Backtest()
    for band, outcome, count in _backtest_counts(specs, spec, first, today, cursor):
        bucket = result.bands[band or "unscored"]
        bucket.contracts += count
        if outcome == ContractStatus.CHURNED:
            bucket.churned += count
    total = sum(b.contracts for b in result.bands.values())
    churned = sum(b.churned for b in result.bands.values())
    too_thin = total < MIN_CONTRACTS
    return {
        "window": {"from": (first + timedelta(days=1)).isoformat(), "to": today.isoformat()},
        "days_before_renewal": DAYS_BEFORE_RENEWAL,
        "contracts": total,
        "churned": churned,
        "bands": {band: bucket.as_dict() for band, bucket in result.bands.items()},
        "too_thin": too_thin,
        "message": (
            f"Only {total} renewals with an outcome in the last 12 months among the accounts "
            f"this scorecard scores; at least {MIN_CONTRACTS} are needed to judge."
            if too_thin
            else ""
        ),
        "notes": _history_notes(spec),
    }


def draft_preview(*, scorecard: Scorecard, today: date | None = None) -> dict[str, Any]:
    """What the scorecard's draft (its live definition when it has none) would give today
    and in the backtest; writes nothing. Raises ValidationError when the draft is no
    longer valid (a field or segment gone)."""
    scorecard = Scorecard.objects.get(pk=scorecard.pk)  # the draft as stored now
    draft = spec_from_draft(scorecard)
    result = definition_preview(spec=draft or spec_from_scorecard(scorecard), today=today)
    return {**result, "definition": "draft" if draft else "live"}


def definition_preview(
    *, spec: ScorecardSpec, today: date | None = None, backtest: bool = True
) -> dict[str, Any]:
    """What a validated definition (``definition_validate``; ``spec.id`` None: a scorecard
    not created yet) would give today, next to the live split of the scorecard it
    replaces, and (``backtest``) in the backtest; writes nothing. The admin's live preview
    asks without the backtest (one statement over every renewal of the last 12 months)."""
    today = today or clock.today()
    others = [s for s in live_specs() if spec.id is None or s.id != spec.id]
    specs = ordered([*others, spec])
    # The scorecards before it take their accounts first; those after it do not matter.
    specs = specs[: next(i for i, s in enumerate(specs) if s is spec) + 1]
    with transaction.atomic(), connection.cursor() as cursor:
        work_tables_ensure(cursor)
        target = target_select(
            specs,
            Account.objects.all(),
            today=today,
            attributes=attribute_specs(),
            scored=[spec],
            extra={"health_arr": F("arr")},
            manual_join=True,
        )
        cursor.execute(
            f"SELECT t.status, COUNT(*), SUM(t.health_arr) FROM ({target.sql}) t "
            f"WHERE t.scorecard_id = {spec_id(spec)} GROUP BY t.status",
            target.params,
        )
        split = _split(cursor.fetchall())
        tested = _backtest(specs, spec, today, cursor) if backtest else None
    live = _live_split(spec.id) if spec.id is not None else _split([])
    return {
        "scorecard": spec.id,
        "definition": "draft",
        "today": {"day": today.isoformat(), "draft": split, "live": live},
        "backtest": tested,
    }
