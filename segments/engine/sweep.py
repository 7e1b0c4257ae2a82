"""The sweep of changed accounts: the accounts marked for re-evaluation
(``customers.models.PendingEvaluation``) re-evaluated against every active dynamic
segment, in bounded batches."""

from dataclasses import dataclass, field
from datetime import date

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from cs_platform import clock
from cs_platform.db import dialect, table_name
from customers.models import Account, PendingEvaluation
from customers.selectors import account_ids_pending_evaluation
from rules import RuleValidationError

from ..models import Membership, Segment, SegmentKind
from ..signals import accounts_evaluated, accounts_evaluating
from . import events
from .diff import membership_diff_apply
from .recompute import segment_writers_lock
from .segments_diff import segments_diff_apply
from .targets import VersionRules, attribute_specs, segment_ranked_top_among
from .work_tables import BATCH_TABLE, batch_accounts, work_tables_ensure

# Accounts re-evaluated per sweep transaction. A batch holds row locks on its accounts
# until it commits (account writes to those rows wait), and costs two statements per
# active dynamic segment, each joining the batch against accounts and memberships: about
# 5-10 ms per segment for 10k accounts on PostgreSQL, so ~1 s for 100 segments.
SWEEP_BATCH_SIZE = 10_000
# Batches per sweep task run (bounded work); the task re-enqueues itself when more remain.
SWEEP_MAX_BATCHES = 20


@dataclass
class SweepResult:
    accounts: int = 0
    batches: int = 0
    entered: int = 0
    exited: int = 0
    remaining: bool = False
    ranked_recomputed: list[int] = field(default_factory=list)


def segments_evaluate_changed_accounts(
    *,
    batch_size: int = SWEEP_BATCH_SIZE,
    max_batches: int = SWEEP_MAX_BATCHES,
    today: date | None = None,
) -> SweepResult:
    """Re-evaluate the accounts marked for it (``customers.models.PendingEvaluation``)
    against every active dynamic segment, in batches of ``batch_size`` (at most
    ``max_batches``).

    Each batch is one transaction: it takes the next marks in account id order with
    ``SELECT ... FOR UPDATE SKIP LOCKED`` (so concurrent sweeps share the work),
    re-evaluates only those accounts against each unranked segment (partial recompute),
    and deletes the marks it took; account rows are neither locked nor written. A write
    to an account while a batch holds its mark re-marks it: the writer's upsert waits for
    the batch to commit, then inserts a new mark, so the account is swept again with its
    new values (see ``customers.services.accounts_mark_changed``).
    A ranked segment's top N can move with any account, so a batch recomputes it among
    the batch and its stored members only, and keeps that result when it provably is the
    real top N (``_ranked_batch_apply``); otherwise (or in an exclusive group) the batch
    requests a full recompute of the segment (``events.recompute_request``: an outbox
    row written in the batch's transaction, so a worker killed right after the batch
    commits cannot lose it; one queued per segment, run by a ``segments.recompute`` task).
    ``ranked_recomputed`` lists those segments. Exclusive groups need nothing else:
    exclusion reads the other segments' current rules.
    """
    today = today or clock.today()
    result = SweepResult()
    needs_full: set[int] = set()
    for _ in range(max_batches):
        taken, entered, exited = _evaluate_changed_batch(
            batch_size=batch_size, today=today, needs_full=needs_full
        )
        if not taken:
            break
        result.batches += 1
        result.accounts += taken
        result.entered += entered
        result.exited += exited
    else:
        result.remaining = account_ids_pending_evaluation().exists()
    result.ranked_recomputed = sorted(needs_full)
    return result


@transaction.atomic
def _evaluate_changed_batch(
    *, batch_size: int, today: date, needs_full: set[int]
) -> tuple[int, int, int]:
    """One sweep batch (one transaction); requests a full recompute of the ranked
    segments it could not update from the batch alone, and adds them to ``needs_full``."""
    pending = table_name(PendingEvaluation)
    db = dialect()
    with connection.cursor() as cursor:
        work_tables_ensure(cursor)
        cursor.execute(f"DELETE FROM {BATCH_TABLE}")
        cursor.execute(
            f"INSERT INTO {BATCH_TABLE} (account_id) SELECT account_id FROM {pending} "
            f"ORDER BY account_id LIMIT %s{db.skip_locked}",
            [batch_size],
        )
        taken = cursor.rowcount
        if not taken:
            return 0, 0, 0
        db.analyze(cursor, BATCH_TABLE)
    # Derived rule values (health scores) of the batch's accounts first, same transaction.
    accounts_evaluating.send(sender=Segment, accounts=batch_accounts(), today=today)
    # Lock every swept segment at once, in id order (as every other locker does, so two
    # sweeps cannot deadlock); a recompute of one of them waits for this batch.
    swept = Segment.objects.filter(
        is_active=True, kind=SegmentKind.DYNAMIC, current_version__isnull=False
    )
    segment_writers_lock(swept.values_list("pk", flat=True))
    segments = list(
        swept.select_for_update(of=("self",)).select_related("current_version").order_by("pk")
    )
    rules = VersionRules(today=today, attributes=attribute_specs())
    unranked = [s for s in segments if not s.current_version.rank_by]
    changes = segments_diff_apply(segments=unranked, rules=rules, now=timezone.now()).changes
    for segment in segments:
        if segment.current_version.rank_by:
            ranked_change = _ranked_batch_apply(segment=segment, rules=rules)
            if ranked_change is None:
                # In this transaction: done in-process after the commit, it was lost
                # when the worker died in between (found by scripts/chaos/run.py).
                events.recompute_request(segment_id=segment.pk, version_id=None)
                needs_full.add(segment.pk)
            elif any(ranked_change):
                changes[segment.pk] = ranked_change
    _marks_delete(pending)
    # Values that depend on the new memberships (a health scorecard per segment).
    accounts_evaluated.send(sender=Segment, accounts=batch_accounts(), today=today)
    events.count_adjust({sid: entered - exited for sid, (entered, exited) in changes.items()})
    entered = sum(e for e, _ in changes.values())
    exited = sum(x for _, x in changes.values())
    return taken, entered, exited


def _ranked_batch_apply(*, segment: Segment, rules: VersionRules) -> tuple[int, int] | None:
    """Bring a ranked segment up to date after the batch's accounts changed without a
    full scan; returns (entered, exited), or None when that cannot be proven right (the
    caller then recomputes the segment in full).

    Only the batch's accounts changed, so every other account keeps its rank key, and
    each one that is not a stored member ranked below every stored member (they were the
    top N). Rank the candidates (batch + stored members) alone, and let W be the lowest
    ranked stored member outside the batch: every non-candidate still ranks below W. So
    the candidates' top N is the real top N when W's position is N or more (all N rank
    at or above W), or when fewer than N accounts were stored (they were every matching
    account, and the others still do not match). Segments of an exclusive group (the
    top N of other segments decides what they may hold) and never-computed ones are
    left to the full recompute.

    Like every partial run, this trusts the stored membership to be up to date apart
    from the marked accounts (the periodic full recompute restores it otherwise).
    """
    version = segment.current_version
    if segment.exclusive_group_id or segment.last_computed_at is None or not version.rank_limit:
        return None
    members = table_name(Membership)
    stored = Membership.objects.filter(segment_id=segment.pk).count()
    if stored > version.rank_limit:
        return None  # stored under a larger limit: not a top N of this version
    candidates = Account.objects.filter(
        # The LIMIT changes nothing (``stored`` rows at most) but tells the planner how
        # few they are, so the candidates are looked up by id rather than the rule's
        # whole match (e.g. every enterprise account) scanned and filtered.
        id__in=RawSQL(  # noqa: S611 (constant tables, bound values)
            f"SELECT account_id FROM {BATCH_TABLE} UNION ALL SELECT account_id FROM "
            f"(SELECT account_id FROM {members} WHERE segment_id = %s LIMIT %s) stored",
            [segment.pk, max(stored, 1)],
        )
    )
    try:
        top, positions = segment_ranked_top_among(
            version=version, rules=rules, candidates=candidates
        )
    except RuleValidationError:
        return None
    positions_sql, positions_params = positions.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT %s < %s OR (SELECT MAX(r.position) FROM ({positions_sql}) r "
            f"WHERE r.id IN (SELECT account_id FROM {members} WHERE segment_id = %s) "
            f"AND r.id NOT IN (SELECT account_id FROM {BATCH_TABLE})) >= %s",
            [stored, version.rank_limit, *positions_params, segment.pk, version.rank_limit],
        )
        (exact,) = cursor.fetchone()
    if not exact:
        return None
    changed, _ = membership_diff_apply(
        segment_id=segment.pk, version_id=version.pk, targets=top, partial=False, now=timezone.now()
    )
    return changed


def _marks_delete(pending_table: str) -> None:
    """Delete the marks the batch took. They are locked since the batch took them, so
    none was renewed meanwhile: a writer's mark waits for this transaction to commit and
    then inserts a new one."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {pending_table} WHERE account_id IN (SELECT account_id FROM {BATCH_TABLE})"
        )
