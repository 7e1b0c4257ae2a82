"""Benchmark: a 100,000-row HubSpot companies export imported end to end on PostgreSQL
(read, check, upsert, owners, then the segment sweep re-evaluating the changed accounts),
then the same file again (must write nothing), then a picklist merge over every account.

    .venv/bin/python bench/crm_import.py [--rows 100000] [--db cs_bench_crm]
        [--merge-accounts 1000000] [--skip-merge | --merge-only]

Targets: import <= 30 s, peak RSS of the process running the job <= 300 MB, re-import
<= 10 s writing nothing, merge over 1M accounts <= 10 s. Uses its own scratch database
(dropped and re-created; never the application's). The job runs in this process, exactly
as a worker runs it (``customers.tasks.import_job_run_task``); peak RSS is this process's
``ru_maxrss``, reported after setup and after each step.
"""

import argparse
import csv
import os
import random
import resource
import tempfile
import time
from pathlib import Path

import scratch_db

INDUSTRIES = ["Computer Software", "Financial Services", "Hospital & Health Care", "Retail",
              "Machinery", "Higher Education", "Online Media", "Logistics and Supply Chain"]  # fmt: skip
STAGES = ["Customer", "Customer", "Customer", "Evangelist", "Opportunity", "Lead"]
COUNTRIES = ["United States", "Germany", "United Kingdom", "France", "Spain", "Canada", "Japan"]
HEADER = ["Record ID", "Company name", "Company owner", "Create Date", "Phone Number",
          "Last Activity Date", "City", "Country/Region", "Industry", "Company Domain Name",
          "Number of Employees", "Lifecycle Stage", "Became a Customer Date",
          "Annual Revenue"]  # fmt: skip
OWNERS = 20


def cpu_seconds() -> float:
    """CPU time of this process so far (user + system): on a shared, busy machine the
    wall time also counts waiting for a core; this does not."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_export(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(rows):
            created = f"202{rng.randint(0, 5)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            writer.writerow(
                [
                    str(5_300_000_000 + n),
                    f"Company {n} {rng.choice(['GmbH', 'Inc', 'Ltd', 'SA', 'BV'])}",
                    f"owner{n % OWNERS}@example.com" if n % 10 else "",
                    f"{created} 09:{rng.randint(0, 59):02d}",
                    f"+1 555 {rng.randint(1000, 9999)}",
                    "",
                    "Springfield",
                    rng.choice(COUNTRIES),
                    rng.choice(INDUSTRIES),
                    f"company{n}.example",
                    str(rng.randint(5, 20_000)),
                    rng.choice(STAGES),
                    f"{created} 00:00" if n % 3 else "",
                    str(rng.randint(1, 500) * 100_000),
                ]
            )


def run_job(path: Path, *, dry_run: bool = False) -> "ImportJob":  # noqa: F821
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import transaction

    from customers.import_models import ImportJob
    from customers.import_profiles import import_profile_get
    from customers.import_services import import_job_create
    from customers.tasks import import_job_run_task

    upload = SimpleUploadedFile("hubspot.csv", b"")
    upload.file = path.open("rb")
    upload.size = path.stat().st_size
    with transaction.atomic():
        job = import_job_create(
            profile=import_profile_get(reference="hubspot-companies"),
            upload=upload,
            dry_run=dry_run,
            skip_invalid=False,
        )
    import_job_run_task.apply(args=[job.pk])  # what the worker runs, in this process
    return ImportJob.objects.get(pk=job.pk)


def sweep() -> int:
    from segments.engine import segments_evaluate_changed_accounts

    total = 0
    while True:
        result = segments_evaluate_changed_accounts()
        total += result.accounts
        if not result.remaining:
            return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", default="cs_bench_crm")
    parser.add_argument("--merge-accounts", type=int, default=1_000_000)
    parser.add_argument("--skip-merge", action="store_true")
    parser.add_argument(
        "--merge-only", action="store_true", help="only the merge, on the existing database"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    scratch_db.refuse_protected(parser, args.db)
    url = scratch_db.url_beside_environment(parser, args.db)
    # The job runs here; the sweep is run explicitly (and timed) rather than queued.
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ.setdefault("CS_MEDIA_ROOT", tempfile.mkdtemp(prefix="cs-bench-crm-media-"))
    scratch_db.prepare(url, fresh=not args.merge_only)
    if args.merge_only:
        merge_bench(args.merge_accounts)
        return
    from django.contrib.auth.models import User

    from customers.models import Account, ImportStatus
    from customers.signals import accounts_changed
    from segments.services import segment_create

    # The sweep is timed below; the receiver would only queue it on a broker nobody reads.
    accounts_changed.receivers = []
    User.objects.bulk_create(
        [User(username=f"owner{n}", email=f"owner{n}@example.com") for n in range(OWNERS)]
    )
    for name, rule in [
        ("Large", {"field": "employees", "op": "gte", "value": 5000}),
        ("Adopting", {"field": "lifecycle_stage", "op": "eq", "value": "adopting"}),
        ("German", {"field": "country", "op": "eq", "value": "Germany"}),
    ]:
        segment_create(name=name, rule=rule, publish=True)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hubspot-companies.csv"
        started = time.perf_counter()
        write_export(path, args.rows, args.seed)
        size = path.stat().st_size / 2**20
        print(f"export: {args.rows:,} rows, {size:.1f} MB, written in "
              f"{time.perf_counter() - started:.1f} s; peak RSS so far {peak_rss_mb():.0f} MB")  # fmt: skip

        started, cpu = time.perf_counter(), cpu_seconds()
        job = run_job(path)
        job_seconds, job_cpu = time.perf_counter() - started, cpu_seconds() - cpu
        started = time.perf_counter()
        swept = sweep()
        sweep_seconds = time.perf_counter() - started
        assert job.status == ImportStatus.DONE, (job.status, job.message, job.errors[:3])
        print(f"import: {job.created:,} created, {job.rejected} rejected in {job_seconds:.1f} s; "
              f"segment sweep of {swept:,} changed accounts {sweep_seconds:.1f} s; "
              f"total {job_seconds + sweep_seconds:.1f} s (target <= 30 s); "
              f"job CPU {job_cpu:.1f} s; "
              f"peak RSS {peak_rss_mb():.0f} MB (target <= 300 MB)")  # fmt: skip
        assert Account.objects.count() == args.rows

        before = Account.objects.order_by("-updated_at").values_list("updated_at", flat=True)[0]
        started, cpu = time.perf_counter(), cpu_seconds()
        again = run_job(path)
        seconds, again_cpu = time.perf_counter() - started, cpu_seconds() - cpu
        after = Account.objects.order_by("-updated_at").values_list("updated_at", flat=True)[0]
        print(f"re-import: {again.unchanged:,} unchanged, {again.created + again.updated} "
              f"written, in {seconds:.1f} s (target <= 10 s; CPU {again_cpu:.1f} s); rows touched: "
              f"{'none' if before == after else 'SOME'}; peak RSS {peak_rss_mb():.0f} MB")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not args.skip_merge:
        merge_bench(args.merge_accounts)


def merge_bench(accounts: int) -> None:
    """A picklist merge (crm branch's service) over ``accounts`` accounts seeded in SQL."""
    from django.db import connection

    from customers.picklists import picklist_values_merge

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO customers_account (name, external_id, industry, has_champion,"
            " referenceable, active_users, open_tickets, traits, arr, created_at, updated_at)"
            " SELECT 'Merge ' || n, 'merge-' || n, CASE WHEN n %% 2 = 0 THEN 'Tech' ELSE"
            " 'Computer Software' END, false, false, 0, 0, '{}', 0, now(), now()"
            " FROM generate_series(1, %s) AS n",
            [accounts],
        )
        cursor.execute("ANALYZE customers_account")
    from customers.models import Picklist, PicklistValue

    industry = Picklist.objects.get(field="industry")
    PicklistValue.objects.get_or_create(picklist=industry, value="Tech", defaults={"label": "Tech"})
    total = (
        accounts
        + connection.cursor()
        .connection.execute(
            "SELECT count(*) FROM customers_account WHERE external_id NOT LIKE 'merge-%%'"
        )
        .fetchone()[0]
    )
    started = time.perf_counter()
    picklist_values_merge(picklist=industry, from_value="Tech", into_value="Computer Software")
    seconds = time.perf_counter() - started
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"merge: 'Tech' into 'Computer Software' over {total:,} accounts "
          f"({accounts // 2:,} rewritten) in {seconds:.1f} s (target <= 10 s)")  # fmt: skip


if __name__ == "__main__":
    main()
