"""The recompute of every active segment (the schedule's job)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from cs_platform import clock

from ..models import Segment, SegmentKind
from . import events
from .recompute import segment_recompute
from .segments_diff import segments_diff_apply
from .targets import VersionRules, attribute_specs
from .work_tables import work_tables_ensure


@dataclass
class RecomputeAllResult:
    segments: int = 0
    entered: int = 0
    exited: int = 0
    # Ranked and static segments, recomputed one by one after the shared pass.
    one_by_one: list[int] = field(default_factory=list)


def segments_recompute_all(
    *, today: date | None = None, only: Callable[[Segment], bool] | None = None
) -> RecomputeAllResult:
    """Full recompute of every active segment's current version (the schedule's job).

    The unranked dynamic segments are recomputed together: one transaction that locks
    their rows in id order (as the sweep does, so neither waits on the other in a cycle),
    evaluates every rule in one pass over the accounts and writes the whole diff at once
    (``segments_diff_apply`` with ``full``); each gets its totals and snapshot as after
    its own full run. Its result is the one ``segment_recompute`` of each would give:
    exclusive groups read the other segments' current rules, never their stored
    membership, so evaluating them together changes nothing.

    Ranked segments (their top N is a sort of its own) and static ones (totals only) then
    get their own ``segment_recompute``, one transaction each. ``only``: recompute just
    the active segments it accepts (the day-change job's date-dependent ones). A segment
    whose rule no longer validates keeps its membership (logged), as in
    ``segment_recompute``.
    """
    today = today or clock.today()
    result = RecomputeAllResult()
    with transaction.atomic():
        with connection.cursor() as cursor:
            work_tables_ensure(cursor)
        segments = list(
            Segment.objects.select_for_update(of=("self",))
            .filter(is_active=True, current_version__isnull=False)
            .select_related("current_version")
            .order_by("pk")
        )
        if only is not None:
            segments = [segment for segment in segments if only(segment)]
        together = [
            segment
            for segment in segments
            if segment.kind == SegmentKind.DYNAMIC and not segment.current_version.rank_by
        ]
        now = timezone.now()
        diff = segments_diff_apply(
            segments=together,
            rules=VersionRules(today=today, attributes=attribute_specs()),
            now=now,
            full=True,
        )
        events.store_totals_many(diff.evaluated, now=now, totals=diff.totals)
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
