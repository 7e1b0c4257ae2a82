"""The renewal queue build (DESIGN 4): a set-based diff of the queue and its renewal tasks,
by default only of the contracts that changed or crossed a window boundary since the
previous build, and the renewal windows."""

import logging
import time as time_module
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

from django.db import transaction
from django.db.models import Value
from django.utils import timezone

from cs_platform import clock
from customers.models import Contract, ContractStatus

from .. import renewal_queue
from ..models import RenewalQueueBuild, RenewalWindow

logger = logging.getLogger(__name__)

# The delta looks at rows changed since the previous build started, minus this margin (for
# transactions that set updated_at before the previous build but committed after it).
RENEWAL_DELTA_MARGIN = timedelta(minutes=10)
# A full diff at least this often heals anything the delta cannot see (raw SQL writes).
RENEWAL_FULL_EVERY_DAYS = 7
# Above this many changed contracts a full diff is cheaper than a scoped one.
RENEWAL_DELTA_MAX_SCOPE = 100_000


@dataclass(frozen=True)
class _DeltaScope:
    """The contracts a delta re-diffs (sorted id lists): ``changed``, whose contract or
    account row changed since the previous build (entries and tasks may be out of date);
    ``overdue``, unchanged ones whose end_date passed since the previous build's day (their
    window entries leave, an overdue entry comes); ``entering``, unchanged ones that entered
    a window (entries only come)."""

    changed: list[int]
    overdue: list[int]
    entering: list[int]

    @cached_property
    def all(self) -> list[int]:
        return sorted(self.changed + self.overdue + self.entering)

    @property
    def leaving(self) -> list[int]:
        """The only contracts that can have entries to delete: as days pass, a window's
        lower bound (today) passes an unchanged contract only when it becomes overdue."""
        return sorted(self.changed + self.overdue)


def _delta_scope(
    *, since: datetime, last_day: date, today: date, windows: list[RenewalWindow]
) -> _DeltaScope:
    """Contracts changed since ``since`` or crossing a window boundary between ``last_day``
    and ``today``, in one query: a UNION ALL whose branches are index range scans (contract
    and account ``updated_at``; the active contracts' (end_date, id) index, read without
    the table, once per boundary)."""
    active = Contract.objects.filter(status=ContractStatus.ACTIVE)
    branches = [
        Contract.objects.filter(updated_at__gte=since).annotate(kind=Value("c")),
        Contract.objects.filter(account__updated_at__gte=since).annotate(kind=Value("c")),
    ]
    if today > last_day:
        branches.append(
            active.filter(end_date__gte=last_day, end_date__lt=today).annotate(kind=Value("o"))
        )
        branches += [
            active.filter(
                end_date__gt=last_day + timedelta(days=window.days),
                end_date__lte=today + timedelta(days=window.days),
            ).annotate(kind=Value("e"))
            for window in windows
        ]
    first, *rest = (branch.order_by().values_list("id", "kind") for branch in branches)
    # A contract in several branches counts once, as its strongest kind: changed, then
    # overdue (its window entries leave), then entering.
    strength = "eoc"
    kinds: dict[int, str] = {}
    for contract_id, kind in first.union(*rest, all=True):
        kinds[contract_id] = max(kinds.get(contract_id, kind), kind, key=strength.index)
    by_kind: dict[str, list[int]] = {kind: [] for kind in strength}
    for contract_id, kind in kinds.items():
        by_kind[kind].append(contract_id)
    return _DeltaScope(
        changed=sorted(by_kind["c"]), overdue=sorted(by_kind["o"]), entering=sorted(by_kind["e"])
    )


@transaction.atomic
def renewal_queue_rebuild(
    *, today: date | None = None, full: bool = False, timings: list | None = None
) -> RenewalQueueBuild:
    """Bring the renewal queue and its renewal tasks up to date for ``today``.

    A set-based diff in one pass (``renewal_queue.run_statements``: the wanted rows joined
    once to the written entries, each row classified, every class applied from that one
    classified set): open renewal tasks follow an owner change; entries whose contract is no longer active or left its window are deleted;
    changed entries (owner, ARR, renewal date) are updated; missing entries are inserted
    (INSERT ... SELECT of the missing ones); then one task per new (contract, window)
    entry, exactly once (a unique index, and builds serialized by a lock on PostgreSQL).

    By default only a delta is diffed: contracts changed since the previous build, and
    contracts that crossed a window boundary since the previous build's day (owner, ARR
    and renewal date updates look only at the changed ones, deletes only at those and the
    ones that became overdue). A full diff runs when asked (``full=True``), on the first
    build, when the active windows changed, when ``today`` is before the previous build's
    day, or when the last full diff is more than RENEWAL_FULL_EVERY_DAYS old. Safe to run twice or concurrently. ``timings``, if
    given, receives (statement, seconds, rows) per step.
    """
    today = today or clock.today()
    # First: a concurrent build waits here, then diffs against what this one wrote.
    renewal_queue.renewal_writers_lock()
    started_at = timezone.now()
    windows = list(RenewalWindow.objects.filter(is_active=True).order_by("-days"))
    signature = ",".join(str(window.days) for window in windows)
    previous = RenewalQueueBuild.objects.order_by("-started_at", "-id").first()
    last_full = RenewalQueueBuild.objects.filter(full=True).order_by("-started_at", "-id").first()
    scope = changed = leaving = None  # None: every contract (a full diff)
    scope_started = time_module.perf_counter()
    if (
        not full
        and previous is not None
        and last_full is not None
        and previous.windows == signature
        and previous.built_for <= today
        and (today - last_full.built_for).days < RENEWAL_FULL_EVERY_DAYS
    ):
        delta = _delta_scope(
            since=previous.started_at - RENEWAL_DELTA_MARGIN,
            last_day=previous.built_for,
            today=today,
            windows=windows,
        )
        if len(delta.all) <= RENEWAL_DELTA_MAX_SCOPE:
            scope, changed, leaving = delta.all, delta.changed, delta.leaving
    scope_seconds = time_module.perf_counter() - scope_started
    counts = renewal_queue.run_statements(
        today=today,
        now=started_at,
        windows=windows,
        scope=scope,
        changed=changed,
        leaving=leaving,
    )
    if timings is not None:
        timings.append(("find delta scope", scope_seconds, len(scope or [])))
        timings.extend(counts.timings)
    build = RenewalQueueBuild.objects.create(
        built_for=today,
        full=scope is None,
        windows=signature,
        started_at=started_at,
        finished_at=timezone.now(),
        inserted=counts.inserted,
        updated=counts.updated,
        deleted=counts.deleted,
        tasks_created=counts.tasks_created,
        tasks_reassigned=counts.tasks_reassigned,
        tasks_closed=counts.tasks_closed,
    )
    logger.info(
        "renewal queue for %s (%s): +%d ~%d -%d entries, %d tasks created, %d reassigned, "
        "%d closed",
        today,
        "full" if build.full else f"delta of {len(scope or [])} contracts",
        counts.inserted,
        counts.updated,
        counts.deleted,
        counts.tasks_created,
        counts.tasks_reassigned,
        counts.tasks_closed,
    )
    return build


@transaction.atomic
def renewal_window_create(*, days: int, name: str = "", is_active: bool = True) -> RenewalWindow:
    window = RenewalWindow(days=days, name=name or f"T-{days}", is_active=is_active)
    window.full_clean()
    window.save()
    return window
