"""Writes of the segment engine: segments and their versions, static members, and the
set-based recompute of memberships (full, per changed accounts, and the sweep).

Recompute in short (see ``segment_recompute``): the target set is one SQL query built by
the rule compiler (``selectors.segment_target_ids``). On PostgreSQL the diff against the
stored membership and its writes (events, leavers deleted, newcomers inserted) are one
statement of data-modifying CTEs; elsewhere the diff goes into a per-connection temporary
table and, only when it is not empty, is written with one set-based statement each. No
account is loaded into Python.

The schedule's recompute of every segment (``segments_recompute_all``) and the sweep of
changed accounts (``segments_evaluate_changed_accounts``) evaluate many segments at once:
one pass over the accounts (all of them, or the batch) with one column per rule, compared
account by account with the stored memberships (``_segments_diff_apply``).
"""

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import BigIntegerField, Case, Count, F, Max, Min, Q, Sum, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.text import slugify

from cs_platform import clock
from customers.models import Account, PendingEvaluation
from customers.selectors import account_ids_pending_evaluation

from .models import (
    ExclusiveGroup,
    Membership,
    MembershipEvent,
    MembershipEventKind,
    Segment,
    SegmentKind,
    SegmentSnapshot,
    SegmentVersion,
)
from .rules import AttributeSpec, RuleValidationError, compile_rule, validate_rank, validate_rule
from .selectors import (
    attribute_specs,
    segment_higher_precedence,
    segment_ranked_top_among,
    segment_target_ids,
)
from .signals import memberships_changed

logger = logging.getLogger(__name__)

# Accounts re-evaluated per sweep transaction. A batch holds row locks on its accounts
# until it commits (account writes to those rows wait), and costs two statements per
# active dynamic segment, each joining the batch against accounts and memberships: about
# 5-10 ms per segment for 10k accounts on PostgreSQL, so ~1 s for 100 segments.
SWEEP_BATCH_SIZE = 10_000
# Batches per sweep task run (bounded work); the task re-enqueues itself when more remain.
SWEEP_MAX_BATCHES = 20
# memberships_changed carries the event ids themselves up to this many (else only their
# range), so a first recompute of a million-account segment holds no million-id list.
SIGNAL_EVENT_IDS_LIMIT = 10_000

# Per-connection temporary tables (PostgreSQL: emptied at every commit).
DIFF_TABLE = "segments_recompute_diff"
BATCH_TABLE = "segments_eval_batch"
SWEEP_DIFF_TABLE = "segments_sweep_diff"
# The recompute of every segment's diff and totals (PostgreSQL; dropped at commit).
FULL_DIFF_TABLE = "segments_full_diff"

EDITABLE_SEGMENT_FIELDS = (
    "name",
    "slug",
    "description",
    "owner",
    "is_active",
    "review_every_days",
    "exclusive_group",
    "priority",
)
EDITABLE_VERSION_FIELDS = ("rule", "rank_by", "rank_limit", "note")


# --- validation ---------------------------------------------------------------------------------


def definition_validate(
    *,
    rule: Any,
    rank_by: str | None,
    rank_limit: Any,
    attributes: dict[str, AttributeSpec] | None = None,
) -> None:
    """Raise a ValidationError naming every problem of a version's definition: rule errors
    under ``"rule"`` as ``"<path>: <message>"`` (e.g. ``all[2].value: expected a number,
    got "abc"``), ranking errors under ``"rank_by"`` / ``"rank_limit"``."""
    attributes = attribute_specs() if attributes is None else attributes
    errors: dict[str, list[str]] = {}
    try:
        validate_rule(rule, attributes=attributes)
    except RuleValidationError as exc:
        errors["rule"] = [str(error) for error in exc.errors]
    try:
        validate_rank(rank_by or "", rank_limit, attributes)
    except RuleValidationError as exc:
        for error in exc.errors:
            errors.setdefault(error.path or "rank_by", []).append(error.message)
    if errors:
        raise ValidationError(errors)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:180] or "segment"
    slug, n = base, 2
    while Segment.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _segment_validate_group(segment: Segment) -> None:
    if segment.exclusive_group_id and segment.kind == SegmentKind.STATIC:
        raise ValidationError(
            {"exclusive_group": ["Only dynamic segments can belong to an exclusive group."]}
        )


# --- segments and versions -------------------------------------------------------------------


@transaction.atomic
def segment_create(
    *,
    name: str,
    kind: str = SegmentKind.DYNAMIC,
    rule: Any = None,
    rank_by: str = "",
    rank_limit: int | None = None,
    publish: bool = False,
    slug: str = "",
    description: str = "",
    owner: AbstractBaseUser | None = None,
    created_by: AbstractBaseUser | None = None,
    note: str = "",
    is_active: bool = True,
    review_every_days: int | None = None,
    exclusive_group: ExclusiveGroup | None = None,
    priority: int | None = None,
) -> Segment:
    """Create a segment with version 1 (``rule`` defaults to ``{"all": []}``); with
    ``publish`` the version becomes current and a recompute is queued after commit."""
    rule = {"all": []} if rule is None else rule
    definition_validate(rule=rule, rank_by=rank_by, rank_limit=rank_limit)
    segment = Segment(
        name=name,
        slug=slug or _unique_slug(name),
        description=description,
        owner=owner,
        kind=kind,
        is_active=is_active,
        exclusive_group=exclusive_group,
    )
    if review_every_days is not None:
        segment.review_every_days = review_every_days
    if priority is not None:
        segment.priority = priority
    segment.full_clean()
    _segment_validate_group(segment)
    segment.save()
    version = version_create_draft(
        segment=segment,
        rule=rule,
        rank_by=rank_by,
        rank_limit=rank_limit,
        note=note,
        created_by=created_by,
    )
    if publish:
        version_publish(version=version)
        segment.refresh_from_db()
    return segment


@transaction.atomic
def segment_update(*, segment: Segment, data: dict[str, Any]) -> Segment:
    """Change a segment's own fields (not its rule: that is a new version). ``kind`` cannot
    change. A change of activity, group or priority queues a recompute of the group."""
    if "kind" in data and data["kind"] != segment.kind:
        raise ValidationError({"kind": ["The kind of a segment cannot be changed."]})
    unknown = sorted(set(data) - set(EDITABLE_SEGMENT_FIELDS) - {"kind"})
    if unknown:
        raise ValidationError({name: ["This field cannot be changed here."] for name in unknown})
    regroup = any(
        name in data and data[name] != getattr(segment, name)
        for name in ("is_active", "exclusive_group", "priority")
    )
    old_group_id = segment.exclusive_group_id
    changed = [name for name in data if name in EDITABLE_SEGMENT_FIELDS]
    for name in changed:
        setattr(segment, name, data[name])
    segment.full_clean()
    _segment_validate_group(segment)
    if changed:
        segment.save(update_fields=[*changed, "updated_at"])
    if regroup:
        group_ids = {old_group_id, segment.exclusive_group_id} - {None}
        if group_ids:
            _enqueue_recompute_segments(
                Segment.objects.filter(exclusive_group_id__in=group_ids).values_list(
                    "pk", flat=True
                )
            )
        else:
            segment_request_recompute(segment=segment)
    return segment


@transaction.atomic
def segment_mark_reviewed(*, segment: Segment, reviewed_on: date | None = None) -> Segment:
    segment.last_reviewed_at = reviewed_on or clock.today()
    segment.save(update_fields=["last_reviewed_at", "updated_at"])
    return segment


def _lock_segment(segment_id: int) -> Segment:
    """Lock the segment row (PostgreSQL: SELECT ... FOR UPDATE; SQLite runs write
    transactions one at a time anyway), serializing version numbering and recomputes.
    The current version comes in the same query, unlocked."""
    return (
        Segment.objects.select_for_update(of=("self",))
        .select_related("current_version")
        .get(pk=segment_id)
    )


@transaction.atomic
def version_create_draft(
    *,
    segment: Segment,
    rule: Any,
    rank_by: str = "",
    rank_limit: int | None = None,
    note: str = "",
    created_by: AbstractBaseUser | None = None,
) -> SegmentVersion:
    """A new draft version numbered after the segment's last one."""
    definition_validate(rule=rule, rank_by=rank_by, rank_limit=rank_limit)
    _lock_segment(segment.pk)
    last = SegmentVersion.objects.filter(segment=segment).order_by("-number").first()
    version = SegmentVersion(
        segment=segment,
        number=(last.number + 1) if last else 1,
        rule=rule,
        rank_by=rank_by or "",
        rank_limit=rank_limit,
        note=note,
        created_by=created_by,
    )
    version.full_clean()
    version.save()
    return version


def _refuse_published(version: SegmentVersion) -> None:
    if version.is_published:
        raise ValidationError(
            f"Version {version.number} is published and cannot be changed; "
            "create a new draft instead.",
            code="published_immutable",
        )


@transaction.atomic
def version_update_draft(*, version: SegmentVersion, data: dict[str, Any]) -> SegmentVersion:
    """Change a draft's rule, ranking or note; published versions are immutable."""
    version = SegmentVersion.objects.select_for_update().get(pk=version.pk)
    _refuse_published(version)
    unknown = sorted(set(data) - set(EDITABLE_VERSION_FIELDS))
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in unknown})
    for name, value in data.items():
        setattr(version, name, value)
    version.rank_by = version.rank_by or ""
    definition_validate(rule=version.rule, rank_by=version.rank_by, rank_limit=version.rank_limit)
    version.full_clean()
    version.save(update_fields=list(data) or None)
    return version


@transaction.atomic
def version_publish(*, version: SegmentVersion) -> SegmentVersion:
    """Publish a draft: it becomes immutable and the segment's current version, and a
    recompute for it is queued after commit (it exits if a newer one is published
    first)."""
    segment = _lock_segment(version.segment_id)
    version = SegmentVersion.objects.select_for_update().get(pk=version.pk)
    _refuse_published(version)
    # The declared attributes may have changed since the draft was written.
    definition_validate(rule=version.rule, rank_by=version.rank_by, rank_limit=version.rank_limit)
    version.published_at = timezone.now()
    version.save(update_fields=["published_at"])
    segment.current_version = version
    segment.save(update_fields=["current_version", "updated_at"])
    _enqueue_recompute(segment_id=segment.pk, version_id=version.pk)
    if segment.exclusive_group_id:
        # Lower-precedence segments of the group lose or gain the accounts this one claims.
        _enqueue_recompute_segments(
            Segment.objects.filter(
                exclusive_group_id=segment.exclusive_group_id, priority__gt=segment.priority
            ).values_list("pk", flat=True)
        )
    return version


def segment_request_recompute(*, segment: Segment) -> None:
    """ "Recompute now": queue a full recompute of ``segment``'s current version after the
    current transaction commits."""
    _enqueue_recompute(segment_id=segment.pk, version_id=segment.current_version_id)


def _enqueue_recompute(*, segment_id: int, version_id: int | None) -> None:
    from .tasks import segment_recompute_task

    segment_recompute_task.delay_on_commit(segment_id, version_id)


def _enqueue_recompute_segments(segment_ids: Iterable[int]) -> None:
    # No version: each recompute uses the segment's current version when it runs.
    for segment_id in list(segment_ids):
        _enqueue_recompute(segment_id=segment_id, version_id=None)


# --- static segments --------------------------------------------------------------------------


def _require_static(segment: Segment) -> None:
    if segment.kind != SegmentKind.STATIC:
        raise ValidationError(
            {"segment": ["Members can be added or removed by hand only in a static segment."]}
        )


@transaction.atomic
def static_segment_members_add(*, segment: Segment, account_ids: Iterable[int]) -> int:
    """Add accounts to a static segment (recorded as ``entered`` events); accounts already
    members are skipped. Returns how many entered."""
    _require_static(segment)
    segment = _lock_segment(segment.pk)
    ids = set(account_ids)
    known = set(Account.objects.filter(id__in=ids).values_list("id", flat=True))
    if ids - known:
        raise ValidationError({"account_ids": [f"Unknown account ids: {sorted(ids - known)[:20]}"]})
    present = set(
        Membership.objects.filter(segment=segment, account_id__in=ids).values_list(
            "account_id", flat=True
        )
    )
    new = sorted(ids - present)
    now = timezone.now()
    Membership.objects.bulk_create(
        Membership(
            segment=segment,
            account_id=account_id,
            entered_at=now,
            version_id=segment.current_version_id,
        )
        for account_id in new
    )
    events = MembershipEvent.objects.bulk_create(
        MembershipEvent(
            segment=segment,
            account_id=account_id,
            kind=MembershipEventKind.ENTERED,
            at=now,
            version_id=segment.current_version_id,
        )
        for account_id in new
    )
    if new:
        _store_totals(segment, now=now, snapshot=True)
        _signal_events(segment.pk, now, len(events))
    return len(new)


@transaction.atomic
def static_segment_members_remove(*, segment: Segment, account_ids: Iterable[int]) -> int:
    """Remove accounts from a static segment (recorded as ``exited`` events). Returns how
    many exited."""
    _require_static(segment)
    segment = _lock_segment(segment.pk)
    leaving = sorted(
        Membership.objects.filter(segment=segment, account_id__in=set(account_ids)).values_list(
            "account_id", flat=True
        )
    )
    if not leaving:
        return 0
    now = timezone.now()
    MembershipEvent.objects.bulk_create(
        MembershipEvent(
            segment=segment,
            account_id=account_id,
            kind=MembershipEventKind.EXITED,
            at=now,
            version_id=segment.current_version_id,
        )
        for account_id in leaving
    )
    Membership.objects.filter(segment=segment, account_id__in=leaving).delete()
    _store_totals(segment, now=now, snapshot=True)
    _signal_events(segment.pk, now, len(leaving))
    return len(leaving)


# --- recompute ------------------------------------------------------------------------------------


@dataclass
class RecomputeResult:
    segment_id: int
    version_id: int | None
    # "done", or why nothing was written: "stale_version" (a newer version is current),
    # "inactive", "no_version", "missing" (the segment was deleted).
    status: str
    entered: int = 0
    exited: int = 0
    member_count: int | None = None
    arr: Decimal | None = None
    full: bool = True

    @property
    def changed(self) -> bool:
        return bool(self.entered or self.exited)


@dataclass
class SweepResult:
    accounts: int = 0
    batches: int = 0
    entered: int = 0
    exited: int = 0
    remaining: bool = False
    ranked_recomputed: list[int] = field(default_factory=list)


def _is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def _temp_tables_ensure(cursor: Any) -> None:
    """Create this connection's work tables if needed (cheap: IF NOT EXISTS), and tune
    the current transaction for recompute statements."""
    if _is_postgresql():
        # JIT compiling the long expressions of compiled rules costs PostgreSQL 0.1-2 s
        # per statement, far more than running them; off for this transaction only.
        cursor.execute("SET LOCAL jit = off")
        big, boolean, rows = "bigint", "boolean", " ON COMMIT DELETE ROWS"
    else:
        big, boolean, rows = "integer", "bool", ""
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {DIFF_TABLE} "
        f"(account_id {big} NOT NULL, entering {boolean} NOT NULL){rows}"
    )
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {BATCH_TABLE} (account_id {big} PRIMARY KEY){rows}"
    )
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {SWEEP_DIFF_TABLE} (segment_id {big} NOT NULL, "
        f"account_id {big} NOT NULL, entering {boolean} NOT NULL){rows}"
    )


def _analyze(cursor: Any, table: str) -> None:
    """Give PostgreSQL's planner the row count of a freshly filled temporary table (it has
    no statistics otherwise and may pick a full scan of accounts or memberships)."""
    if _is_postgresql():
        cursor.execute(f"ANALYZE {table}")


def _batch_fill(cursor: Any, account_ids: Iterable[int]) -> int:
    """Put ``account_ids`` into the batch table in one statement; returns the count."""
    ids = sorted({int(i) for i in account_ids})
    cursor.execute(f"DELETE FROM {BATCH_TABLE}")
    if not ids:
        return 0
    if _is_postgresql():
        cursor.execute(f"INSERT INTO {BATCH_TABLE} (account_id) SELECT unnest(%s::bigint[])", [ids])
    else:
        cursor.execute(
            f"INSERT INTO {BATCH_TABLE} (account_id) SELECT value FROM json_each(%s)",
            [json.dumps(ids)],
        )
    return len(ids)


def segment_recompute(
    *,
    segment_id: int,
    version_id: int | None = None,
    account_ids: Iterable[int] | None = None,
    today: date | None = None,
) -> RecomputeResult:
    """Bring the stored membership of a segment in line with its current version.

    - **Atomic**: one transaction; readers see the old or the new membership.
    - **Serialized per segment**: the segment row is locked first (SELECT ... FOR UPDATE),
      so a second recompute of the same segment waits and then finds nothing to do.
    - **Version guard**: with ``version_id``, a run whose version is no longer the
      segment's current one exits without writing (a newer publish queued its own run).
    - **Idempotent**: the diff is computed against stored membership; a run that finds no
      difference writes no membership rows and no events. A *full* run still records one
      SegmentSnapshot and refreshes the segment's count/ARR/last_computed_at, so growth
      charts get one point per recompute (ARR moves without membership changes).
    - ``account_ids``: re-evaluate only these accounts (changed data). A ranked segment
      ignores it and recomputes in full: any account's change can move the top N. A
      partial run writes no snapshot; it refreshes the stored count/ARR when membership
      changed.
    - Static segments: membership is hand-picked; a run only refreshes count/ARR and the
      snapshot. Inactive segments keep their membership frozen.

    ``memberships_changed`` is sent after commit when events were written.
    """
    with transaction.atomic():
        partial = account_ids is not None
        if partial:
            with connection.cursor() as cursor:
                _temp_tables_ensure(cursor)
                _batch_fill(cursor, account_ids)
        return _recompute_locked(
            segment_id=segment_id,
            version_id=version_id,
            partial=partial,
            today=today or clock.today(),
            attributes=attribute_specs(),
        )


def _recompute_locked(
    *,
    segment_id: int,
    version_id: int | None,
    partial: bool,
    today: date,
    attributes: dict[str, AttributeSpec],
) -> RecomputeResult:
    """The body of a recompute; runs inside the caller's transaction. ``partial`` means
    "only the accounts in the batch table"."""
    try:
        segment = _lock_segment(segment_id)
    except Segment.DoesNotExist:
        return RecomputeResult(segment_id, version_id, "missing")
    if version_id is not None and segment.current_version_id != version_id:
        return RecomputeResult(segment_id, version_id, "stale_version")
    if segment.current_version_id is None:
        return RecomputeResult(segment_id, None, "no_version")
    if not segment.is_active:
        return RecomputeResult(segment_id, segment.current_version_id, "inactive")
    version = segment.current_version
    now = timezone.now()
    result = RecomputeResult(segment_id, version.pk, "done")
    if segment.kind == SegmentKind.STATIC:
        if not partial:
            result.member_count, result.arr = _store_totals(segment, now=now, snapshot=True)
        return result
    ranked = bool(version.rank_by and version.rank_limit)
    partial = partial and not ranked
    result.full = not partial
    try:
        targets = segment_target_ids(
            segment=segment,
            version=version,
            today=today,
            attributes=attributes,
            base=_batch_accounts() if partial else None,
        )
    except RuleValidationError as exc:
        # A custom attribute the rule uses was deleted or retyped after publishing: keep
        # the membership as it is and say why, rather than fail every run.
        logger.warning("segment %s v%s not recomputed: %s", segment.pk, version.number, exc)
        return RecomputeResult(segment_id, version.pk, "invalid_rule")
    (result.entered, result.exited), totals = _membership_diff_apply(
        segment_id=segment.pk, version_id=version.pk, targets=targets, partial=partial, now=now
    )
    if not partial:
        result.member_count, result.arr = _store_totals(
            segment, now=now, snapshot=True, totals=totals
        )
    elif result.changed:
        _count_adjust({segment.pk: result.entered - result.exited})
    if result.changed and segment.exclusive_group_id and ranked:
        # Lower-precedence segments exclude this one's top N (not its rule), so the
        # accounts that moved in or out of the top N change what they may claim.
        _enqueue_recompute_segments(
            Segment.objects.filter(
                exclusive_group_id=segment.exclusive_group_id,
                priority__gt=segment.priority,
                is_active=True,
            ).values_list("pk", flat=True)
        )
    return result


def _batch_accounts() -> Any:
    """The accounts in this connection's batch table, as a queryset to filter on."""
    return Account.objects.filter(
        id__in=RawSQL(f"SELECT account_id FROM {BATCH_TABLE}", [])  # noqa: S611 (constant)
    )


def _membership_diff_apply(
    *, segment_id: int, version_id: int, targets: Any, partial: bool, now: datetime
) -> tuple[tuple[int, int], tuple[int, Decimal] | None]:
    """Apply the difference between ``targets`` (a values("id") queryset) and the stored
    membership of the segment; returns ((entered, exited), totals) and sends
    ``memberships_changed`` after commit when events were written.

    PostgreSQL: one statement (``_membership_diff_write_postgresql``). Elsewhere:

    1. ``INSERT INTO diff WITH t AS (<target query>) SELECT <t minus members, entering>
       UNION ALL <members minus t, exiting>`` into a temporary table;
    2. only if the diff is not empty: one INSERT ... SELECT of the events, one DELETE of
       the leavers, one INSERT ... SELECT of the newcomers; ``totals`` is None.

    With ``partial`` both sides are limited to the accounts in the batch table.
    """
    if _is_postgresql():
        return _membership_diff_write_postgresql(
            segment_id=segment_id, version_id=version_id, targets=targets, partial=partial, now=now
        )
    with connection.cursor() as cursor:
        _temp_tables_ensure(cursor)
        cursor.execute(f"DELETE FROM {DIFF_TABLE}")
        target_sql, target_params = targets.query.sql_with_params()
        cursor.execute(
            f"WITH t(id) AS ({target_sql}) "
            f"INSERT INTO {DIFF_TABLE} (account_id, entering) {_diff_select(partial)}",
            [*target_params, True, segment_id, False, segment_id],
        )
        if not cursor.rowcount:
            return (0, 0), None
        cursor.execute(
            f"SELECT COALESCE(SUM(CASE WHEN entering THEN 1 ELSE 0 END), 0), COUNT(*) "
            f"FROM {DIFF_TABLE}"
        )
        entered, total = cursor.fetchone()
        if not total:
            return (0, 0), None
        entered, exited = int(entered), int(total - entered)
        _diff_apply(
            cursor,
            diff_table=DIFF_TABLE,
            segment_sql="%s",
            segment_params=[segment_id],
            version_sql="%s",
            version_params=[version_id],
            now=now,
            exited=exited,
            entered=entered,
        )
    _signal_events(segment_id, now, entered + exited)
    return (entered, exited), None


def _diff_select(partial: bool) -> str:
    """The diff between the target set ``t(id)`` and the stored membership of one
    segment, as (account_id, entering) rows; parameters: True, segment id, False, segment
    id. With ``partial`` the stored side is limited to the batch table's accounts."""
    members = Membership._meta.db_table
    only_batch_members = (
        f" AND m.account_id IN (SELECT account_id FROM {BATCH_TABLE})" if partial else ""
    )
    return (
        f"SELECT t.id, %s FROM t WHERE NOT EXISTS "
        f"(SELECT 1 FROM {members} m WHERE m.segment_id = %s AND m.account_id = t.id) "
        f"UNION ALL "
        f"SELECT m.account_id, %s FROM {members} m WHERE m.segment_id = %s"
        f"{only_batch_members} AND NOT EXISTS (SELECT 1 FROM t WHERE t.id = m.account_id)"
    )


def _membership_diff_write_postgresql(
    *, segment_id: int, version_id: int, targets: Any, partial: bool, now: datetime
) -> tuple[tuple[int, int], tuple[int, Decimal] | None]:
    """The diff and its writes in one statement (PostgreSQL's data-modifying CTEs):

    ``t`` runs the target query once (with each account's ARR); ``d`` is the diff, one
    FULL JOIN of ``t`` with the segment's stored members (each side read once; with
    ``partial`` only the members in the batch table); then the events of ``d`` are
    inserted, the leavers deleted and the newcomers inserted, and the statement returns
    the target set's count and ARR
    (``totals``, the membership after this run: no second pass over the memberships),
    the diff's counts, and the new events' id range (plus their ids when few).

    Every part reads the snapshot taken before the statement, so the DELETE and the
    INSERT of memberships touch disjoint (segment, account) pairs. When ``d`` is empty
    (a no-change run) the three writes write no row. One round trip, and no temporary
    table: the diff is never written out and read back.
    """
    members = Membership._meta.db_table
    events = MembershipEvent._meta.db_table
    target_sql, target_params = targets.values("id", "arr").query.sql_with_params()
    only_batch = f" AND m.account_id IN (SELECT account_id FROM {BATCH_TABLE})" if partial else ""
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        # JIT compiling the long expressions of compiled rules costs 0.1-2 s per
        # statement, far more than running them; off for this transaction only.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(
            f"WITH t(id, arr) AS MATERIALIZED ({target_sql}), "
            f"d(account_id, entering) AS MATERIALIZED ("
            f"SELECT COALESCE(t.id, m.account_id), m.account_id IS NULL FROM t FULL JOIN "
            f"(SELECT m.account_id FROM {members} m WHERE m.segment_id = %s{only_batch}) m "
            f"ON m.account_id = t.id WHERE t.id IS NULL OR m.account_id IS NULL), "
            f"ev AS (INSERT INTO {events} (segment_id, account_id, kind, at, version_id) "
            f"SELECT %s, d.account_id, CASE WHEN d.entering THEN %s ELSE %s END, %s, %s "
            f"FROM d RETURNING id), "
            f"gone AS (DELETE FROM {members} m USING d WHERE m.segment_id = %s "
            f"AND m.account_id = d.account_id AND NOT d.entering), "
            f"new AS (INSERT INTO {members} (segment_id, account_id, entered_at, version_id) "
            f"SELECT %s, d.account_id, %s, %s FROM d WHERE d.entering) "
            f"SELECT tt.n, tt.arr, dd.entered, dd.total, ee.first, ee.last, "
            f"(SELECT ARRAY_AGG(id ORDER BY id) FROM (SELECT id FROM ev LIMIT %s) few) "
            f"FROM (SELECT COUNT(*) AS n, COALESCE(SUM(arr), 0) AS arr FROM t) tt, "
            f"(SELECT COUNT(*) FILTER (WHERE entering) AS entered, COUNT(*) AS total FROM d) dd, "
            f"(SELECT MIN(id) AS first, MAX(id) AS last FROM ev) ee",
            [
                *target_params,
                segment_id,
                segment_id,
                MembershipEventKind.ENTERED.value,
                MembershipEventKind.EXITED.value,
                at,
                version_id,
                segment_id,
                segment_id,
                at,
                version_id,
                SIGNAL_EVENT_IDS_LIMIT + 1,
            ],
        )
        count, arr, entered, total, first, last, few_ids = cursor.fetchone()
    entered, exited = int(entered), int(total - entered)
    if total:
        event_ids = sorted(few_ids) if total <= SIGNAL_EVENT_IDS_LIMIT else None
        _signal_send(segment_id, event_ids, (first, last), total)
    return (entered, exited), (int(count), Decimal(arr))


def _diff_apply(
    cursor: Any,
    *,
    diff_table: str,
    segment_sql: str,
    segment_params: list,
    version_sql: str,
    version_params: list,
    now: datetime,
    exited: int,
    entered: int,
) -> None:
    """Write a computed diff: events (exits then entries, by account), then delete the
    leavers and insert the newcomers, each one set-based statement.

    ``segment_sql`` / ``version_sql`` are the SQL for the segment and version of a diff
    row: a parameter for one segment, or columns for the sweep's many-segment diff (whose
    rows carry ``segment_id`` and join the segment ``s`` for its current version)."""
    members = Membership._meta.db_table
    events = MembershipEvent._meta.db_table
    segments = Segment._meta.db_table
    at = connection.ops.adapt_datetimefield_value(now)
    many = segment_sql != "%s"
    source = f"{diff_table} d" + (f" JOIN {segments} s ON s.id = d.segment_id" if many else "")
    order = "d.segment_id, d.entering, d.account_id" if many else "d.entering, d.account_id"
    cursor.execute(
        f"INSERT INTO {events} (segment_id, account_id, kind, at, version_id) "
        f"SELECT {segment_sql}, d.account_id, CASE WHEN d.entering THEN %s ELSE %s END, %s, "
        f"{version_sql} FROM {source} ORDER BY {order}",
        [
            *segment_params,
            MembershipEventKind.ENTERED.value,
            MembershipEventKind.EXITED.value,
            at,
            *version_params,
        ],
    )
    if exited:
        if many:
            cursor.execute(
                f"DELETE FROM {members} WHERE (segment_id, account_id) IN "
                f"(SELECT segment_id, account_id FROM {diff_table} WHERE NOT entering)"
            )
        else:
            cursor.execute(
                f"DELETE FROM {members} WHERE segment_id = %s AND account_id IN "
                f"(SELECT account_id FROM {diff_table} WHERE NOT entering)",
                segment_params,
            )
    if entered:
        cursor.execute(
            f"INSERT INTO {members} (segment_id, account_id, entered_at, version_id) "
            f"SELECT {segment_sql}, d.account_id, %s, {version_sql} FROM {source} "
            f"WHERE d.entering",
            [*segment_params, at, *version_params],
        )


def _count_adjust(deltas: dict[int, int]) -> None:
    """Keep ``Segment.member_count`` exact after partial runs (one UPDATE of the segments
    that changed). Its ARR and snapshot are refreshed by the next full recompute (the
    schedule runs one every few minutes), so a sweep never aggregates whole memberships."""
    changed = {segment_id: delta for segment_id, delta in deltas.items() if delta}
    if changed:
        Segment.objects.filter(pk__in=changed).update(
            member_count=F("member_count")
            + Case(
                *(When(pk=segment_id, then=Value(delta)) for segment_id, delta in changed.items()),
                default=Value(0),
            )
        )


def _store_totals(
    segment: Segment,
    *,
    now: datetime,
    snapshot: bool,
    totals: tuple[int, Decimal] | None = None,
) -> tuple[int, Decimal]:
    """Write the membership's count and ARR on the segment (and a snapshot); ``totals``
    when the caller already has them, else one aggregate query."""
    if totals is None:
        aggregate = Membership.objects.filter(segment_id=segment.pk).aggregate(
            count=Count("id"), arr=Sum("account__arr")
        )
        totals = (aggregate["count"] or 0, aggregate["arr"] or Decimal("0"))
    count, arr = totals
    segment.member_count, segment.arr, segment.last_computed_at = count, arr, now
    segment.save(update_fields=["member_count", "arr", "last_computed_at"])
    if snapshot:
        SegmentSnapshot.objects.create(
            segment_id=segment.pk,
            computed_at=now,
            member_count=count,
            arr=arr,
            version_id=segment.current_version_id,
        )
    return count, arr


def _signal_events(segment_id: int, at: datetime, count: int) -> None:
    _signal_events_many({segment_id: count}, at)


def _signal_events_many(counts: dict[int, int], at: datetime) -> None:
    """Send memberships_changed after commit for the events written at ``at`` to each
    segment of ``counts`` ({segment id: number of events}); writes to one segment are
    serialized, so (segment, at) names exactly this write's events. Two queries at most,
    whatever the number of segments: the ids of the segments with few events, the id
    range of the others."""
    new_events = MembershipEvent.objects.filter(at=at).order_by()
    few = [sid for sid, count in counts.items() if count <= SIGNAL_EVENT_IDS_LIMIT]
    many = [sid for sid, count in counts.items() if count > SIGNAL_EVENT_IDS_LIMIT]
    ids: dict[int, list[int]] = {sid: [] for sid in few}
    if few:
        for sid, event_id in new_events.filter(segment_id__in=few).values_list("segment_id", "id"):
            ids[sid].append(event_id)
    ranges: dict[int, tuple[int, int]] = {}
    if many:
        for row in (
            new_events.filter(segment_id__in=many)
            .values("segment_id")
            .annotate(first=Min("id"), last=Max("id"))
        ):
            ranges[row["segment_id"]] = (row["first"], row["last"])
    for sid in few:
        event_ids = sorted(ids[sid])
        if event_ids:
            _signal_send(sid, event_ids, (event_ids[0], event_ids[-1]), counts[sid])
    for sid in many:
        if sid in ranges:
            _signal_send(sid, None, ranges[sid], counts[sid])


def _signal_send(
    segment_id: int, event_ids: list[int] | None, id_range: tuple[int, int], count: int
) -> None:
    def send() -> None:
        memberships_changed.send(
            sender=Segment,
            segment_id=segment_id,
            event_ids=event_ids,
            event_id_range=id_range,
            event_count=count,
        )

    transaction.on_commit(send)


# --- every segment ----------------------------------------------------------------------------


@dataclass
class RecomputeAllResult:
    segments: int = 0
    entered: int = 0
    exited: int = 0
    # Ranked and static segments, recomputed one by one after the shared pass.
    one_by_one: list[int] = field(default_factory=list)


def segments_recompute_all(*, today: date | None = None) -> RecomputeAllResult:
    """Full recompute of every active segment's current version (the schedule's job).

    The unranked dynamic segments are recomputed together: one transaction that locks
    their rows in id order (as the sweep does, so neither waits on the other in a cycle),
    evaluates every rule in one pass over the accounts and writes the whole diff at once
    (``_segments_diff_apply`` with ``full``); each gets its totals and snapshot as after
    its own full run. Its result is the one ``segment_recompute`` of each would give:
    exclusive groups read the other segments' current rules, never their stored
    membership, so evaluating them together changes nothing.

    Ranked segments (their top N is a sort of its own) and static ones (totals only) then
    get their own ``segment_recompute``, one transaction each. A segment whose rule no
    longer validates keeps its membership (logged), as in ``segment_recompute``.
    """
    today = today or clock.today()
    result = RecomputeAllResult()
    with transaction.atomic():
        with connection.cursor() as cursor:
            _temp_tables_ensure(cursor)
        segments = list(
            Segment.objects.select_for_update(of=("self",))
            .filter(is_active=True, current_version__isnull=False)
            .select_related("current_version")
            .order_by("pk")
        )
        together = [
            segment
            for segment in segments
            if segment.kind == SegmentKind.DYNAMIC and not segment.current_version.rank_by
        ]
        now = timezone.now()
        diff = _segments_diff_apply(
            segments=together, today=today, attributes=attribute_specs(), now=now, full=True
        )
        _store_totals_many(diff.evaluated, now=now, totals=diff.totals)
    result.segments = len(diff.evaluated)
    result.entered = sum(entered for entered, _ in diff.changes.values())
    result.exited = sum(exited for _, exited in diff.changes.values())
    together_ids = {segment.pk for segment in together}
    for segment in segments:
        if segment.pk not in together_ids:
            run = segment_recompute(segment_id=segment.pk, today=today)
            result.one_by_one.append(segment.pk)
            result.segments += run.status == "done"
            result.entered += run.entered
            result.exited += run.exited
    return result


def _store_totals_many(
    segments: list[Segment], *, now: datetime, totals: dict[int, tuple[int, Decimal]]
) -> None:
    """``_store_totals`` with a snapshot for many segments: one UPDATE and one INSERT for
    those whose totals are known, one aggregate each for the others."""
    known = [segment for segment in segments if segment.pk in totals]
    for segment in segments:
        if segment.pk not in totals:
            _store_totals(segment, now=now, snapshot=True)
    if not known:
        return
    for segment in known:
        segment.member_count, segment.arr = totals[segment.pk]
        segment.last_computed_at = now
    Segment.objects.bulk_update(known, ["member_count", "arr", "last_computed_at"])
    SegmentSnapshot.objects.bulk_create(
        SegmentSnapshot(
            segment_id=segment.pk,
            computed_at=now,
            member_count=segment.member_count,
            arr=segment.arr,
            version_id=segment.current_version_id,
        )
        for segment in known
    )


# --- changed accounts -------------------------------------------------------------------------


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
    real top N (``_ranked_batch_apply``); otherwise (or in an exclusive group) the segment
    gets one full recompute per sweep run, after the batches. Exclusive groups need
    nothing else: exclusion reads the other segments' current rules.
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
    if result.accounts:
        for segment_id in sorted(needs_full):
            run = segment_recompute(segment_id=segment_id, today=today)
            result.ranked_recomputed.append(segment_id)
            result.entered += run.entered
            result.exited += run.exited
    return result


@transaction.atomic
def _evaluate_changed_batch(
    *, batch_size: int, today: date, needs_full: set[int]
) -> tuple[int, int, int]:
    """One sweep batch (one transaction); adds to ``needs_full`` the ranked segments it
    could not update from the batch alone."""
    pending = PendingEvaluation._meta.db_table
    lock = " FOR UPDATE SKIP LOCKED" if _is_postgresql() else ""
    with connection.cursor() as cursor:
        _temp_tables_ensure(cursor)
        cursor.execute(f"DELETE FROM {BATCH_TABLE}")
        cursor.execute(
            f"INSERT INTO {BATCH_TABLE} (account_id) SELECT account_id FROM {pending} "
            f"ORDER BY account_id LIMIT %s{lock}",
            [batch_size],
        )
        taken = cursor.rowcount
        if not taken:
            return 0, 0, 0
        _analyze(cursor, BATCH_TABLE)
    # Lock every swept segment at once, in id order (as every other locker does, so two
    # sweeps cannot deadlock); a recompute of one of them waits for this batch.
    segments = list(
        Segment.objects.select_for_update(of=("self",))
        .filter(
            is_active=True,
            kind=SegmentKind.DYNAMIC,
            current_version__isnull=False,
        )
        .select_related("current_version")
        .order_by("pk")
    )
    attributes = attribute_specs()
    unranked = [s for s in segments if not s.current_version.rank_by]
    changes = _segments_diff_apply(
        segments=unranked, today=today, attributes=attributes, now=timezone.now()
    ).changes
    for segment in segments:
        if segment.current_version.rank_by:
            ranked_change = _ranked_batch_apply(segment=segment, today=today, attributes=attributes)
            if ranked_change is None:
                needs_full.add(segment.pk)
            elif any(ranked_change):
                changes[segment.pk] = ranked_change
    _marks_delete(pending)
    _count_adjust({sid: entered - exited for sid, (entered, exited) in changes.items()})
    entered = sum(e for e, _ in changes.values())
    exited = sum(x for _, x in changes.values())
    return taken, entered, exited


def _ranked_batch_apply(
    *, segment: Segment, today: date, attributes: dict[str, AttributeSpec]
) -> tuple[int, int] | None:
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
    members = Membership._meta.db_table
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
            version=version, today=today, attributes=attributes, candidates=candidates
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
    changed, _ = _membership_diff_apply(
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


@dataclass
class ManyDiff:
    """What ``_segments_diff_apply`` did: ``{segment_id: (entered, exited)}`` for the
    segments that changed, and with ``full`` ``{segment_id: (count, arr)}`` of the new
    membership of every segment it evaluated."""

    changes: dict[int, tuple[int, int]] = field(default_factory=dict)
    totals: dict[int, tuple[int, Decimal]] = field(default_factory=dict)
    # The segments evaluated (a rule that no longer validates is skipped and logged).
    evaluated: list[Segment] = field(default_factory=list)


def _segments_diff_apply(
    *,
    segments: list[Segment],
    today: date,
    attributes: dict[str, AttributeSpec],
    now: datetime,
    full: bool = False,
) -> ManyDiff:
    """Re-evaluate many unranked segments in one pass over the accounts: the batch's
    accounts (a sweep), or with ``full`` every account (the scheduled recompute of all
    segments). The caller holds the segments' row locks.

    One statement reads each account once and evaluates every segment's rule as a column
    holding the segment's id or NULL (``CASE WHEN <compiled rule> THEN <id> END``, so a
    null is "no match" exactly as in a WHERE clause); exclusive groups subtract the rules
    of higher-precedence segments (or, for a ranked one, its whole top N as a subquery).
    The diff against the stored memberships goes to a temporary table, ``_diff_apply``
    writes it for all segments at once (events at ``now``), and ``memberships_changed``
    is sent after commit for each segment that changed.
    """
    aliases: dict[str, Any] = {}
    flags: dict[str, Any] = {}
    usable = []
    for segment in sorted(segments, key=lambda s: s.pk):
        try:
            segment_aliases, condition = _sweep_condition(segment, today, attributes)
        except RuleValidationError as exc:
            logger.warning("segment %s skipped: %s", segment.pk, exc)
            continue
        usable.append(segment)
        aliases.update(segment_aliases)
        # The segment's id when the account matches, else NULL.
        flags[f"seg_{segment.pk}"] = Case(
            When(condition, then=Value(segment.pk)), default=None, output_field=BigIntegerField()
        )
    segments = usable
    result = ManyDiff(evaluated=usable)
    if not segments:
        return result
    accounts = Account.objects.all() if full else _batch_accounts()
    evaluated = accounts.alias(**aliases).annotate(**flags).order_by().values("id", "arr", *flags)
    evaluated_sql, evaluated_params = evaluated.query.sql_with_params()
    columns = ", ".join(["id", "arr", *flags])
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {SWEEP_DIFF_TABLE}")
        if _is_postgresql():
            rows = _segments_diff_postgresql(
                cursor, segments, evaluated_sql, evaluated_params, columns, full
            )
        else:
            rows = _segments_diff_other(
                cursor, segments, evaluated_sql, evaluated_params, columns, full
            )
        for kind, segment_id, first, second, arr in rows:
            if kind == "diff":
                result.changes[int(segment_id)] = (int(first), int(second - first))
            else:
                result.totals[int(segment_id)] = (int(first), Decimal(arr))
        if full and _is_postgresql():
            for segment in segments:
                result.totals.setdefault(segment.pk, (0, Decimal("0")))
        if not result.changes:
            return result
        _analyze(cursor, SWEEP_DIFF_TABLE)
        _diff_apply(
            cursor,
            diff_table=SWEEP_DIFF_TABLE,
            segment_sql="d.segment_id",
            segment_params=[],
            version_sql="s.current_version_id",
            version_params=[],
            now=now,
            exited=sum(x for _, x in result.changes.values()),
            entered=sum(e for e, _ in result.changes.values()),
        )
    _signal_events_many(
        {segment_id: entered + exited for segment_id, (entered, exited) in result.changes.items()},
        now,
    )
    return result


def _segments_diff_postgresql(
    cursor: Any,
    segments: list[Segment],
    evaluated_sql: str,
    evaluated_params: list,
    columns: str,
    full: bool,
) -> list[tuple]:
    """PostgreSQL: compare, account by account, the array of the segments it matches
    (``w``, in segment id order) with the array of those it is stored in (``h``: for
    ``full`` every account's memberships grouped off the (account, segment) index, for a
    batch each account's looked up in it). One FULL JOIN on the account id leaves only
    the accounts whose arrays differ, and only those are unnested into diff rows; an
    unchanged account costs one array comparison, whatever its number of segments.
    (bench/recompute.py, 1M accounts and 98 unranked segments: about 8 s for all of
    them, against 21 s one segment at a time.)

    Returns ("diff", segment, entered, total, None) rows for the segments that changed
    and, with ``full``, ("total", segment, count, None, arr) rows of the new membership."""
    members = Membership._meta.db_table
    segment_ids = ", ".join(str(segment.pk) for segment in segments)
    matched = ", ".join(f"e.seg_{segment.pk}" for segment in segments)
    # The segment filter is an aggregate FILTER, never an index condition: PostgreSQL 15
    # would search the (account, segment) index once per listed segment. No ORDER BY:
    # read off that index the ids come sorted already, and should a plan ever read them
    # in another order, an account whose arrays differ only in order yields no diff row
    # (each side is checked element by element below); it only costs that check.
    held_segments = f"ARRAY_AGG(m.segment_id) FILTER (WHERE m.segment_id IN ({segment_ids}))"
    if full:
        # Every account's memberships, grouped straight off the (account, segment) index.
        held = (
            f"SELECT m.account_id, {held_segments} AS segs FROM {members} m GROUP BY m.account_id"
        )
    else:
        held = (
            f"SELECT b.account_id, (SELECT {held_segments} FROM {members} m "
            f"WHERE m.account_id = b.account_id) AS segs FROM {BATCH_TABLE} b"
        )
    # A batch's accounts are looked up first (by id), not merged with every account.
    materialized = "" if full else "MATERIALIZED "
    compare = (
        f"WITH e({columns}) AS {materialized}({evaluated_sql}), "
        f"w AS (SELECT e.id AS account_id, (e.arr * 100)::bigint AS cents, "
        f"array_remove(ARRAY[{matched}]::bigint[], NULL) AS segs FROM e), "
        f"h AS ({held}), "
        f"x AS MATERIALIZED (SELECT COALESCE(w.account_id, h.account_id) AS account_id, "
        f"COALESCE(w.segs, '{{}}') AS want, COALESCE(h.segs, '{{}}') AS have "
        f"FROM w FULL JOIN h ON h.account_id = w.account_id "
        f"WHERE COALESCE(w.segs, '{{}}') <> COALESCE(h.segs, '{{}}')) "
    )
    diff_rows = (
        "SELECT s.id AS segment_id, x.account_id, true AS entering FROM x "
        "CROSS JOIN LATERAL unnest(x.want) AS s(id) WHERE s.id <> ALL (x.have) "
        "UNION ALL "
        "SELECT s.id, x.account_id, false FROM x "
        "CROSS JOIN LATERAL unnest(x.have) AS s(id) WHERE s.id <> ALL (x.want)"
    )
    diff_counts = (
        "SELECT 'diff', segment_id, COUNT(*) FILTER (WHERE entering), COUNT(*), NULL::numeric "
        "FROM ins GROUP BY segment_id"
    )
    if not full:
        cursor.execute(
            f"{compare}, ins AS (INSERT INTO {SWEEP_DIFF_TABLE} (segment_id, account_id, "
            f"entering) {diff_rows} RETURNING segment_id, entering) {diff_counts}",
            evaluated_params,
        )
        return cursor.fetchall()
    # Every account: CREATE TABLE AS, unlike a statement that writes in a CTE, may run the
    # evaluation of the rules in parallel workers. Its rows are the diff, and one row per
    # segment (account_id NULL) with the new membership's count and ARR, summed as whole
    # cents (bigint: exact, and cheaper than numeric additions).
    # Room to hash every account's arrays in memory (this transaction only); beyond it
    # PostgreSQL spills the join to disk, so memory stays bounded.
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute(f"DROP TABLE IF EXISTS {FULL_DIFF_TABLE}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {FULL_DIFF_TABLE} ON COMMIT DROP AS {compare}"
        f"SELECT d.*, NULL::bigint AS members, NULL::numeric AS cents FROM ({diff_rows}) d "
        f"UNION ALL SELECT s.id, NULL, NULL, COUNT(*), SUM(w.cents) "
        f"FROM w CROSS JOIN LATERAL unnest(w.segs) AS s(id) GROUP BY s.id",
        evaluated_params,
    )
    cursor.execute(
        f"WITH ins AS (INSERT INTO {SWEEP_DIFF_TABLE} (segment_id, account_id, entering) "
        f"SELECT segment_id, account_id, entering FROM {FULL_DIFF_TABLE} "
        f"WHERE account_id IS NOT NULL RETURNING segment_id, entering) {diff_counts} "
        f"UNION ALL SELECT 'total', segment_id, members, NULL, ROUND(cents / 100.0, 2) "
        f"FROM {FULL_DIFF_TABLE} WHERE account_id IS NULL"
    )
    return cursor.fetchall()


def _segments_diff_other(
    cursor: Any,
    segments: list[Segment],
    evaluated_sql: str,
    evaluated_params: list,
    columns: str,
    full: bool,
) -> list[tuple]:
    """Other databases (SQLite): the wanted and held (segment, account) pairs compared
    with NOT EXISTS both ways; the same "diff" rows as the PostgreSQL version, and no
    totals (the caller aggregates each segment's stored membership instead)."""
    members = Membership._meta.db_table
    segment_ids = ", ".join(str(segment.pk) for segment in segments)
    wanted = " UNION ALL ".join(
        f"SELECT {segment.pk} AS segment_id, e.id AS account_id FROM e "
        f"WHERE e.seg_{segment.pk} IS NOT NULL"
        for segment in segments
    )
    only_batch = "" if full else f"m.account_id IN (SELECT account_id FROM {BATCH_TABLE}) AND "
    held = (
        f"SELECT m.segment_id, m.account_id FROM {members} m "
        f"WHERE {only_batch}m.segment_id IN ({segment_ids})"
    )
    with_clause = f"WITH e({columns}) AS ({evaluated_sql}), w AS ({wanted}), h AS ({held}) "
    cursor.execute(
        f"{with_clause}INSERT INTO {SWEEP_DIFF_TABLE} (segment_id, account_id, entering) "
        "SELECT w.segment_id, w.account_id, %s FROM w WHERE NOT EXISTS (SELECT 1 FROM h "
        "WHERE h.segment_id = w.segment_id AND h.account_id = w.account_id) "
        "UNION ALL "
        "SELECT h.segment_id, h.account_id, %s FROM h WHERE NOT EXISTS (SELECT 1 FROM w "
        "WHERE w.segment_id = h.segment_id AND w.account_id = h.account_id)",
        [*evaluated_params, True, False],
    )
    cursor.execute(
        f"SELECT 'diff', segment_id, SUM(CASE WHEN entering THEN 1 ELSE 0 END), COUNT(*), NULL "
        f"FROM {SWEEP_DIFF_TABLE} GROUP BY segment_id"
    )
    return cursor.fetchall()


def _sweep_condition(
    segment: Segment, today: date, attributes: dict[str, AttributeSpec]
) -> tuple[dict[str, Any], Q]:
    """The compiled rule of ``segment`` minus what higher-precedence segments of its
    exclusive group claim (their rules, or a ranked one's top N as a subquery)."""
    compiled_aliases, condition = compile_rule(
        segment.current_version.rule, today=today, attributes=attributes
    )
    aliases = dict(compiled_aliases)
    if segment.exclusive_group_id:
        for higher in segment_higher_precedence(segment):
            version = higher.current_version
            if version.rank_by:
                claimed = segment_target_ids(
                    segment=higher, version=version, today=today, attributes=attributes
                )
                condition &= ~Q(id__in=claimed)
            else:
                higher_aliases, higher_condition = compile_rule(
                    version.rule, today=today, attributes=attributes
                )
                aliases.update(higher_aliases)
                condition &= ~higher_condition
    return aliases, condition


def evaluate_changed_debounce_seconds() -> int:
    return int(getattr(settings, "SEGMENT_EVAL_DEBOUNCE_SECONDS", 5))
