"""Benchmark the renewal queue build on a scratch PostgreSQL database.

    .venv/bin/python bench/renewals.py [--contracts 1000000] [--seed 1] [--reuse]
        [--database cs_bench_renewals]

Creates (drops and re-creates) the database ``--database`` (default ``cs_bench_renewals``)
on the server of DATABASE_URL (default postgres://postgres@127.0.0.1:5432/...), migrates
it, seeds demo accounts with ``demo.accounts.seed_demo`` until about ``--contracts``
contracts exist, then times, for a pinned "today":

1. the first full build (every entry and every renewal task created from nothing),
2. a full re-diff with nothing to do (the weekly self-healing pass),
3. the next day's rebuild (the daily delta: contracts crossing a window boundary),
4. the day after, with 1,000 owner changes and 500 renewed contracts since the last build,
5. a "rebuild now" the next day: a full diff of every contract, with a day's crossings.

Each build starts after a CHECKPOINT, as a daily job would (long after the previous writes
reached the disk). Targets: full build <= 3 s, daily delta <= 100 ms. ``--reuse`` keeps an
existing seeded database (skips seeding; the queue tables are emptied first).
"""

import argparse
import os
import time
from datetime import UTC, date, datetime, timedelta

import scratch_db

DATABASE = "cs_bench_renewals"
TODAY = date(2026, 11, 22)
CONTRACTS_PER_ACCOUNT = 1.6  # about what seed_demo writes


def _timed_build(**kwargs):  # noqa: ANN003, ANN202 (Django imported lazily)
    """Run one rebuild; returns (build, seconds, timings). The rebuild's transaction is
    wrapped in an outer one so that its commit (where the deferred foreign key checks of
    every inserted row run) is timed on its own line, as is the rest of the time spent
    outside the timed statements (the build's own reads and its build row)."""
    from django.db import connection, transaction

    from playbooks.services import renewal_queue_rebuild

    # A daily job runs long after the previous day's writes reached the disk: a checkpoint
    # first, so that this build does not write out the dirty pages the previous step left
    # in shared buffers (it still writes full-page images of what it changes, as it would).
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    timings: list = []
    started = time.perf_counter()
    with transaction.atomic():
        build = renewal_queue_rebuild(timings=timings, **kwargs)
        committing = time.perf_counter()
    finished = time.perf_counter()
    in_statements = sum(seconds for _, seconds, _ in timings)
    timings.append(("other (reads, build row)", committing - started - in_statements, 0))
    timings.append(("commit (deferred checks)", finished - committing, 0))
    return build, finished - started, timings


def _report(title: str, seconds: float, build, timings: list) -> None:  # noqa: ANN001
    print(
        f"\n{title}: {seconds * 1000:,.0f} ms  ({'full' if build.full else 'delta'}; "
        f"+{build.inserted:,} ~{build.updated:,} -{build.deleted:,} entries, "
        f"{build.tasks_created:,} tasks created, {build.tasks_reassigned:,} reassigned)"
    )
    for label, step_seconds, rows in timings:
        print(f"    {label:<26} {step_seconds * 1000:>9,.1f} ms  {rows:>9,} rows")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    parser.add_argument(
        "--database",
        default=DATABASE,
        help=f"the scratch database to drop and re-create (default {DATABASE})",
    )
    args = parser.parse_args()
    if args.contracts <= 0:
        parser.error("--contracts: must be a positive number")

    scratch_db.refuse_protected(parser, args.database)
    url = scratch_db.url_beside_environment(parser, args.database)
    os.environ["CS_TODAY"] = TODAY.isoformat()
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    scratch_db.prepare(url, fresh=not args.reuse)
    from django.db import connection, transaction

    from customers import services as customer_services
    from customers.models import Account, Contract, ContractStatus
    from playbooks.models import RenewalQueueBuild, RenewalQueueEntry, Task

    if not args.reuse:
        scratch_db.seed(accounts=int(args.contracts / CONTRACTS_PER_ACCOUNT), seed=args.seed)
    with connection.cursor() as cursor:
        # The seed ran "yesterday": the delta must not mistake it for today's changes.
        for model in (Account, Contract):
            cursor.execute(
                f"UPDATE {model._meta.db_table} SET updated_at = now() - interval '2 days'"
            )
        for model in (Task, RenewalQueueEntry, RenewalQueueBuild):
            cursor.execute(f"TRUNCATE {model._meta.db_table} CASCADE")
    scratch_db.analyze()
    contracts = Contract.objects.count()
    active = Contract.objects.filter(status=ContractStatus.ACTIVE).count()
    print(f"{contracts:,} contracts ({active:,} active), {Account.objects.count():,} accounts")

    build, full_seconds, timings = _timed_build(today=TODAY, full=True)
    _report("1. first full build (entries + tasks)", full_seconds, build, timings)
    commit_seconds = timings[-1][1]
    scratch_db.analyze()

    build, rediff_seconds, timings = _timed_build(today=TODAY, full=True)
    _report("2. full re-diff, nothing to do", rediff_seconds, build, timings)

    build, delta_seconds, timings = _timed_build(today=TODAY + timedelta(days=1))
    _report("3. next day's rebuild (daily delta)", delta_seconds, build, timings)

    # A day of work: 1,000 owner changes and 500 renewals through the services.
    from django.contrib.auth import get_user_model

    users = list(get_user_model().objects.filter(groups__name="CSMs").order_by("id"))
    owned = list(Account.objects.filter(owner__isnull=False).order_by("id")[:1000])
    to_renew = list(
        Contract.objects.filter(
            status=ContractStatus.ACTIVE,
            end_date__range=(TODAY + timedelta(days=2), TODAY + timedelta(days=100)),
        ).order_by("id")[:500]
    )
    # After the demo's assignments (which start on the pinned today).
    handover = datetime.combine(TODAY + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    with transaction.atomic():
        for index, account in enumerate(owned):
            others = [u for u in users if u.pk != account.owner_id]
            customer_services.csm_assign(
                account=account, user=others[index % len(others)], at=handover
            )
        for contract in to_renew:
            customer_services.contract_renew(
                contract=contract, end_date=contract.end_date + timedelta(days=365)
            )
    build, busy_seconds, timings = _timed_build(today=TODAY + timedelta(days=2))
    _report("4. day after, with 1,000 owner changes and 500 renewals", busy_seconds, build, timings)

    build, rebuild_seconds, timings = _timed_build(today=TODAY + timedelta(days=3), full=True)
    _report('5. "rebuild now" the next day (full diff)', rebuild_seconds, build, timings)

    print(
        f"\nSummary: {contracts:,} contracts; queue entries "
        f"{RenewalQueueEntry.objects.count():,}; renewal tasks {Task.objects.count():,}\n"
        f"  full rebuild      {rebuild_seconds:7.2f} s   target <= 3 s  (a day's changes; "
        f"{rediff_seconds:.2f} s with none)\n"
        f"  first build       {full_seconds:7.2f} s   (from an empty queue; of which commit "
        f"{commit_seconds:.2f} s)\n"
        f"  daily delta       {delta_seconds * 1000:7.0f} ms   target <= 100 ms\n"
        f"  busy-day delta    {busy_seconds * 1000:7.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
