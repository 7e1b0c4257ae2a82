"""A health run: compute the target health of the accounts in scope (``targets``) and diff
it against the stored current health in one statement, then write only what changed (current rows, one history
row per changed account, ``Account.health_score``), then flag the changed accounts for the
segment sweep so health segments follow. A run that changes nothing writes nothing.

Runs are serialized by one advisory lock (PostgreSQL; SQLite has one writer anyway), held
to the end of the run's transaction. Lock order, so nothing can deadlock: a segment sweep
batch takes its marks, then this lock (its health rescoring, ``segments.signals.
accounts_evaluating``); a run holding the lock never waits for a mark (it marks with ON
CONFLICT DO NOTHING) nor for an account row (it copies scores with SKIP LOCKED).
"""

from dataclasses import dataclass
from datetime import date

from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from cs_platform import clock
from cs_platform.db import dialect, load_sql, table_name
from customers.models import Account
from customers.services import accounts_mark_changed_matching
from segments.engine.targets import attribute_specs

from ..definitions import ScorecardSpec, live_specs
from ..models import AccountHealth, HealthHistory
from .targets import (
    CHANGED_TABLE,
    SCOPE_TABLE,
    scope_accounts,
    scope_fill,
    target_select,
    version_sql,
    work_tables_ensure,
)

HEALTH_LOCK = 0x484C5448  # "HLTH"
# Memory for the hash joins of a full run, for its transaction only.
FULL_RUN_SETTINGS = {"work_mem": "128MB"}
# The accounts whose health changed (not those whose stored digest was only filled in).
CHANGED_IDS = f"SELECT account_id FROM {CHANGED_TABLE} WHERE real_change = 1"


@dataclass
class HealthRunResult:
    # The accounts the run computed (its scope); None for a full run, which computes every
    # account (counting them is a scan of the accounts table of its own: 1.4 s at 1M).
    scored: int | None = 0
    changed: int = 0
    scores_copied: int = 0
    marked: int = 0


def _distinct(column: str) -> str:
    return dialect().is_distinct(f"c.{column}", f"t.{column}")


@transaction.atomic
def health_recompute(
    *,
    accounts: QuerySet[Account] | None = None,
    today: date | None = None,
    mark_changed: bool = True,
    specs: list[ScorecardSpec] | None = None,
) -> HealthRunResult:
    """Recompute the health of ``accounts`` (every account when None) on ``today``.

    ``mark_changed``: flag the accounts whose health changed for the segment sweep (and
    send ``accounts_changed`` after commit). The sweep's own rescoring passes False: its
    batch evaluates the segments right after, in the same transaction.
    ``specs``: the scorecards (default: every stored scorecard's live definition).

    With no scorecard and no stored health nothing is computed or written, so a site that
    never defined a scorecard keeps ``Account.health_score`` as it is.
    """
    today = today or clock.today()
    result = HealthRunResult()
    db = dialect()
    db.xact_lock(HEALTH_LOCK)
    specs = live_specs() if specs is None else specs
    if not specs and not AccountHealth.objects.exists():
        return result
    tables = {
        "changed": CHANGED_TABLE,
        "current": table_name(AccountHealth),
        "history": table_name(HealthHistory),
        "account": table_name(Account),
    }
    with connection.cursor() as cursor:
        work_tables_ensure(cursor)
        if accounts is None:
            base, scope = Account.objects.all(), f"SELECT id FROM {tables['account']}"
            result.scored = None
        else:
            result.scored = scope_fill(cursor, accounts)
            base, scope = scope_accounts(), f"SELECT account_id FROM {SCOPE_TABLE}"
        # A full run reads every account's manual scores through a join (hashed); a
        # partial run probes its accounts' entries by key.
        target = target_select(
            specs, base, today=today, attributes=attribute_specs(), manual_join=accounts is None
        )
        diff = load_sql(
            "health",
            "health_diff",
            **tables,
            target=target.sql,
            measures=target.measures,
            version=version_sql(specs, "t.scorecard_id"),
            distinct_scorecard=_distinct("scorecard_id"),
            distinct_version=db.is_distinct("c.version_id", version_sql(specs, "t.scorecard_id")),
            distinct_score=_distinct("score"),
            distinct_status=_distinct("status"),
            distinct_digest=db.is_distinct("c.measures_digest", "t.digest"),
            # Read by key for the few rows whose digest differs: the stored JSON is not
            # carried through the join of every account (it made the hash of the stored
            # rows four times wider, and spill to disk at 1M).
            distinct_measures=db.is_distinct(
                f"(SELECT x.measures FROM {tables['current']} x WHERE x.account_id = t.account_id)",
                f"({target.measures})",
            ),
        )
        # A full run hashes the memberships and the usage features of every account (at
        # 1M accounts the default 4 MB split them into batches on disk); a partial run (a
        # sweep batch) reads its accounts' rows by key, however big the tables: the planner
        # would hash whole tables for a few thousand accounts. Put back after (the
        # sweep's transaction goes on).
        planner = FULL_RUN_SETTINGS if accounts is None else db.index_join_settings
        with db.local_settings(cursor, planner):
            cursor.execute(diff, target.params)
            if max(cursor.rowcount, 0):
                cursor.execute(f"SELECT COUNT(*), SUM(real_change) FROM {CHANGED_TABLE}")
                rows, real = cursor.fetchone()
                result.changed = int(real or 0)
                if rows > result.changed:
                    cursor.execute(load_sql("health", "health_digest_fill", **tables))
            if result.changed:
                cursor.execute(load_sql("health", "health_current_upsert", **tables), [today])
                cursor.execute(
                    load_sql("health", "health_history_insert", **tables), [today, timezone.now()]
                )
            # The column is copied for the changed accounts; a partial run copies it for its
            # whole scope, which also repairs a copy skipped earlier (a row another transaction
            # held: every writer of an account marks it, so it comes back in a sweep batch).
            synced = scope if accounts is not None else CHANGED_IDS
            if accounts is not None or result.changed:
                sync = load_sql("health", "health_account_score_sync", **tables, scope=synced)
                cursor.execute(sync)
                result.scores_copied = max(cursor.rowcount, 0)
    if result.changed and mark_changed:
        changed = Account.objects.filter(id__in=RawSQL(CHANGED_IDS, []))  # noqa: S611 (constant)
        result.marked = accounts_mark_changed_matching(accounts=changed, wait_for_sweep=False)
    return result
