"""The trigger side of the step engine: membership events (and activations with
``run_for_current_members``) become playbook runs, in bounded set-based batches, and the
runs are handed to execution after commit (``signals.playbook_runs_pending``).

The services here never enqueue a Celery task themselves: they send a signal that
``playbooks.receivers`` turns into one, so the task module (which imports the services)
is never imported back."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from cs_platform import clock
from segments.models import Membership, MembershipEvent, MembershipEventKind

from ..models import (
    Playbook,
    PlaybookActivation,
    PlaybookRun,
    PlaybookTrigger,
    RunStatus,
)
from ..signals import playbook_processing_requested, playbook_runs_pending

# Membership events (or members) handled per playbook per statement batch; a call handles
# at most PROCESS_MAX_BATCHES batches per playbook and reports whether more remain.
PROCESS_BATCH_SIZE = 1000
PROCESS_MAX_BATCHES = 20
# Pending runs older than this are enqueued again by the sweep (a lost message).
PENDING_RUN_GRACE = timedelta(minutes=5)


@dataclass
class ProcessResult:
    runs_created: int = 0
    runs_skipped: int = 0
    has_more: bool = False
    run_ids: list[int] = field(default_factory=list)


def playbooks_request_processing(*, segment_id: int | None = None) -> None:
    """Queue playbook processing for a segment (or all) after the current commit."""
    playbook_processing_requested.send(sender=Playbook, segment_id=segment_id)


def _enqueue_runs(run_ids: list[int]) -> None:
    """Hand pending runs to execution after the current commit."""
    if run_ids:
        playbook_runs_pending.send(sender=PlaybookRun, run_ids=run_ids)


def _start_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _recent_runs(playbook: Playbook, account_ids: list[int], since: datetime) -> dict:
    """When this playbook last ran (not skipped) for these accounts, trigger times since."""
    times: dict[int, list[datetime]] = defaultdict(list)
    rows = (
        PlaybookRun.objects.filter(
            playbook=playbook, account_id__in=account_ids, triggered_at__gte=since
        )
        .exclude(status=RunStatus.SKIPPED)
        .values_list("account_id", "triggered_at")
    )
    for account_id, at in rows:
        times[account_id].append(at)
    return times


def _cooldown_blocks(playbook: Playbook, previous: list[datetime], at: datetime) -> bool:
    if not playbook.reentry_cooldown_days:
        return False
    start = at - timedelta(days=playbook.reentry_cooldown_days)
    return any(start <= t < at for t in previous)


def _skip_for_cooldown(run: PlaybookRun) -> None:
    run.status = RunStatus.SKIPPED
    run.detail = (
        f"Ran for this account within {run.playbook.reentry_cooldown_days} days before "
        "(reentry_cooldown_days)."
    )


def _process_event_batch(playbook: Playbook, today: date) -> tuple[list[PlaybookRun], bool]:
    """Build run rows for the next batch of this playbook's unprocessed events."""
    kind, opposite = (
        (MembershipEventKind.ENTERED, MembershipEventKind.EXITED)
        if playbook.trigger == PlaybookTrigger.ON_ENTER
        else (MembershipEventKind.EXITED, MembershipEventKind.ENTERED)
    )
    has_run = PlaybookRun.objects.filter(  # (playbook, account, event): the unique index
        playbook=playbook, account_id=OuterRef("account_id"), membership_event=OuterRef("pk")
    )
    events = MembershipEvent.objects.filter(
        segment_id=playbook.segment_id, kind=kind, at__gte=playbook.activated_at
    ).filter(~Exists(has_run))
    if playbook.stable_days:
        # Wait until the account has stayed N days; skip if it flipped back within them.
        stable = timedelta(days=playbook.stable_days)
        events = events.filter(at__lt=_start_of_day(today - stable + timedelta(days=1)))
        flipped = MembershipEvent.objects.filter(
            segment_id=OuterRef("segment_id"),
            account_id=OuterRef("account_id"),
            kind=opposite,
            at__gt=OuterRef("at"),
            at__lte=OuterRef("at") + stable,
        )
        events = events.annotate(flipped=Exists(flipped))
    batch = list(events.order_by("at", "id")[: PROCESS_BATCH_SIZE + 1])
    has_more = len(batch) > PROCESS_BATCH_SIZE
    batch = batch[:PROCESS_BATCH_SIZE]
    if not batch:
        return [], False
    since = batch[0].at - timedelta(days=playbook.reentry_cooldown_days)
    previous = _recent_runs(playbook, sorted({e.account_id for e in batch}), since)
    runs = []
    for event in batch:
        run = PlaybookRun(
            playbook=playbook,
            account_id=event.account_id,
            membership_event=event,
            triggered_at=event.at,
            status=RunStatus.PENDING,
        )
        if getattr(event, "flipped", False):
            run.status = RunStatus.SKIPPED
            run.detail = f"Did not stay {playbook.stable_days} days (stable_days)."
        elif _cooldown_blocks(playbook, previous[event.account_id], event.at):
            _skip_for_cooldown(run)
        else:
            previous[event.account_id].append(event.at)
        runs.append(run)
    return runs, has_more


def _process_activation_batch(playbook: Playbook, today: date) -> tuple[list[PlaybookRun], bool]:
    """Runs for accounts that were already members when the playbook was activated with
    ``run_for_current_members`` (members who entered later are handled by their event)."""
    has_run = PlaybookRun.objects.filter(
        playbook=playbook,
        account_id=OuterRef("account_id"),
        membership_event__isnull=True,
        activation_at=playbook.activated_at,
    )
    members = Membership.objects.filter(
        segment_id=playbook.segment_id, entered_at__lt=playbook.activated_at
    ).filter(~Exists(has_run))
    if playbook.stable_days:
        stable = timedelta(days=playbook.stable_days)
        members = members.filter(entered_at__lt=_start_of_day(today - stable + timedelta(days=1)))
    batch = list(members.order_by("entered_at", "id")[: PROCESS_BATCH_SIZE + 1])
    has_more = len(batch) > PROCESS_BATCH_SIZE
    batch = batch[:PROCESS_BATCH_SIZE]
    if not batch:
        return [], False
    cooldown = timedelta(days=playbook.reentry_cooldown_days)
    previous = _recent_runs(
        playbook, sorted({m.account_id for m in batch}), playbook.activated_at - cooldown
    )
    runs = []
    for member in batch:
        run = PlaybookRun(
            playbook=playbook,
            account_id=member.account_id,
            activation_at=playbook.activated_at,
            triggered_at=playbook.activated_at,
            status=RunStatus.PENDING,
        )
        if _cooldown_blocks(playbook, previous[member.account_id], playbook.activated_at):
            _skip_for_cooldown(run)
        runs.append(run)
    return runs, has_more


def playbooks_process_events(
    *, segment_id: int | None = None, today: date | None = None
) -> ProcessResult:
    """Create the runs that membership events (and activations) call for, and enqueue
    their execution after commit.

    For each active playbook (of ``segment_id``, or all): membership events of its
    trigger's kind (entered for on_enter, exited for on_exit) since its activation that
    have no run yet; with ``stable_days`` only events at least that many days old, skipped
    (a run with status skipped) when the opposite event followed within them; with
    ``reentry_cooldown_days`` skipped when the playbook ran for the account within that
    many days before. With ``run_for_current_members`` also one run per account that was a
    member at activation. Runs are inserted with ON CONFLICT DO NOTHING against the unique
    keys (playbook, account, event) / (playbook, account, activation), so concurrent or
    repeated processing never creates a second run for one trigger.
    """
    today = today or clock.today()
    result = ProcessResult()
    playbooks = Playbook.objects.filter(is_active=True, activated_at__isnull=False).select_related(
        "segment"
    )
    if segment_id is not None:
        playbooks = playbooks.filter(segment_id=segment_id)
    for playbook in playbooks:
        builders = [_process_event_batch]
        if (
            playbook.on_activation == PlaybookActivation.RUN_FOR_CURRENT_MEMBERS
            and playbook.trigger == PlaybookTrigger.ON_ENTER
        ):
            builders.insert(0, _process_activation_batch)
        for builder in builders:
            for _ in range(PROCESS_MAX_BATCHES):
                with transaction.atomic():
                    runs, more = builder(playbook, today)
                    if runs:
                        PlaybookRun.objects.bulk_create(runs, ignore_conflicts=True)
                        ids = _created_pending_ids(playbook, runs)
                        result.run_ids.extend(ids)
                        result.runs_created += sum(r.status == RunStatus.PENDING for r in runs)
                        result.runs_skipped += sum(r.status == RunStatus.SKIPPED for r in runs)
                        _enqueue_runs(ids)
                if not more:
                    break
            else:
                result.has_more = True
    return result


def _created_pending_ids(playbook: Playbook, runs: list[PlaybookRun]) -> list[int]:
    event_ids = [r.membership_event_id for r in runs if r.membership_event_id]
    account_ids = [r.account_id for r in runs if not r.membership_event_id]
    keys = Q()
    if event_ids:
        keys |= Q(membership_event_id__in=event_ids)
    if account_ids:
        keys |= Q(
            membership_event__isnull=True,
            activation_at=playbook.activated_at,
            account_id__in=account_ids,
        )
    return list(
        PlaybookRun.objects.filter(keys, playbook=playbook, status=RunStatus.PENDING).values_list(
            "id", flat=True
        )
    )


def playbook_runs_enqueue_pending() -> int:
    """Enqueue runs left pending for longer than PENDING_RUN_GRACE (a lost message)."""
    cutoff = timezone.now() - PENDING_RUN_GRACE
    ids = list(
        PlaybookRun.objects.filter(status=RunStatus.PENDING, created_at__lt=cutoff).values_list(
            "id", flat=True
        )[:PROCESS_BATCH_SIZE]
    )
    _enqueue_runs(ids)
    return len(ids)
