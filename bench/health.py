"""Benchmark: health scores on PostgreSQL (issue 18) — the full computation of every
account's score, a run with nothing changed, 10k changed accounts rescored, and the draft
backtest over 12 months.

Uses its own scratch database (default ``cs_bench_health``, dropped and re-created):

    .venv/bin/python bench/health.py [--accounts 1000000] [--usage-days 60]
        [--density 0.3] [--db cs_bench_health] [--reuse]

``--reuse`` keeps a database an earlier run built with the same number of accounts (its
data, and its scorecards and computed health when it has them): the first run is
measured only when no health is stored yet, and the other figures start from the health
the earlier run left.

Built with INSERT ... SELECT statements (not measured): accounts (a quarter enterprise,
in an "Enterprise" segment), one usage metric with ``usage-days`` of history on about
``density`` of the days (and its per-account window features, as ingestion keeps them), a manual CSM score for a fifth of the accounts, and for a third
of them a contract that came up for renewal in the last 12 months (renewed or churned).
Two scorecards of 8 measures each (usage windows, columns, a ratio, a trait, conditions,
a manual score): "Enterprise" on the segment and the default for everyone else.

Measured, each around the whole call:

- full computation, first run: every account scored, 1 current + 1 history row each;
- full computation, nothing changed: the same work, and it must write 0 rows;
- a full run after a change to 5% of the accounts (rows written = the changes);
- 10k changed accounts rescored (the scope the changed-accounts sweep passes);
- the draft backtest of the default scorecard over 12 months (and its today's split);
- peak RSS of the process.
"""

import argparse
import os
import resource
import sys
import time
from datetime import date
from pathlib import Path

import scratch_db

# This file is bench/health.py: its folder must not hide the ``health`` app.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(scratch_db.ROOT))

TODAY = date(2026, 11, 22)
CHANGED_BATCH = 10_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--usage-days", type=int, default=60)
    parser.add_argument("--density", type=float, default=0.3)
    parser.add_argument("--db", default="cs_bench_health")
    parser.add_argument("--reuse", action="store_true", help="keep an already built database")
    args = parser.parse_args()
    scratch_db.refuse_protected(parser, args.db)
    return args


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, work):
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"  {label}: {seconds:.2f} s", flush=True)
    return seconds, result


def build(args: argparse.Namespace) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO customers_account (name, external_id, plan, employees, has_champion,
              referenceable, active_users, licensed_seats, open_tickets, last_seen_at, arr,
              traits, created_at, updated_at)
            SELECT 'Bench ' || n, 'bench-' || n,
              (ARRAY['free', 'starter', 'pro', 'enterprise'])[1 + n %% 4],
              CASE WHEN n %% 7 = 0 THEN NULL ELSE (n * 37) %% 5000 END,
              n %% 3 = 0, false, (n * 13) %% 120, 20 + n %% 100, (n * 7) %% 15,
              %s::date - (n %% 60)::int, ((n * 7919) %% 300000)::numeric,
              jsonb_build_object('nps', (n %% 11)), now(), now()
            FROM generate_series(1, %s::bigint) n
            """,
            [TODAY, args.accounts],
        )
        cursor.execute(
            """
            INSERT INTO usage_dailyusage (account_id, metric_id, day, value)
            SELECT a.id, m.id, d::date, floor(random() * 20)::numeric
            FROM customers_account a CROSS JOIN usage_usagemetric m
            CROSS JOIN generate_series(%s::date - %s, %s::date, interval '1 day') d
            WHERE random() < %s * (a.id %% 10) / 4.5
            """,
            [TODAY, args.usage_days - 1, TODAY, args.density],
        )
        # A third of the accounts had a contract up for renewal in the last 12 months
        # (renewed or churned: churn likelier with few open-ticket-free, idle accounts).
        cursor.execute(
            """
            INSERT INTO customers_contract (account_id, start_date, end_date, arr, status,
              auto_renew, created_at, updated_at)
            SELECT a.id, e - 365, e, 10000,
              CASE WHEN (a.id * 31) %% 100 < 10 + 2 * a.open_tickets THEN 'churned'
                   ELSE 'renewed' END, false, now(), now()
            FROM (SELECT id, open_tickets, %s::date - (id %% 365)::int AS e
                  FROM customers_account WHERE id %% 3 = 0) a
            """,
            [TODAY],
        )
    print(f"    {args.accounts:,} accounts built", flush=True)
    # Ingestion keeps the per-account usage windows; rows loaded by INSERT ... SELECT need
    # one rebuild, as after any bulk load (docs/usage.md).
    from usage.features import usage_features_rebuild

    usage_features_rebuild(today=TODAY)


def define() -> tuple:
    from customers.models import Account, AttributeDefinition
    from health import services
    from health.models import ManualEntry, Measure
    from segments.engine import segment_recompute
    from segments.services import segment_create

    AttributeDefinition.objects.create(key="nps", label="NPS", type="number")
    enterprise = segment_create(
        name="Enterprise", rule={"field": "plan", "op": "eq", "value": "enterprise"}, publish=True
    )
    segment_recompute(segment_id=enterprise.pk, today=TODAY)

    def field(key, name, bad, good, weight=1):
        return {
            "key": key,
            "label": key,
            "weight": str(weight),
            "source": "field",
            "field": name,
            "bad": str(bad),
            "good": str(good),
        }

    def condition(key, rule, weight=1):
        return {
            "key": key,
            "label": key,
            "weight": str(weight),
            "source": "condition",
            "rule": rule,
        }

    manual = {
        "key": "sentiment",
        "label": "CSM sentiment",
        "weight": "2",
        "source": "manual",
        "valid_days": 90,
    }
    common = [
        condition("champion", {"field": "has_champion", "op": "eq", "value": True}),
        condition("recent", {"field": "last_seen_at", "op": "within_last_days", "value": 14}),
        manual,
    ]
    enterprise_card = services.scorecard_create(
        data={
            "name": "Enterprise",
            "segment": enterprise.pk,
            "priority": 1,
            "measures": [
                field("active_30d", "usage.logins.days_active_30d", 0, 20, 3),
                field("logins_30d", "usage.logins.sum_30d", 0, 300, 2),
                field("tickets", "open_tickets", 10, 0, 2),
                field("seats", "seat_utilization", "0.2", "0.9"),
                field("nps", "traits.nps", 0, 10),
                *common,
            ],
        }
    )
    default_card = services.scorecard_create(
        data={
            "name": "Everyone else",
            "segment": None,
            "measures": [
                field("active_7d", "usage.logins.days_active_7d", 0, 5, 3),
                field("trend", "usage.logins.change_30d", -50, 50),
                field("tickets", "open_tickets", 8, 0),
                field("size", "employees", 0, 1000),
                field("nps", "traits.nps", 0, 10),
                *common,
            ],
        }
    )
    from django.db import connection

    sentiment = Measure.objects.filter(key="sentiment").values_list("pk", "scorecard_id")
    with connection.cursor() as cursor:
        for measure_id, scorecard_id in sentiment:
            in_segment = "" if scorecard_id == enterprise_card.pk else "NOT "
            cursor.execute(
                f"""
                INSERT INTO {ManualEntry._meta.db_table} (account_id, measure_id, score, comment,
                  entered_at, entered_on)
                SELECT a.id, %s, (a.id * 17) %% 101, '', now(), %s::date - (a.id %% 120)::int
                FROM {Account._meta.db_table} a
                WHERE a.id %% 5 = 0 AND {in_segment}EXISTS (SELECT 1 FROM
                  segments_membership m WHERE m.account_id = a.id AND m.segment_id = %s)
                """,
                [measure_id, TODAY, enterprise.pk],
            )
    return enterprise_card, default_card


def main() -> int:
    args = parse_args()
    url = f"{scratch_db.LOCAL_SERVER}/{args.db}"
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ["CS_TODAY"] = TODAY.isoformat()
    print(
        f"health bench: {args.accounts:,} accounts, {args.usage_days} days of usage "
        f"(density {args.density}), database {args.db}",
        flush=True,
    )
    os.chdir(scratch_db.ROOT)
    reuse = args.reuse and scratch_db.account_count(url) == args.accounts
    scratch_db.prepare(url, fresh=not reuse, settings_module="cs_platform.settings.test")
    from django.conf import settings
    from django.db import connection
    from django.db.models import F

    from customers.models import Account
    from health.backtest import draft_preview
    from health.engine import health_recompute
    from health.models import AccountHealth, HealthHistory, Scorecard
    from usage.models import UsageMetric

    settings.CS_TODAY = TODAY
    results: dict[str, float] = {}
    if reuse:
        print("  reusing the built database", flush=True)
    else:
        UsageMetric.objects.create(key="logins", label="Logins")
        timed("data built (not a measure)", lambda: build(args))
    if not Scorecard.objects.exists():
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        timed("scorecards defined (not a measure)", define)
    default_card = Scorecard.objects.get(segment__isnull=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print("Measured:", flush=True)
    if AccountHealth.objects.exists():
        print("  full computation, first run: not measured (reused database)", flush=True)
    else:
        seconds, first = timed("full computation, first run", lambda: health_recompute(today=TODAY))
        results["full first run s"] = seconds
        print(f"    scored every account, changed {first.changed:,}", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    history_before = HealthHistory.objects.count()
    seconds, again = timed(
        "full computation, nothing changed", lambda: health_recompute(today=TODAY)
    )
    results["full nothing changed s"] = seconds
    written = HealthHistory.objects.count() - history_before
    print(
        f"    changed {again.changed}, scores copied {again.scores_copied}, "
        f"history rows written {written}",
        flush=True,
    )
    assert again.changed == 0 and written == 0 and again.scores_copied == 0

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE customers_account SET open_tickets = (open_tickets + 5) % 15 WHERE id % 20 = 1"
        )
    seconds, some = timed(
        "full computation after 5% of accounts changed", lambda: health_recompute(today=TODAY)
    )
    results["full after 5% changed s"] = seconds
    print(f"    changed {some.changed:,}", flush=True)

    ids = list(
        Account.objects.filter(id__gt=args.accounts // 3)
        .order_by("id")
        .values_list("id", flat=True)[:CHANGED_BATCH]
    )
    # Every tickets measure moves (and so does a re-run's, on a reused database).
    Account.objects.filter(id__in=ids).update(open_tickets=(F("open_tickets") + 7) % 15)
    seconds, batch = timed(
        f"{len(ids):,} changed accounts rescored",
        lambda: health_recompute(accounts=Account.objects.filter(id__in=ids), today=TODAY),
    )
    results["10k changed s"] = seconds
    print(f"    scored {batch.scored:,}, changed {batch.changed:,}", flush=True)

    seconds, preview = timed(
        "draft backtest of the default scorecard (12 months)",
        lambda: draft_preview(scorecard=default_card, today=TODAY),
    )
    results["backtest s"] = seconds
    backtest = preview["backtest"]
    print(
        f"    {backtest['contracts']:,} renewals, "
        + ", ".join(
            f"{band}: {b['contracts']:,} ({b['churn_rate']})"
            for band, b in backtest["bands"].items()
        ),
        flush=True,
    )
    print(f"    stored: {AccountHealth.objects.count():,} current rows", flush=True)
    results["peak RSS MB"] = peak_rss_mb()
    print("Summary: " + ", ".join(f"{k} = {v:,.2f}" for k, v in results.items()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
