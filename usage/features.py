"""The window values the usage rule fields read (``UsageFeatures``), kept as of one day
per metric (``UsageFeatureState.as_of``; docs/usage.md, "How the windows are stored").

Three set-based ways keep them right, each under the usage writers' lock
(``usage_writers_lock``: ingestion, the slide, retention and deleting accounts never
overlap):

- **changes** (``features_apply_changes``): ingestion writes the daily rows, keeps their
  old and new values in ``usage_daily_changes``, and adds each changed day's difference to
  the windows that hold it, for the changed (account, metric) pairs only (late data for
  past days included): ``sql/usage_features_apply_changes.sql``;
- **slide** (``usage_features_slide``): after the day changes, the windows move on by the
  day that enters and the days that leave them (nine days of rows, not the whole
  window), one day at a time: ``sql/usage_features_slide.sql``; more than
  ``MAX_SLIDE_DAYS`` behind, a rebuild;
- **rebuild** (``usage_features_rebuild``): every pair recomputed from the daily table in
  one statement (``sql/usage_features_rebuild.sql``): the first build of a metric, after
  a long gap, or after rows were bulk-loaded without ingestion (the demo data).

A metric whose features are not as of the day a rule asks for is never read stale: the
rule fields check ``as_of`` inside the statement and otherwise aggregate the daily table
(``usage.rule_fields``).
"""

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from django.db import connection, transaction

from cs_platform import clock
from cs_platform.db import dialect, load_sql, table_name

from . import windows
from .models import FEATURE_WINDOWS, UsageFeatures, UsageFeatureState, UsageMetric

# The slide moves one day at a time (one UPDATE of the accounts with a row on the nine
# days read); further behind than this, one rebuild costs less than the slides.
MAX_SLIDE_DAYS = 6
CHANGES_TABLE = "usage_daily_changes"
ADDED_PAIRS_TABLE = "usage_features_added"
# In the statements that apply changes, the place of the condition that limits them to
# the pairs just given their first row (``ADDED_PAIRS_TABLE``), empty otherwise.
ONLY_ADDED_PAIRS = "/* only added pairs */"
_ADDED_PAIRS_CONDITION = (
    f"AND EXISTS (SELECT 1 FROM {ADDED_PAIRS_TABLE} p "
    "WHERE p.account_id = c.account_id AND p.metric_id = c.metric_id)"
)
# A rebuild groups every (account, metric) at once (some thirty sums and maxima each):
# room to do it in memory, for that transaction only; beyond it PostgreSQL spills to disk.
REBUILD_SETTINGS = {"work_mem": "256MB"}
# The slide groups the rows of nine days by account (a dozen values each): 64 MB keeps
# 100,000 accounts in memory (the default 4 MB spilled to disk).
SLIDE_SETTINGS = {"work_mem": "64MB"}
# The advisory lock that serializes the writers of usage data (ingestion, the slide,
# retention) and deleting accounts (``usage.receivers``): each computes from rows the
# others would change (old values, the days leaving a window).
USAGE_WRITERS_LOCK = 0x55534147  # "USAG"

assert FEATURE_WINDOWS == windows.WINDOWS, "usage.models and usage.windows disagree"


def window_params(today: date) -> dict[str, date]:
    """The bounds of every window ending ``today``: ``from_N`` = today−N+1 (the window's
    first day) and ``prev_from_N`` = today−2N+1 (the previous window's first day)."""
    params = {"today": today}
    for days in windows.WINDOWS:
        params[f"from_{days}"] = windows.window_start(today, days)
        params[f"prev_from_{days}"] = windows.window_start(today, 2 * days)
    return params


def usage_writers_lock() -> None:
    """Take the usage writers' lock until the end of the current transaction (a no-op on
    SQLite, where a writing transaction holds the whole database)."""
    dialect().xact_lock(USAGE_WRITERS_LOCK)


def features_as_of(metric_ids: Iterable[int]) -> dict[int, date]:
    """The ``as_of`` of each of ``metric_ids`` whose features are built (the others have
    none to keep)."""
    states = UsageFeatureState.objects.filter(metric_id__in=set(metric_ids), as_of__isnull=False)
    return dict(states.values_list("metric_id", "as_of"))


def window_days(today: date) -> dict[str, str]:
    """``days_N``: the stored days of each window as of ``today`` (today−N+1 … today−1:
    today's own row is read live by the rules) as a list of quoted ISO dates, for the
    statements that look a window up by key (``day IN (...)``: one index descent per day,
    where a range of days would read every account's rows in it). Dates made here, never
    input, so they are written into the statement."""
    return {
        f"days_{days}": ", ".join(
            f"'{(today - timedelta(days=back)).isoformat()}'" for back in range(1, days)
        )
        for days in windows.WINDOWS
    }


def changes_table_ensure(cursor) -> None:
    """The per-connection tables of changed daily rows and of the (account, metric) pairs
    that got their first window-values row (both emptied at commit on PostgreSQL)."""
    db = dialect()
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {CHANGES_TABLE} (account_id {db.bigint} NOT "
        f"NULL, metric_id {db.bigint} NOT NULL, day date NOT NULL, old_value numeric(18, 4), "
        f"new_value numeric(18, 4) NOT NULL){db.temp_table_suffix}"
    )
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {ADDED_PAIRS_TABLE} (account_id {db.bigint} "
        f"NOT NULL, metric_id {db.bigint} NOT NULL){db.temp_table_suffix}"
    )


def features_apply_changes(
    cursor, as_of_by_metric: dict[int, date], *, one_day_per_pair: bool
) -> None:
    """Add the changed daily rows of ``CHANGES_TABLE`` (already written to the daily
    table) to the features of the built metrics among them (``features_as_of``; the
    caller holds the usage writers' lock). One UPDATE per distinct ``as_of`` (normally
    one) of the pairs that have a row; only when it updated fewer rows than the changes
    have pairs (a pair's first data) are the missing rows inserted (zeros) and updated
    in turn: looking for missing rows in every batch cost more than the update (an
    anti-join of the batch with every account's row). ``one_day_per_pair``: no
    (account, metric) changed on two days, so the changes need no grouping."""
    statement = (
        "usage_features_apply_changes_one_day"
        if one_day_per_pair
        else "usage_features_apply_changes"
    )
    by_day: dict[date, list[int]] = {}
    for metric_id, as_of in as_of_by_metric.items():
        by_day.setdefault(as_of, []).append(metric_id)
    for as_of, metric_ids in sorted(by_day.items()):
        metrics = _id_list(metric_ids)
        sql = load_sql("usage", statement, metrics=metrics, **window_days(as_of))
        params = window_params(as_of)
        cursor.execute(sql.replace(ONLY_ADDED_PAIRS, ""), params)
        updated = cursor.rowcount
        pairs = "*" if one_day_per_pair else "DISTINCT account_id, metric_id"
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT {pairs} FROM {CHANGES_TABLE} "
            f"WHERE metric_id IN ({metrics}) AND day < %(today)s) changed",
            params,
        )
        if cursor.fetchone()[0] == updated:
            continue
        cursor.execute(f"DELETE FROM {ADDED_PAIRS_TABLE}")
        cursor.execute(load_sql("usage", "usage_features_add_pairs", metrics=metrics), params)
        cursor.execute(
            f"INSERT INTO {table_name(UsageFeatures)} (account_id, metric_id) "
            f"SELECT account_id, metric_id FROM {ADDED_PAIRS_TABLE}"
        )
        cursor.execute(sql.replace(ONLY_ADDED_PAIRS, _ADDED_PAIRS_CONDITION), params)


def usage_features_slide(
    *, today: date | None = None, fields: Iterable[str] | None = None
) -> dict[int, str]:
    """Bring every metric's features to ``today`` (the day-change job): slid one day at a
    time when at most ``MAX_SLIDE_DAYS`` days behind, else rebuilt. ``fields``: only the
    metrics these rule field names read (``usage.KEY.…``). One transaction per metric.
    Returns what was done per metric id ("current", "slid" or "rebuilt"). Idempotent."""
    today = today or clock.today()
    metrics = UsageMetric.objects.order_by("pk")
    if fields is not None:
        metrics = metrics.filter(key__in=metric_keys_named(fields))
    return {
        metric_id: _metric_slide(metric_id, today)
        for metric_id in metrics.values_list("pk", flat=True)
    }


def metric_keys_named(fields: Iterable[str]) -> set[str]:
    """The metric keys of the ``usage.KEY.…`` names among ``fields``."""
    return {
        name.split(".")[1]
        for name in fields
        if isinstance(name, str) and name.startswith("usage.") and name.count(".") == 2
    }


@transaction.atomic
def _metric_slide(metric_id: int, today: date) -> str:
    usage_writers_lock()
    as_of = features_as_of([metric_id]).get(metric_id)
    if as_of == today:
        return "current"
    if as_of is None or not 0 < (today - as_of).days <= MAX_SLIDE_DAYS:
        _rebuild([metric_id], today)
        return "rebuilt"
    with connection.cursor() as cursor:
        dialect().tune_transaction(cursor)
        dialect().set_local(cursor, SLIDE_SETTINGS)
        day = as_of
        while day < today:
            day += timedelta(days=1)
            cursor.execute(
                load_sql("usage", "usage_features_slide_add_pairs"),
                {"metric": metric_id, "today_1": day - timedelta(days=1)},
            )
            cursor.execute(
                load_sql("usage", "usage_features_slide", **window_days(day)),
                _slide_params(metric_id, day),
            )
    _state_set([metric_id], today)
    return "slid"


def _slide_params(metric_id: int, today: date) -> dict:
    """The metric, the new day and ``today_N`` = today−N for every N a window or the one
    before it reaches back (N and 2N)."""
    params: dict = {"metric": metric_id, "today": today}
    for days in sorted({1, *windows.WINDOWS, *(2 * n for n in windows.WINDOWS)}):
        params[f"today_{days}"] = today - timedelta(days=days)
    return params


@transaction.atomic
def usage_features_rebuild(*, metric_ids: Sequence[int] | None = None, today: date | None = None):
    """Recompute the features of ``metric_ids`` (default: every metric) from the daily
    table, as of ``today``: after rows were loaded without ingestion (bulk loads), or to
    repair. Returns the number of (account, metric) rows written."""
    today = today or clock.today()
    ids = list(UsageMetric.objects.order_by("pk").values_list("pk", flat=True))
    if metric_ids is not None:
        ids = [metric_id for metric_id in ids if metric_id in set(metric_ids)]
    usage_writers_lock()
    return _rebuild(ids, today)


def _rebuild(metric_ids: list[int], today: date) -> int:
    if not metric_ids:
        return 0
    UsageFeatures.objects.filter(metric_id__in=metric_ids).delete()
    with connection.cursor() as cursor:
        dialect().tune_transaction(cursor)
        dialect().set_local(cursor, REBUILD_SETTINGS)
        cursor.execute(
            load_sql("usage", "usage_features_rebuild", metrics=_id_list(metric_ids)),
            window_params(today),
        )
        written = cursor.rowcount
        # Fresh statistics for the plans of the next slide and ingestion.
        dialect().analyze(cursor, table_name(UsageFeatures))
    _state_set(metric_ids, today)
    return written


def _state_set(metric_ids: list[int], as_of: date) -> None:
    for metric_id in metric_ids:
        UsageFeatureState.objects.update_or_create(metric_id=metric_id, defaults={"as_of": as_of})


def features_state_create(metric: UsageMetric, *, today: date) -> None:
    """A new metric has no daily rows, so its (empty) features are right as of today."""
    UsageFeatureState.objects.update_or_create(metric=metric, defaults={"as_of": today})


def features_forget_before(cutoff: date) -> int:
    """After the daily rows before ``cutoff`` were deleted (retention): a last active day
    before it had no active day after it up to ``as_of``, so none is left. The windows
    read nothing that old (retention keeps at least ``windows.MAX_DAYS_READ`` + 1 days)."""
    return UsageFeatures.objects.filter(last_active__lt=cutoff).update(last_active=None)


def _id_list(ids: Iterable[int]) -> str:
    return ", ".join(str(int(metric_id)) for metric_id in sorted(ids))
