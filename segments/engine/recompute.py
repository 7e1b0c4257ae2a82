"""One segment's recompute: bring its stored membership in line with its current
version. The target set is one SQL query (``targets.segment_target_ids``) and the diff
against the stored membership is written set-based (``diff``); no account is loaded into
Python."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from cs_platform import clock
from cs_platform.db import dialect
from rules import RuleValidationError

from ..models import Segment, SegmentKind
from . import events
from .diff import membership_diff_apply
from .targets import VersionRules, attribute_specs, is_ranked, segment_target_ids
from .work_tables import batch_accounts, batch_fill, work_tables_ensure

logger = logging.getLogger(__name__)


@dataclass
class RecomputeResult:
    segment_id: int
    version_id: int | None
    # "done", or why nothing was written: "stale_version" (a newer version is current),
    # "inactive", "no_version", "missing" (the segment was deleted), "invalid_rule".
    status: str
    entered: int = 0
    exited: int = 0
    member_count: int | None = None
    arr: Decimal | None = None
    full: bool = True

    @property
    def changed(self) -> bool:
        return bool(self.entered or self.exited)


# Advisory lock keys of segments' writers: this base plus the segment id.
SEGMENT_WRITERS_LOCK_BASE = 0x5345474D << 32  # "SEGM"


def segment_writers_lock(segment_ids: Iterable[int], *, shared: bool = False) -> None:
    """Queue for the advisory locks of these segments' writers (until the end of the
    transaction), before their rows are locked: exclusive for whoever locks a segment's
    row FOR UPDATE (a publish, a recompute, a sweep batch), shared for the ranges of the
    recompute of every segment (which lock rows FOR KEY SHARE). PostgreSQL lets a new
    FOR KEY SHARE locker pass a waiting FOR UPDATE, so with overlapping ranges a publish
    would wait for the whole run; advisory locks are granted in order, so it waits for
    the ranges running when it asked, and later ranges wait for it."""
    dialect().xact_locks([SEGMENT_WRITERS_LOCK_BASE + int(pk) for pk in segment_ids], shared=shared)


def segment_lock(segment_id: int) -> Segment:
    """Lock the segment row (PostgreSQL: SELECT ... FOR UPDATE, after its writers'
    advisory lock; SQLite runs write transactions one at a time anyway), serializing
    version numbering and recomputes. The current version comes in the same query,
    unlocked."""
    segment_writers_lock([segment_id])
    return (
        Segment.objects.select_for_update(of=("self",))
        .select_related("current_version")
        .get(pk=segment_id)
    )


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
                work_tables_ensure(cursor)
                batch_fill(cursor, account_ids)
        return _recompute_locked(
            segment_id=segment_id,
            version_id=version_id,
            partial=partial,
            rules=VersionRules(today=today or clock.today(), attributes=attribute_specs()),
        )


def _recompute_locked(
    *, segment_id: int, version_id: int | None, partial: bool, rules: VersionRules
) -> RecomputeResult:
    """The body of a recompute; runs inside the caller's transaction. ``partial`` means
    "only the accounts in the batch table"."""
    try:
        segment = segment_lock(segment_id)
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
            result.member_count, result.arr = events.store_totals(segment, now=now, snapshot=True)
        return result
    ranked = is_ranked(version)
    partial = partial and not ranked
    result.full = not partial
    try:
        targets = segment_target_ids(
            segment=segment,
            version=version,
            rules=rules,
            base=batch_accounts() if partial else None,
        )
    except RuleValidationError as exc:
        # A custom attribute the rule uses was deleted or retyped after publishing: keep
        # the membership as it is and say why, rather than fail every run.
        logger.warning("segment %s v%s not recomputed: %s", segment.pk, version.number, exc)
        return RecomputeResult(segment_id, version.pk, "invalid_rule")
    (result.entered, result.exited), totals = membership_diff_apply(
        segment_id=segment.pk, version_id=version.pk, targets=targets, partial=partial, now=now
    )
    if not partial:
        result.member_count, result.arr = events.store_totals(
            segment, now=now, snapshot=True, totals=totals
        )
    elif result.changed:
        events.count_adjust({segment.pk: result.entered - result.exited})
    if result.changed and segment.exclusive_group_id and ranked:
        # Lower-precedence segments exclude this one's top N (not its rule), so the
        # accounts that moved in or out of the top N change what they may claim.
        events.recompute_request_many(
            Segment.objects.filter(
                exclusive_group_id=segment.exclusive_group_id,
                priority__gt=segment.priority,
                is_active=True,
            ).values_list("pk", flat=True)
        )
    return result
