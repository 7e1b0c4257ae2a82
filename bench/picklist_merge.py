"""Benchmark: merge one picklist value into another over a million accounts on PostgreSQL
(``customers.picklists.picklist_values_merge``: on PostgreSQL the accounts holding the
value are rewritten and marked changed in one statement, an UPDATE ... RETURNING feeding
the INSERT of the marks). Target: 10 s or less.

    .venv/bin/python bench/picklist_merge.py [--accounts 1000000] [--share 0.25]
        [--db cs_bench_picklist_merge] [--reuse]

Creates (drops and re-creates, unless ``--reuse`` finds it filled) the scratch database
``--db`` on the server of DATABASE_URL (never cs_platform), migrates it and writes
``--accounts`` accounts straight in SQL (generate_series): a ``--share`` of them hold the
industry ``Tech``, the others the built-in industries. It then times the merge of ``Tech``
into ``Technology`` (the whole service call, commit included), and checks the result.
With ``--reuse`` the first merge after a load is slower than the next ones: the load
packs the account indexes' leaf pages, and the first merge splits nearly all of them.
"""

import argparse
import os
import time

import scratch_db

ACCOUNT_INSERT = """
INSERT INTO customers_account (name, external_id, industry, region, plan, has_champion,
    referenceable, active_users, open_tickets, traits, arr, created_at, updated_at)
SELECT 'Bench ' || n, 'merge-' || n,
       CASE WHEN n %% 1000 < %s THEN 'Tech'
            ELSE (ARRAY['software', 'finance', 'retail', 'media'])[1 + n %% 4] END,
       (ARRAY['NA', 'EMEA', 'APAC', 'LATAM'])[1 + n %% 4], 'pro', false, false, 0, 0,
       '{}'::jsonb, 0, now(), now()
FROM generate_series(1, %s) AS n
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--share", type=float, default=0.25)
    parser.add_argument("--db", default="cs_bench_picklist_merge")
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    scratch_db.refuse_protected(parser, args.db)
    url = scratch_db.url_beside_environment(parser, args.db)
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    fresh = not (args.reuse and scratch_db.account_count(url))
    scratch_db.prepare(url, fresh=fresh)

    from django.db import connection

    from customers import picklists
    from customers.models import Account, PendingEvaluation, Picklist, PicklistValue

    industry = Picklist.objects.get(field="industry")
    if fresh:
        print(f"Writing {args.accounts:,} accounts ...", flush=True)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(ACCOUNT_INSERT, [round(args.share * 1000), args.accounts])
        scratch_db.analyze()
        print(f"  written in {time.perf_counter() - started:.0f} s", flush=True)
    for value in ("Tech", "Technology"):
        PicklistValue.objects.get_or_create(picklist=industry, value=value)
    PendingEvaluation.objects.all().delete()
    holders = Account.objects.filter(industry="Tech").count()
    print(f"Merging Tech into Technology: {holders:,} of the accounts hold Tech", flush=True)
    started = time.perf_counter()
    rewritten = picklists.picklist_values_merge(
        picklist=industry, from_value="Tech", into_value="Technology"
    )
    elapsed = time.perf_counter() - started
    assert rewritten == holders and not Account.objects.filter(industry="Tech").exists()
    assert PendingEvaluation.objects.count() == holders
    print(f"  merged {rewritten:,} accounts in {elapsed:.2f} s (target 10 s)")
    # Put the bench value back for a --reuse run, and vacuum the dead rows away, so the next
    # run starts from the same state.
    Account.objects.filter(industry="Technology").update(industry="Tech")
    PendingEvaluation.objects.all().delete()
    scratch_db.analyze()


if __name__ == "__main__":
    main()
