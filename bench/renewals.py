"""Benchmark the renewal queue build on a scratch PostgreSQL database.

    .venv/bin/python bench/renewals.py [--contracts 1000000] [--seed 1] [--reuse]
        [--database cs_bench_renewals]

Creates (drops and re-creates) the database ``--database`` (default ``cs_bench_renewals``)
on the server of DATABASE_URL (default postgres://postgres@127.0.0.1:5432/...), migrates
it, seeds demo accounts with ``demo.accounts.seed_demo`` until about ``--contracts``
contracts exist, then, for a pinned "today", times each job beside its hand-written lower
bound (bench/renewal_lower_bounds.py: plain SQL doing the same work, everything the product
finds out known in advance), interleaved three times, and prints min / median and the
ratio:

- the first build (every entry, one task per renewal, from an empty queue; committed),
- a full re-diff with nothing to do (the weekly self-healing pass),
- the next day's delta (contracts crossing a window boundary);

the re-diff and the delta run in a transaction rolled back after they are timed, so that
every round starts from the same queue. Then, once each with the time of every statement:

3. the next day's rebuild (the daily delta),
4. the day after, with 1,000 owner changes and 500 renewed contracts since the last build,
5. a "rebuild now" the next day: a full diff of every contract, with a day's crossings.

Each build starts after a CHECKPOINT, as a daily job would (long after the previous writes
reached the disk). Targets: re-diff <= 1.3x its lower bound, first build and delta at their
lower bound; full build <= 3 s, daily delta <= 100 ms. ``--reuse`` keeps an existing seeded
database (skips seeding; the queue tables are emptied first).
"""

import argparse
import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta

import renewal_lower_bounds
import scratch_db

DATABASE = "cs_bench_renewals"
TODAY = date(2026, 11, 22)
CONTRACTS_PER_ACCOUNT = 1.6  # about what seed_demo writes


def _timed_build(*, keep: bool = True, **kwargs):  # noqa: ANN003, ANN202 (Django imported lazily)
    """Run one rebuild; returns (build, seconds, timings). The rebuild's transaction is
    wrapped in an outer one so that its commit (where the deferred foreign key checks of
    every inserted row run) is timed on its own line, as is the rest of the time spent
    outside the timed statements (the build's own reads and its build row). Without
    ``keep`` the outer transaction is rolled back, and the time stops before it."""
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
        if not keep:
            transaction.set_rollback(True)
    finished = time.perf_counter() if keep else committing
    in_statements = sum(seconds for _, seconds, _ in timings)
    timings.append(("other (reads, build row)", committing - started - in_statements, 0))
    timings.append(("commit (deferred checks)", finished - committing, 0))
    return build, finished - started, timings


def _timed_lower_bound(statement: tuple[str, list], *, keep: bool = False) -> tuple:
    """Run one hand-written lower bound in a transaction with the build's settings, after a
    CHECKPOINT as the product's; returns (seconds, its row). Committed with ``keep`` (the
    time includes the commit), else rolled back (the time stops before)."""
    from django.db import connection, transaction

    from playbooks.renewal_queue import BUILD_SETTINGS

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        for name, value in BUILD_SETTINGS.items():
            cursor.execute(f"SET LOCAL {name} = '{value}'")
        cursor.execute(*statement)
        row = cursor.fetchone()
        done = time.perf_counter()
        if not keep:
            transaction.set_rollback(True)
    return (time.perf_counter() if keep else done) - started, row


def _print_ratio(label: str, results: dict) -> None:
    product, lower = results["product"], results["lower bound"]
    runs = ", ".join(
        f"{p * 1000:,.0f}/{q * 1000:,.0f}" for p, q in zip(product, lower, strict=True)
    )
    print(
        f"  {label:<34} {min(product) * 1000:>9,.0f} / {statistics.median(product) * 1000:>7,.0f} ms"
        f" {min(lower) * 1000:>12,.0f} / {statistics.median(lower) * 1000:>7,.0f} ms"
        f"  {min(product) / min(lower):.2f}x min, "
        f"{statistics.median(product) / statistics.median(lower):.2f}x median"
        f"   (runs, product/lower ms: {runs})"
    )


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
    from playbooks.models import RenewalQueueBuild, RenewalQueueEntry, RenewalWindow, Task
    from playbooks.services.renewals import RENEWAL_DELTA_MARGIN

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

    windows = [
        (window.id, window.days, str(window))
        for window in RenewalWindow.objects.filter(is_active=True).order_by("days")
    ]

    def reset_queue() -> None:
        with connection.cursor() as cursor:
            for model in (Task, RenewalQueueEntry, RenewalQueueBuild):
                cursor.execute(f"TRUNCATE {model._meta.db_table} CASCADE")
            for model in (Task, RenewalQueueEntry):
                cursor.execute(f"ANALYZE {model._meta.db_table}")

    # --- 1. first build, beside its lower bound (committed; the queue emptied before each)
    first = {"product": [], "lower bound": []}
    for _ in range(3):
        reset_queue()
        seconds, row = _timed_lower_bound(
            renewal_lower_bounds.first_build(windows, TODAY, datetime.now(UTC)), keep=True
        )
        first["lower bound"].append(seconds)
        lower_rows = f"+{row[0]:,} entries, {row[1]:,} tasks"
        reset_queue()
        build, seconds, timings = _timed_build(today=TODAY, full=True)
        first["product"].append(seconds)
    _report("1. first full build (entries + tasks), last round", seconds, build, timings)
    print(f"    lower bound wrote {lower_rows}")
    commit_seconds = timings[-1][1]
    scratch_db.analyze()
    built_at = RenewalQueueBuild.objects.latest().started_at

    # --- 2. re-diff with nothing to do and 2b. the next day's delta, beside their lower
    # bounds, each in a transaction rolled back (interleaved, the order alternating)
    rediff = {"product": [], "lower bound": []}
    delta = {"product": [], "lower bound": []}
    for index in range(6):
        product_first = index % 2 == 0
        if index < 3:
            jobs = [
                ("product", lambda: _timed_build(today=TODAY, full=True, keep=False)),
                (
                    "lower bound",
                    lambda: _timed_lower_bound(renewal_lower_bounds.rediff(windows, TODAY)),
                ),
            ]
            results = rediff
        else:
            since = built_at - RENEWAL_DELTA_MARGIN
            jobs = [
                (
                    "product",
                    lambda: _timed_build(today=TODAY + timedelta(days=1), keep=False),
                ),
                (
                    "lower bound",
                    lambda since=since: _timed_lower_bound(
                        renewal_lower_bounds.daily_delta(
                            windows,
                            last_day=TODAY,
                            today=TODAY + timedelta(days=1),
                            since=since,
                            now=datetime.now(UTC),
                        )
                    ),
                ),
            ]
            results = delta
        for name, job in jobs if product_first else reversed(jobs):
            outcome = job()
            if name == "product":
                product_build, seconds, timings = outcome
                product_seconds = seconds
            else:
                seconds, lower_row = outcome
            results[name].append(seconds)
        if index == 2:
            _report(
                "2. full re-diff, nothing to do, last round",
                product_seconds,
                product_build,
                timings,
            )
            rediff_row = lower_row
        if index == 5:
            delta_build, delta_lower_row = product_build, lower_row
    print(f"    lower bound: {rediff_row[0]:,} rows differ")
    print(
        f"\n2b. next day's delta (rolled back): product +{delta_build.inserted:,} "
        f"-{delta_build.deleted:,} entries, {delta_build.tasks_created:,} tasks created, "
        f"{delta_build.tasks_closed:,} closed; lower bound (changed rows found "
        f"{delta_lower_row[0]:,}) +{delta_lower_row[2]:,} -{delta_lower_row[1]:,} entries, "
        f"{delta_lower_row[3]:,} tasks created, {delta_lower_row[4]:,} closed"
    )
    print("\nEach job beside its hand-written lower bound, interleaved three times:")
    print(f"  {'job':<34} {'product min / median':>22} {'lower bound min / median':>26}  ratio")
    for label, results in (
        ("first build (one task per renewal)", first),
        ("full re-diff, nothing to do", rediff),
        ("next day's delta", delta),
    ):
        _print_ratio(label, results)
    full_seconds = statistics.median(first["product"])
    rediff_seconds = statistics.median(rediff["product"])

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
