"""Writes of the segment engine: segments and their versions, static members, and the
set-based recompute of memberships (full, per changed accounts, and the sweep).

Recompute in short (see ``segment_recompute``): the target set is one SQL query built by
the rule compiler (``selectors.segment_target_ids``); the diff against the stored
membership goes into a per-connection temporary table in one INSERT ... SELECT, and only
when it is not empty are the events inserted, the leavers deleted and the newcomers
inserted, each with one set-based statement. No account is loaded into Python.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.text import slugify

from cs_platform import clock
from customers.models import Account

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
from .rules import AttributeSpec, RuleValidationError, validate_rank, validate_rule
from .selectors import attribute_specs, segment_target_ids
from .signals import memberships_changed

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
    transactions one at a time anyway), serializing version numbering and recomputes."""
    return Segment.objects.select_for_update().get(pk=segment_id)


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
    """"Recompute now": queue a full recompute of ``segment``'s current version after the
    current transaction commits."""
    _enqueue_recompute(segment_id=segment.pk, version_id=segment.current_version_id)


def segments_request_recompute_all() -> int:
    """Queue one recompute per active segment (the beat schedule's job); returns how many."""
    pairs = list(
        Segment.objects.filter(is_active=True, current_version__isnull=False).values_list(
            "pk", "current_version_id"
        )
    )
    for segment_id, version_id in pairs:
        _enqueue_recompute(segment_id=segment_id, version_id=version_id)
    return len(pairs)


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
        raise ValidationError(
            {"account_ids": [f"Unknown account ids: {sorted(ids - known)[:20]}"]}
        )
    present = set(
        Membership.objects.filter(segment=segment, account_id__in=ids).values_list(
            "account_id", flat=True
        )
    )
    new = sorted(ids - present)
    now = timezone.now()
    Membership.objects.bulk_create(
        Membership(segment=segment, account_id=account_id, entered_at=now,
                   version_id=segment.current_version_id)
        for account_id in new
    )
    events = MembershipEvent.objects.bulk_create(
        MembershipEvent(segment=segment, account_id=account_id,
                        kind=MembershipEventKind.ENTERED, at=now,
                        version_id=segment.current_version_id)
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
        MembershipEvent(segment=segment, account_id=account_id,
                        kind=MembershipEventKind.EXITED, at=now,
                        version_id=segment.current_version_id)
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
    """Create this connection's work tables if needed (cheap: IF NOT EXISTS)."""
    if _is_postgresql():
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {DIFF_TABLE} "
            "(account_id bigint NOT NULL, entering boolean NOT NULL) ON COMMIT DELETE ROWS"
        )
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {BATCH_TABLE} "
            "(account_id bigint PRIMARY KEY) ON COMMIT DELETE ROWS"
        )
    else:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {DIFF_TABLE} "
            "(account_id integer NOT NULL, entering bool NOT NULL)"
        )
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {BATCH_TABLE} (account_id integer PRIMARY KEY)"
        )


def _batch_fill(cursor: Any, account_ids: Iterable[int]) -> int:
    """Put ``account_ids`` into the batch table in one statement; returns the count."""
    ids = sorted({int(i) for i in account_ids})
    cursor.execute(f"DELETE FROM {BATCH_TABLE}")
    if not ids:
        return 0
    if _is_postgresql():
        cursor.execute(
            f"INSERT INTO {BATCH_TABLE} (account_id) SELECT unnest(%s::bigint[])", [ids]
        )
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
    version = SegmentVersion.objects.get(pk=segment.current_version_id)
    now = timezone.now()
    result = RecomputeResult(segment_id, version.pk, "done")
    if segment.kind == SegmentKind.STATIC:
        if not partial:
            result.member_count, result.arr = _store_totals(segment, now=now, snapshot=True)
        return result
    ranked = bool(version.rank_by and version.rank_limit)
    partial = partial and not ranked
    result.full = not partial
    targets = segment_target_ids(
        segment=segment,
        version=version,
        today=today,
        attributes=attributes,
        base=_batch_accounts() if partial else None,
    )
    result.entered, result.exited = _membership_diff_apply(
        segment_id=segment.pk, version_id=version.pk, targets=targets, partial=partial, now=now
    )
    if not partial or result.changed:
        result.member_count, result.arr = _store_totals(segment, now=now, snapshot=not partial)
    if result.changed:
        _signal_events(segment.pk, now, result.entered + result.exited)
        if segment.exclusive_group_id and ranked:
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
) -> tuple[int, int]:
    """Apply the difference between ``targets`` (a values("id") queryset) and the stored
    membership of the segment; returns (entered, exited).

    1. ``INSERT INTO diff WITH t AS (<target query>) SELECT <t minus members, entering>
       UNION ALL <members minus t, exiting>``: the target query runs once (PostgreSQL
       materializes a CTE referenced twice);
    2. only if the diff is not empty: one INSERT ... SELECT of the events, one DELETE of
       the leavers, one INSERT ... SELECT of the newcomers.

    With ``partial`` both sides are limited to the accounts in the batch table.
    """
    target_sql, target_params = targets.query.sql_with_params()
    members = Membership._meta.db_table
    events = MembershipEvent._meta.db_table
    at = connection.ops.adapt_datetimefield_value(now)
    only_batch_members = (
        f" AND m.account_id IN (SELECT account_id FROM {BATCH_TABLE})" if partial else ""
    )
    with connection.cursor() as cursor:
        _temp_tables_ensure(cursor)
        cursor.execute(f"DELETE FROM {DIFF_TABLE}")
        cursor.execute(
            f"WITH t(id) AS ({target_sql}) "
            f"INSERT INTO {DIFF_TABLE} (account_id, entering) "
            f"SELECT t.id, %s FROM t WHERE NOT EXISTS "
            f"(SELECT 1 FROM {members} m WHERE m.segment_id = %s AND m.account_id = t.id) "
            f"UNION ALL "
            f"SELECT m.account_id, %s FROM {members} m WHERE m.segment_id = %s"
            f"{only_batch_members} AND NOT EXISTS (SELECT 1 FROM t WHERE t.id = m.account_id)",
            [*target_params, True, segment_id, False, segment_id],
        )
        if not cursor.rowcount:
            return 0, 0
        cursor.execute(
            f"SELECT COALESCE(SUM(CASE WHEN entering THEN 1 ELSE 0 END), 0), COUNT(*) "
            f"FROM {DIFF_TABLE}"
        )
        entered, total = cursor.fetchone()
        if not total:
            return 0, 0
        cursor.execute(
            f"INSERT INTO {events} (segment_id, account_id, kind, at, version_id) "
            f"SELECT %s, account_id, CASE WHEN entering THEN %s ELSE %s END, %s, %s "
            f"FROM {DIFF_TABLE} ORDER BY entering, account_id",
            [
                segment_id,
                MembershipEventKind.ENTERED.value,
                MembershipEventKind.EXITED.value,
                at,
                version_id,
            ],
        )
        if total - entered:
            cursor.execute(
                f"DELETE FROM {members} WHERE segment_id = %s AND account_id IN "
                f"(SELECT account_id FROM {DIFF_TABLE} WHERE NOT entering)",
                [segment_id],
            )
        if entered:
            cursor.execute(
                f"INSERT INTO {members} (segment_id, account_id, entered_at, version_id) "
                f"SELECT %s, account_id, %s, %s FROM {DIFF_TABLE} WHERE entering",
                [segment_id, at, version_id],
            )
    return int(entered), int(total - entered)


def _store_totals(segment: Segment, *, now: datetime, snapshot: bool) -> tuple[int, Decimal]:
    totals = Membership.objects.filter(segment_id=segment.pk).aggregate(
        count=Count("id"), arr=Sum("account__arr")
    )
    count, arr = totals["count"] or 0, totals["arr"] or Decimal("0")
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
    """Send memberships_changed after commit for the events written at ``at`` (writes to
    one segment are serialized, so (segment, at) names exactly this write's events)."""
    new_events = MembershipEvent.objects.filter(segment_id=segment_id, at=at)
    if count <= SIGNAL_EVENT_IDS_LIMIT:
        event_ids: list[int] | None = sorted(new_events.values_list("id", flat=True))
        first, last = event_ids[0], event_ids[-1]
    else:
        event_ids = None
        bounds = new_events.order_by().values_list("id", flat=True)
        first, last = bounds.order_by("id").first(), bounds.order_by("-id").first()

    def send() -> None:
        memberships_changed.send(
            sender=Segment,
            segment_id=segment_id,
            event_ids=event_ids,
            event_id_range=(first, last),
            event_count=count,
        )

    transaction.on_commit(send)


# --- changed accounts -------------------------------------------------------------------------


def segments_evaluate_changed_accounts(
    *,
    batch_size: int = SWEEP_BATCH_SIZE,
    max_batches: int = SWEEP_MAX_BATCHES,
    today: date | None = None,
) -> SweepResult:
    """Re-evaluate the accounts flagged ``needs_segment_eval`` against every active
    dynamic segment, in batches of ``batch_size`` (at most ``max_batches``).

    Each batch is one transaction: it takes the next flagged accounts with
    ``SELECT ... FOR UPDATE SKIP LOCKED`` (so concurrent sweeps share the work and a
    write to a locked account waits and re-flags it after commit), re-evaluates only
    them against each unranked segment (partial recompute), and clears their flags.
    Ranked segments cannot be evaluated per account (a change anywhere can move the top
    N), so they get one full recompute per sweep run, after the batches. Exclusive groups
    need nothing special: exclusion reads the other segments' current rules.
    """
    today = today or clock.today()
    result = SweepResult()
    for _ in range(max_batches):
        taken, entered, exited = _evaluate_changed_batch(batch_size=batch_size, today=today)
        if not taken:
            break
        result.batches += 1
        result.accounts += taken
        result.entered += entered
        result.exited += exited
    else:
        result.remaining = Account.objects.filter(needs_segment_eval=True).exists()
    if result.accounts:
        ranked = Segment.objects.filter(
            is_active=True, kind=SegmentKind.DYNAMIC, current_version__isnull=False
        ).exclude(current_version__rank_by="")
        for segment_id in ranked.order_by("pk").values_list("pk", flat=True):
            run = segment_recompute(segment_id=segment_id, today=today)
            result.ranked_recomputed.append(segment_id)
            result.entered += run.entered
            result.exited += run.exited
    return result


@transaction.atomic
def _evaluate_changed_batch(*, batch_size: int, today: date) -> tuple[int, int, int]:
    accounts = Account._meta.db_table
    lock = " FOR UPDATE SKIP LOCKED" if _is_postgresql() else ""
    with connection.cursor() as cursor:
        _temp_tables_ensure(cursor)
        cursor.execute(f"DELETE FROM {BATCH_TABLE}")
        cursor.execute(
            f"INSERT INTO {BATCH_TABLE} (account_id) SELECT id FROM {accounts} "
            f"WHERE needs_segment_eval = %s ORDER BY id LIMIT %s{lock}",
            [True, batch_size],
        )
        taken = cursor.rowcount
    if not taken:
        return 0, 0, 0
    attributes = attribute_specs()
    segment_ids = (
        Segment.objects.filter(
            is_active=True,
            kind=SegmentKind.DYNAMIC,
            current_version__isnull=False,
            current_version__rank_by="",
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    entered = exited = 0
    for segment_id in segment_ids:
        run = _recompute_locked(
            segment_id=segment_id, version_id=None, partial=True, today=today,
            attributes=attributes,
        )
        entered += run.entered
        exited += run.exited
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {accounts} SET needs_segment_eval = %s "
            f"WHERE id IN (SELECT account_id FROM {BATCH_TABLE})",
            [False],
        )
    return taken, entered, exited


def evaluate_changed_debounce_seconds() -> int:
    return int(getattr(settings, "SEGMENT_EVAL_DEBOUNCE_SECONDS", 5))
