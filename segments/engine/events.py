"""What the engine tells the rest of the system after writing memberships: the
``memberships_changed`` signal (after commit), the totals stored on segments and their
snapshots, and requests for a recompute (``recompute_requested``: the engine never
enqueues a task itself)."""

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Case, Count, F, Max, Min, Sum, Value, When

from ..models import Membership, MembershipEvent, Segment, SegmentSnapshot
from ..signals import memberships_changed, recompute_requested

# memberships_changed carries the event ids themselves up to this many (else only their
# range), so a first recompute of a million-account segment holds no million-id list.
SIGNAL_EVENT_IDS_LIMIT = 10_000


# --- recompute requests -------------------------------------------------------------------


def recompute_request(*, segment_id: int, version_id: int | None) -> None:
    """Ask for a full recompute of a segment once the current transaction commits: of
    ``version_id`` (skipped if it is no longer current by then), or with None of
    whichever version is current when it runs."""
    recompute_requested.send(sender=Segment, segment_id=segment_id, version_id=version_id)


def recompute_request_many(segment_ids: Iterable[int]) -> None:
    # No version: each recompute uses the segment's current version when it runs.
    for segment_id in list(segment_ids):
        recompute_request(segment_id=segment_id, version_id=None)


# --- memberships_changed ------------------------------------------------------------------


def signal_events(segment_id: int, at: datetime, count: int) -> None:
    signal_events_many({segment_id: count}, at)


def signal_events_many(
    counts: dict[int, int],
    at: datetime,
    accounts: tuple[int | None, int | None] | None = None,
) -> None:
    """Send memberships_changed after commit for the events written at ``at`` to each
    segment of ``counts`` ({segment id: number of events}); writes to one segment are
    serialized, so (segment, at) names exactly this write's events; ``accounts`` (low,
    high: ``low <= account < high``, None unbounded) narrows them to one range of the
    recompute of every segment, whose ranges may write the same segment at once. Two
    queries at most, whatever the number of segments: the ids of the segments with few
    events, the id range of the others."""
    new_events = MembershipEvent.objects.filter(at=at).order_by()
    if accounts is not None:
        low, high = accounts
        if low is not None:
            new_events = new_events.filter(account_id__gte=low)
        if high is not None:
            new_events = new_events.filter(account_id__lt=high)
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
            signal_send(sid, event_ids, (event_ids[0], event_ids[-1]), counts[sid])
    for sid in many:
        if sid in ranges:
            signal_send(sid, None, ranges[sid], counts[sid])


def signal_written(
    segment_id: int, few_ids: list[int] | None, id_range: tuple[int, int], count: int
) -> None:
    """memberships_changed for ``count`` events whose ids the writing statement returned
    (``few_ids``: the first ``SIGNAL_EVENT_IDS_LIMIT + 1`` of them at most)."""
    if count:
        event_ids = sorted(few_ids or []) if count <= SIGNAL_EVENT_IDS_LIMIT else None
        signal_send(segment_id, event_ids, id_range, count)


def signal_send(
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


# --- totals -------------------------------------------------------------------------------


def count_adjust(deltas: dict[int, int]) -> None:
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


def store_totals(
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


def store_totals_many(
    segments: list[Segment], *, now: datetime, totals: dict[int, tuple[int, Decimal]]
) -> None:
    """``store_totals`` with a snapshot for many segments: one UPDATE and one INSERT for
    those whose totals are known, one aggregate each for the others."""
    known = [segment for segment in segments if segment.pk in totals]
    for segment in segments:
        if segment.pk not in totals:
            store_totals(segment, now=now, snapshot=True)
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
