"""The trigger side of the step engine: membership events (and activations with
``run_for_current_members``) become playbook runs, in bounded set-based batches, and the
runs are handed to execution after commit (``signals.playbook_runs_pending``).

The services here never enqueue a Celery task themselves: they send a signal that
``playbooks.receivers`` turns into one, so the task module (which imports the services)
is never imported back."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from cs_platform import clock, outbox
from cs_platform.db import load_sql, table_name
from segments.models import Membership, MembershipEvent, MembershipEventKind

from ..models import (
    Playbook,
    PlaybookActivation,
    PlaybookRun,
    PlaybookTrigger,
    RunStatus,
)
from ..signals import playbook_processing_requested, playbook_runs_pending
from .execution import RUN_LEASE

# Membership events (or members) handled per playbook per statement batch; a call handles
# at most PROCESS_MAX_BATCHES batches per playbook and reports whether more remain.
PROCESS_BATCH_SIZE = 1000
PROCESS_MAX_BATCHES = 20
# Members whose activation runs one INSERT ... SELECT creates (a few milliseconds per
# thousand on PostgreSQL; the runs' execution is queued in batches in the same transaction).
ACTIVATION_CHUNK = 5_000
MAX_ACCOUNT_ID = 2**63 - 1
# Pending runs older than this, with no execution queued, are queued again (a lost one).
PENDING_RUN_GRACE = timedelta(minutes=10)
# Runs recovered per pass (playbooks.runs_recover, every minute).
RECOVER_LIMIT = 1_000
# The outbox tasks that execute runs (a queued one means runs are on their way).
RUN_EXECUTION_TASK_PREFIX = "playbooks.run"


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


def _process_activation_batch(playbook: Playbook, today: date) -> tuple[list[int], int, int, bool]:
    """Runs for the accounts that were already members when the playbook was activated
    with ``run_for_current_members`` (members who entered later are handled by their
    event), set-based: one INSERT ... SELECT per chunk of ``ACTIVATION_CHUNK`` members in
    account id order, up to ``PROCESS_MAX_BATCHES`` chunks that created runs. Returns
    (new pending run ids, created, skipped, whether more may remain).

    Chunks whose members all have their run already insert nothing, so a call walks past
    the ones an earlier call did (each chunk is one range scan of the membership index)."""
    entered_before = playbook.activated_at
    if playbook.stable_days:
        stable_start = _start_of_day(today - timedelta(days=playbook.stable_days - 1))
        entered_before = min(entered_before, stable_start)
    members = Membership.objects.filter(
        segment_id=playbook.segment_id, entered_at__lt=entered_before
    ).order_by("account_id")
    cooldown = timedelta(days=playbook.reentry_cooldown_days)
    skip_detail = (
        f"Ran for this account within {playbook.reentry_cooldown_days} days before "
        "(reentry_cooldown_days)."
    )
    statement = load_sql(
        "playbooks",
        "playbook_runs_insert_for_members",
        runs=table_name(PlaybookRun),
        memberships=table_name(Membership),
    )
    pending, created, skipped, chunks, after = [], 0, 0, 0, 0
    while chunks < PROCESS_MAX_BATCHES:
        bounds = list(
            members.filter(account_id__gt=after).values_list("account_id", flat=True)[
                ACTIVATION_CHUNK - 1 : ACTIVATION_CHUNK
            ]
        )
        upto = bounds[0] if bounds else MAX_ACCOUNT_ID
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                statement,
                [
                    *(playbook.pk, playbook.activated_at, playbook.activated_at),
                    *(skip_detail, timezone.now()),
                    *(playbook.pk, playbook.activated_at - cooldown, playbook.activated_at),
                    *(playbook.segment_id, entered_before, after, upto),
                ],
            )
            rows = cursor.fetchall()
            ids = sorted(run_id for run_id, status in rows if status == RunStatus.PENDING)
            _enqueue_runs(ids)
        pending.extend(ids)
        created += len(ids)
        skipped += len(rows) - len(ids)
        chunks += 1 if rows else 0
        if not bounds:
            return pending, created, skipped, False
        after = upto
    return pending, created, skipped, True


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
        if (
            playbook.on_activation == PlaybookActivation.RUN_FOR_CURRENT_MEMBERS
            and playbook.trigger == PlaybookTrigger.ON_ENTER
        ):
            ids, created, skipped, more = _process_activation_batch(playbook, today)
            result.run_ids.extend(ids)
            result.runs_created += created
            result.runs_skipped += skipped
            result.has_more |= more
        for builder in [_process_event_batch]:
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
    return list(
        PlaybookRun.objects.filter(
            playbook=playbook, membership_event_id__in=event_ids, status=RunStatus.PENDING
        ).values_list("id", flat=True)
    )


def playbook_runs_recover(*, now: datetime | None = None, limit: int = RECOVER_LIMIT) -> int:
    """Execute again the runs nobody answers for: ``running`` with a lapsed lease (the
    worker died mid-run, or a retry was lost) and ``pending`` ones older than
    ``PENDING_RUN_GRACE`` while no execution is queued in the outbox (a fan-out's backlog
    waits there in order and is not recovered twice). Each gets a new lease, so the next
    pass does not queue it again meanwhile; execution skips the steps already done.
    Returns how many runs were queued."""
    now = now or timezone.now()
    lapsed = Q(status=RunStatus.RUNNING) & (
        Q(lease_until__lt=now) | Q(lease_until__isnull=True, started_at__lt=now - RUN_LEASE)
    )
    if not outbox.open_count(task_prefix=RUN_EXECUTION_TASK_PREFIX):
        lapsed |= Q(status=RunStatus.PENDING, created_at__lt=now - PENDING_RUN_GRACE) & (
            Q(lease_until__isnull=True) | Q(lease_until__lt=now)
        )
    with transaction.atomic():
        ids = list(
            PlaybookRun.objects.filter(lapsed)
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        PlaybookRun.objects.filter(pk__in=ids).update(lease_until=now + RUN_LEASE)
        _enqueue_runs(ids)
    return len(ids)
