"""Benchmark: POST /api/accounts/bulk/ with 10,000 accounts (create, then update) on
PostgreSQL. Target: each request in 5 s or less. ``--rows 100000 --minimal`` measures the
largest request the endpoint takes with the least each row needs (external_id and name,
about 6 MB), and prints the process's peak memory.

Uses a scratch database (default ``cs_bench_bulk``, created and migrated if missing; never
the application's database):

    .venv/bin/python bench/bulk_upsert.py [--rows 10000] [--db cs_bench_bulk]
        [--host 127.0.0.1] [--port 5432] [--user postgres]

It prints the time of each request, measured around the whole request (JSON parsing,
validation, the upsert statements and the commit) through Django's test client.
"""

import argparse
import json
import os
import random
import resource
import sys
import time

import scratch_db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument(
        "--minimal", action="store_true", help="rows with external_id and name only"
    )
    parser.add_argument("--db", default="cs_bench_bulk")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5432")
    parser.add_argument("--user", default="postgres")
    args = parser.parse_args()
    scratch_db.refuse_protected(parser, args.db)

    url = f"postgres://{args.user}@{args.host}:{args.port}/{args.db}"
    scratch_db.create_missing(url)
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    scratch_db.prepare(url, fresh=False, settings_module="cs_platform.settings.test")
    from django.conf import settings
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    from customers.models import Account

    settings.ALLOWED_HOSTS = ["*"]
    Account.objects.filter(external_id__startswith="bench-").delete()
    manager, _ = User.objects.get_or_create(
        username="bench-manager", defaults={"is_superuser": True}
    )
    client = APIClient()
    client.force_authenticate(manager)

    rng = random.Random(1)
    plans = ["free", "starter", "pro", "enterprise"]
    regions = ["NA", "EMEA", "APAC", "LATAM"]

    def rows(version: int) -> list[dict]:
        if args.minimal:
            return [
                {"external_id": f"bench-{n:06d}", "name": f"Bench account {n} v{version}"}
                for n in range(args.rows)
            ]
        return [
            {
                "external_id": f"bench-{n:06d}",
                "name": f"Bench account {n} v{version}",
                "domain": f"bench{n}.example.com",
                "industry": "software",
                "region": rng.choice(regions),
                "country": "US",
                "employees": rng.randint(1, 50_000),
                "business_model": "B2B",
                "plan": rng.choice(plans),
                "lifecycle_stage": "adopting",
                "customer_since": "2024-03-01",
                "has_champion": rng.random() < 0.5,
                "health_score": rng.randint(0, 100),
                "last_seen_at": "2026-11-01",
                "active_users": rng.randint(0, 500),
                "licensed_seats": 500,
                "open_tickets": rng.randint(0, 9),
                "cost_to_serve": f"{rng.randint(100, 99_999)}.50",
                "acquisition_cost": "1200.00",
            }
            for n in range(args.rows)
        ]

    for label, version in (("create", 1), ("update", 2)):
        body = json.dumps({"accounts": rows(version), "atomic": False})
        start = time.perf_counter()
        response = client.post("/api/accounts/bulk/", body, content_type="application/json")
        elapsed = time.perf_counter() - start
        if response.status_code >= 400 and "json" not in response["Content-Type"]:
            sys.exit(f"{label}: HTTP {response.status_code} {response.content[:300]!r}")
        result = response.json()
        print(
            f"{label}: {args.rows} accounts in {elapsed:.2f} s "
            f"(HTTP {response.status_code}, created {result['created']}, "
            f"updated {result['updated']}, errors {len(result['errors'])}, "
            f"body {len(body) / 1e6:.1f} MB)"
        )
    # A partial update: only the plan of every account.
    body = json.dumps(
        {"accounts": [{"external_id": f"bench-{n:06d}", "plan": "pro"} for n in range(args.rows)]}
    )
    start = time.perf_counter()
    response = client.post("/api/accounts/bulk/", body, content_type="application/json")
    print(
        f"partial update (plan only): {args.rows} accounts in "
        f"{time.perf_counter() - start:.2f} s (HTTP {response.status_code})"
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process (client and server together): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
