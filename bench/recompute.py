"""Benchmark the segment recompute on a scratch PostgreSQL database.

    .venv/bin/python bench/recompute.py [--accounts 1000000] [--segments 20,100]
        [--changed 10000] [--database cs_bench_recompute] [--reuse]

The database (default ``cs_bench_recompute`` on 127.0.0.1, user postgres) is dropped,
re-created, migrated and seeded with ``demo.accounts.seed_demo`` in a child process (so
the seeding's memory does not count as the worker's); ``--reuse`` keeps an existing one
that already holds ``--accounts`` accounts. ``cs_platform`` is refused.

For each number of segments (realistic rules: plans, regions, tiers in an exclusive group,
renewal windows, health, usage, CSM books, traits, two ranked "top N") it prints:

- full recompute (empty membership → every member inserted, with its events), sequential
  in one process, and the same work done by one hand-written set-based SQL statement per
  segment (the lower bound), with the ratio;
- a no-change recompute: time and rows written, and the hand-written diff query, one
  segment at a time; then the recompute of every segment together (``segments_recompute_all``,
  the schedule's job: one pass over the accounts);
- the sweep of ``--changed`` changed accounts across all segments, twice: a heavy change
  (new ARR, health and last seen: each account moves in or out of about seven of the 100
  segments) and a typical daily sync (health ±4, seen in the last three days), each split
  into evaluating (reads, the diff) and writing (events, memberships);
- the recompute of every segment together after ``--changed`` more accounts changed;
- the worker's memory: peak RSS (ru_maxrss) and the tracemalloc peak of each phase.
"""

import argparse
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import scratch_db

TODAY = date(2026, 11, 22)


@dataclass
class SegmentSpec:
    name: str
    rule: dict
    # The same set written by hand in SQL over customers_account "a" (the lower bound).
    sql: str
    rank_by: str = ""
    rank_limit: int | None = None
    group: str | None = None
    priority: int | None = None
    category: str = ""
    params: list = field(default_factory=list)


def d(days: int) -> str:
    return f"DATE '{(TODAY + timedelta(days=days)).isoformat()}'"


def segment_specs() -> list[SegmentSpec]:
    """100 realistic segments, each with its rule and a hand-written SQL predicate."""
    plans = ["free", "starter", "pro", "enterprise"]
    regions = ["NA", "EMEA", "APAC", "LATAM"]
    stages = ["trial", "onboarding", "adopting", "mature", "at_risk", "churned"]
    industries = [
        "software",
        "finance",
        "healthcare",
        "retail",
        "manufacturing",
        "education",
        "media",
        "logistics",
        "public_sector",
        "professional_services",
    ]
    specs: list[SegmentSpec] = []

    def add(category: str, name: str, rule: dict, sql: str, **extra: Any) -> None:
        specs.append(SegmentSpec(name=name, rule=rule, sql=sql, category=category, **extra))

    def leaf(f: str, op: str, value: Any = None) -> dict:
        node = {"field": f, "op": op}
        if op not in ("is_null", "is_not_null"):
            node["value"] = value
        return node

    # Exclusive tiers: Enterprise before Mid-Market before SMB.
    add(
        "tiers",
        "Tier: Enterprise",
        leaf("arr", "gte", 250000),
        "a.arr >= 250000",
        group="Tiers",
        priority=1,
    )
    add(
        "tiers",
        "Tier: Mid-Market",
        leaf("arr", "gte", 50000),
        "a.arr >= 50000 AND NOT (a.arr >= 250000)",
        group="Tiers",
        priority=2,
    )
    add(
        "tiers",
        "Tier: SMB",
        leaf("arr", "gt", 0),
        "a.arr > 0 AND NOT (a.arr >= 50000) AND NOT (a.arr >= 250000)",
        group="Tiers",
        priority=3,
    )
    add(
        "ranked",
        "Top 100 enterprise by ARR",
        leaf("plan", "eq", "enterprise"),
        "a.plan = 'enterprise'",
        rank_by="arr",
        rank_limit=100,
    )
    add(
        "ranked",
        "Top 500 healthiest big accounts",
        leaf("arr", "gte", 50000),
        "a.arr >= 50000",
        rank_by="health_score",
        rank_limit=500,
    )
    for n in (30, 60, 90, 120, 180):
        add(
            "renewal",
            f"Renewing in {n} days",
            leaf("renewal_date", "within_next_days", n),
            f"a.renewal_date >= {d(0)} AND a.renewal_date <= {d(n)}",
        )
    for p in plans:
        add("plan", f"Plan {p}", leaf("plan", "eq", p), f"a.plan = '{p}'")
    for r in regions:
        add("region", f"Region {r}", leaf("region", "eq", r), f"a.region = '{r}'")
    for s in stages:
        add("stage", f"Stage {s}", leaf("lifecycle_stage", "eq", s), f"a.lifecycle_stage = '{s}'")
    for t in (10000, 25000, 50000, 100000, 500000, 1000000):
        add("arr", f"ARR >= {t}", leaf("arr", "gte", t), f"a.arr >= {t}")
    for h in (30, 40, 50, 60):
        add(
            "health",
            f"Health < {h} paying",
            {"all": [leaf("health_score", "lt", h), leaf("arr", "gte", 10000)]},
            f"a.health_score < {h} AND a.arr >= 10000",
        )
    for n in (14, 30, 60, 90):
        add(
            "usage",
            f"Not seen for {n} days",
            leaf("last_seen_at", "more_than_days_ago", n),
            f"a.last_seen_at < {d(-n)}",
        )
    for r in regions:
        add(
            "plan-region",
            f"Pro+ in {r}",
            {"all": [leaf("plan", "in", ["pro", "enterprise"]), leaf("region", "eq", r)]},
            f"a.plan IN ('pro', 'enterprise') AND a.region = '{r}'",
        )
    for i in industries:
        add("industry", f"Industry {i}", leaf("industry", "eq", i), f"a.industry = '{i}'")
    for i in industries:
        add(
            "industry-arr",
            f"{i} mid-size",
            {"all": [leaf("industry", "eq", i), leaf("arr", "between", [50000, 250000])]},
            f"a.industry = '{i}' AND a.arr >= 50000 AND a.arr <= 250000",
        )
    for i in industries:
        add(
            "industry-health",
            f"{i} unhealthy",
            {"all": [leaf("industry", "eq", i), leaf("health_score", "lt", 50)]},
            f"a.industry = '{i}' AND a.health_score < 50",
        )
    for k in range(1, 9):
        add(
            "csm",
            f"Book of csm{k}",
            leaf("csm", "eq", f"csm{k}"),
            f"a.owner_id IN (SELECT u.id FROM auth_user u WHERE u.username = 'csm{k}')",
        )
    for r in regions:
        add(
            "region-risk",
            f"At risk in {r}",
            {"all": [leaf("region", "eq", r), leaf("lifecycle_stage", "eq", "at_risk")]},
            f"a.region = '{r}' AND a.lifecycle_stage = 'at_risk'",
        )
    for p in plans:
        add(
            "plan-renewal",
            f"{p} renewing in 90 days",
            {"all": [leaf("plan", "eq", p), leaf("renewal_date", "within_next_days", 90)]},
            f"a.plan = '{p}' AND a.renewal_date >= {d(0)} AND a.renewal_date <= {d(90)}",
        )
    nps = (
        "(CASE WHEN jsonb_typeof(a.traits -> 'nps') = 'number' "
        "AND (a.traits ->> 'nps') ~ '^-?[0-9]{1,18}$' THEN (a.traits ->> 'nps')::bigint END)"
    )
    add("traits", "Detractors (NPS <= 6)", leaf("traits.nps", "lte", 6), f"{nps} <= 6")
    add("traits", "Promoters (NPS >= 9)", leaf("traits.nps", "gte", 9), f"{nps} >= 9")
    add(
        "mixed",
        "Enterprise without champion renewing",
        {
            "all": [
                leaf("has_champion", "eq", False),
                leaf("plan", "eq", "enterprise"),
                leaf("renewal_date", "within_next_days", 120),
            ]
        },
        f"a.has_champion = false AND a.plan = 'enterprise' AND a.renewal_date >= {d(0)} "
        f"AND a.renewal_date <= {d(120)}",
    )
    add(
        "mixed",
        "Reference candidates",
        {"all": [leaf("referenceable", "eq", True), leaf("health_score", "gte", 80)]},
        "a.referenceable = true AND a.health_score >= 80",
    )
    add(
        "mixed",
        "Low seat utilization",
        {
            "all": [
                leaf("seat_utilization", "lt", 0.5),
                leaf("lifecycle_stage", "in", ["adopting", "mature"]),
            ]
        },
        "a.licensed_seats > 0 AND a.active_users::numeric / a.licensed_seats < 0.5 "
        "AND a.lifecycle_stage IN ('adopting', 'mature')",
    )
    add(
        "mixed",
        "Ticket-heavy and unhappy",
        {"all": [leaf("open_tickets", "gte", 5), leaf("health_score", "lt", 60)]},
        "a.open_tickets >= 5 AND a.health_score < 60",
    )
    add(
        "mixed",
        "New customers",
        {
            "all": [
                {"not": leaf("lifecycle_stage", "in", ["churned", "trial"])},
                leaf("customer_since", "within_last_days", 90),
            ]
        },
        f"NOT (a.lifecycle_stage IS NOT NULL AND a.lifecycle_stage IN ('churned', 'trial')) "
        f"AND a.customer_since >= {d(-90)} AND a.customer_since <= {d(0)}",
    )
    add(
        "mixed",
        "Any risk signal",
        {
            "any": [
                leaf("health_score", "lt", 40),
                leaf("open_tickets", "gte", 10),
                leaf("last_seen_at", "more_than_days_ago", 30),
            ]
        },
        f"(a.health_score < 40 OR a.open_tickets >= 10 OR a.last_seen_at < {d(-30)})",
    )
    add(
        "mixed",
        "Large B2B",
        {
            "all": [
                leaf("employees", "between", [1000, 100000]),
                leaf("business_model", "eq", "B2B"),
            ]
        },
        "a.employees >= 1000 AND a.employees <= 100000 AND a.business_model = 'B2B'",
    )
    add("mixed", "MRR >= 5000", leaf("mrr", "gte", 5000), "a.arr >= 60000")
    add(
        "mixed",
        "Churned this year",
        leaf("churned_on", "within_last_days", 365),
        f"a.churned_on >= {d(-365)} AND a.churned_on <= {d(0)}",
    )
    add(
        "mixed",
        "Domains with 'io'",
        leaf("domain", "contains", "io"),
        "UPPER(a.domain::text) LIKE '%%IO%%'",
    )
    assert len(specs) == 100, len(specs)
    return specs


def pick(specs: list[SegmentSpec], count: int) -> list[SegmentSpec]:
    """The first ``count`` segments, round-robin over categories (a realistic mix); the
    exclusive tiers are kept together."""
    if count >= len(specs):
        return specs
    by_category: dict[str, list[SegmentSpec]] = {}
    for spec in specs:
        by_category.setdefault(spec.category, []).append(spec)
    chosen = list(by_category.pop("tiers"))
    while len(chosen) < count:
        for items in by_category.values():
            if items and len(chosen) < count:
                chosen.append(items.pop(0))
    return chosen


# --- setup ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--segments", default="20,100")
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--database", default="cs_bench_recompute")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.accounts <= 0:
        parser.error("--accounts: must be a positive number")
    scratch_db.refuse_protected(parser, args.database)
    return args


def database_url(database: str) -> str:
    return f"{scratch_db.LOCAL_SERVER}/{database}"


def django_setup(database: str) -> None:
    """Django on the (already created) scratch database, migrated."""
    os.environ["CS_TODAY"] = TODAY.isoformat()
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    scratch_db.prepare(database_url(database), fresh=False)


def seed_only(args: argparse.Namespace) -> int:
    django_setup(args.database)
    from demo.accounts import seed_demo

    started = time.perf_counter()
    result = seed_demo(accounts=args.accounts, seed=args.seed)
    scratch_db.analyze()
    print(f"  seeded {result.accounts:,} accounts in {time.perf_counter() - started:.1f} s")
    return 0


def prepare_database(args: argparse.Namespace) -> None:
    url = database_url(args.database)
    if args.reuse and (count := scratch_db.account_count(url)) == args.accounts:
        print(f"Reusing {args.database} with {count:,} accounts")
        return
    scratch_db.recreate(url)
    print(f"Seeding {args.accounts:,} accounts into {args.database} (child process)...")
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--seed-only",
            "--database",
            args.database,
            "--accounts",
            str(args.accounts),
            "--seed",
            str(args.seed),
        ],
        check=True,
    )


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Phase:
    seconds: float
    traced_peak_mb: float


def measure(work: Callable[[], Any]) -> tuple[Phase, Any]:
    tracemalloc.start()
    started = time.perf_counter()
    value = work()
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Phase(seconds, peak / 2**20), value


class StatementTimes:
    """A connection.execute_wrapper adding up the time of the statements that write
    membership rows and their events."""

    WRITES = (
        "INSERT INTO segments_membershipevent",
        "INSERT INTO segments_membership ",
        "DELETE FROM segments_membership ",
    )

    def __init__(self) -> None:
        self.writes = 0.0

    def __call__(self, execute, sql, params, many, context):  # noqa: ANN001 (Django's)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if sql.startswith(self.WRITES):
                self.writes += time.perf_counter() - started


def vacuum_analyze(tables: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # autocommit: VACUUM runs outside a transaction
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_for(specs: list[SegmentSpec], args: argparse.Namespace) -> None:
    from django.db import connection, transaction

    from segments import services
    from segments.models import ExclusiveGroup

    # Setup: no broker in the bench; recomputes are called directly below.
    services._enqueue_recompute = lambda **kwargs: None

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE segments_membershipevent, segments_membership, segments_segmentsnapshot, "
            "segments_segment, segments_segmentversion, segments_exclusivegroup CASCADE"
        )
        cursor.execute("DELETE FROM customers_pendingevaluation")
    groups: dict[str, Any] = {}
    segments = []
    for spec in specs:
        group = None
        if spec.group:
            group = groups.get(spec.group) or ExclusiveGroup.objects.create(name=spec.group)
            groups[spec.group] = group
        segments.append(
            services.segment_create(
                name=spec.name,
                rule=spec.rule,
                rank_by=spec.rank_by,
                rank_limit=spec.rank_limit,
                exclusive_group=group,
                priority=spec.priority,
                publish=True,
            )
        )
    order = sorted(range(len(specs)), key=lambda i: (specs[i].priority or 0, i))

    def table_rows() -> dict[str, int]:
        with connection.cursor() as cursor:
            counts = {}
            for table in (
                "segments_membership",
                "segments_membershipevent",
                "segments_segmentsnapshot",
            ):
                cursor.execute(f"SELECT count(*) FROM {table}")
                counts[table.removeprefix("segments_")] = cursor.fetchone()[0]
            return counts

    def target_sql(i: int) -> str:
        spec = specs[i]
        sql = f"SELECT a.id FROM customers_account a WHERE {spec.sql}"
        if spec.rank_by:
            sql += f" ORDER BY a.{spec.rank_by} DESC NULLS LAST, a.id LIMIT {spec.rank_limit}"
        return sql

    # Lower bound: one hand-written statement per segment inserting memberships and events.
    def lower_bound_full() -> list[int]:
        counts = []
        for i in order:
            segment = segments[i]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"WITH t AS MATERIALIZED ({target_sql(i)}), "
                    "ins AS (INSERT INTO segments_membership "
                    "(segment_id, account_id, entered_at, version_id) "
                    "SELECT %s, id, now(), %s FROM t) "
                    "INSERT INTO segments_membershipevent "
                    "(segment_id, account_id, kind, at, version_id) "
                    "SELECT %s, id, 'entered', now(), %s FROM t",
                    [segment.pk, segment.current_version_id] * 2,
                )
                counts.append(cursor.rowcount)
        return counts

    def lower_bound_nochange() -> int:
        total = 0
        for i in order:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"WITH t AS MATERIALIZED ({target_sql(i)}), m AS (SELECT account_id "
                    "FROM segments_membership WHERE segment_id = %s) "
                    "SELECT count(*) FROM ((SELECT id FROM t EXCEPT SELECT account_id FROM m) "
                    "UNION ALL (SELECT account_id FROM m EXCEPT SELECT id FROM t)) diff",
                    [segments[i].pk],
                )
                total += cursor.fetchone()[0]
        return total

    def engine_full() -> list[int]:
        counts = []
        for i in order:
            result = services.segment_recompute(segment_id=segments[i].pk)
            counts.append(result.member_count)
        return counts

    with connection.cursor() as cursor:  # warm the cache the same way for both
        cursor.execute("SET jit = off")  # as the engine does: the fastest plan for both
        cursor.execute("SELECT count(*), sum(arr) FROM customers_account")

    n = len(specs)
    print(f"\n== {n} segments over {args.accounts:,} accounts ==")
    lower, lower_counts = measure(lower_bound_full)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE segments_membershipevent, segments_membership CASCADE")
    full, engine_counts = measure(engine_full)
    mismatched = [
        specs[i].name
        for i, lower_count, engine_count in zip(order, lower_counts, engine_counts, strict=True)
        if lower_count != engine_count
    ]
    rows = table_rows()
    print(
        f"full recompute:      {full.seconds:7.2f} s  ({rows['membership']:,} memberships, "
        f"{rows['membershipevent']:,} events)  traced peak {full.traced_peak_mb:.1f} MB"
    )
    print(
        f"hand-written SQL:    {lower.seconds:7.2f} s  ratio {full.seconds / lower.seconds:.2f}"
        + (f"  COUNT MISMATCH: {mismatched}" if mismatched else "  (same member counts)")
    )

    # Autovacuum's work after a bulk load, done now so that every later figure reads the
    # tables as they are in steady state (index-only scans need the visibility map).
    started = time.perf_counter()
    vacuum_analyze(["segments_membership", "segments_membershipevent", "customers_account"])
    print(f"VACUUM ANALYZE after the load: {time.perf_counter() - started:7.2f} s")

    before = table_rows()
    nochange, _ = measure(
        lambda: [services.segment_recompute(segment_id=segments[i].pk) for i in order]
    )
    after = table_rows()
    written = {k: after[k] - before[k] for k in after}
    lower_nc, diff = measure(lower_bound_nochange)
    print(
        f"no-change recompute: {nochange.seconds:7.2f} s  rows written: "
        f"{written['membership']} memberships, {written['membershipevent']} events, "
        f"{written['segmentsnapshot']} snapshots  traced peak {nochange.traced_peak_mb:.1f} MB"
    )
    print(
        f"hand-written diff:   {lower_nc.seconds:7.2f} s  ratio "
        f"{nochange.seconds / lower_nc.seconds:.2f}  (diff rows {diff})"
    )

    before = table_rows()
    together, everything = measure(services.segments_recompute_all)
    written = {k: v - before[k] for k, v in table_rows().items()}
    print(
        f"all together:        {together.seconds:7.2f} s  rows written: "
        f"{written['membership']} memberships, {written['membershipevent']} events, "
        f"{written['segmentsnapshot']} snapshots ({everything.segments} segments, "
        f"{len(everything.one_by_one)} ranked one by one)  traced peak "
        f"{together.traced_peak_mb:.1f} MB"
    )

    # Changed accounts: deterministic random samples.
    rng = random.Random(args.seed)
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM customers_account")
        low, high = cursor.fetchone()

    def change(kind: str, mark: bool) -> None:
        changed = sorted(rng.sample(range(low, high + 1), min(args.changed, high - low + 1)))
        with transaction.atomic(), connection.cursor() as cursor:
            if kind == "heavy":
                cursor.execute(
                    "UPDATE customers_account SET arr = round(arr * 1.7 + 20000, 2), "
                    "health_score = (coalesce(health_score, 50) + 37) %% 101, "
                    "last_seen_at = %s WHERE id = ANY(%s)",
                    [TODAY - timedelta(days=rng.randint(0, 120)), changed],
                )
            else:
                cursor.execute(
                    "UPDATE customers_account SET "
                    "health_score = least(100, greatest(0, coalesce(health_score, 50) "
                    "+ (id %% 9) - 4)), last_seen_at = %s::date - (id %% 3)::int "
                    "WHERE id = ANY(%s)",
                    [TODAY, changed],
                )
            if mark:  # as customers.services.accounts_mark_changed does, in the transaction
                cursor.execute(
                    "INSERT INTO customers_pendingevaluation (account_id, marked_at) "
                    "SELECT unnest(%s::bigint[]), now() "
                    "ON CONFLICT (account_id) DO UPDATE SET marked_at = EXCLUDED.marked_at",
                    [changed],
                )

    for kind, label in (("heavy", "heavy change"), ("typical", "typical sync")):
        change(kind, mark=True)
        before = table_rows()
        timings = StatementTimes()
        with connection.execute_wrapper(timings):
            sweep_phase, sweep = measure(
                lambda: services.segments_evaluate_changed_accounts(batch_size=max(args.changed, 1))
            )
        after = table_rows()
        print(
            f"changed accounts:    {sweep_phase.seconds:7.2f} s  for {sweep.accounts:,} accounts x "
            f"{n} segments, {label} ({sweep.entered:,} entered, {sweep.exited:,} exited, "
            f"{after['membershipevent'] - before['membershipevent']:,} events; "
            f"{len(sweep.ranked_recomputed)} ranked segments recomputed in full) "
            f"traced peak {sweep_phase.traced_peak_mb:.1f} MB"
        )
        print(
            f"    writing events and memberships {timings.writes * 1000:,.0f} ms, "
            f"everything else {(sweep_phase.seconds - timings.writes) * 1000:,.0f} ms"
        )

    change("heavy", mark=False)
    together, everything = measure(services.segments_recompute_all)
    print(
        f"all together after {args.changed:,} more changed accounts: {together.seconds:7.2f} s  "
        f"({everything.entered:,} entered, {everything.exited:,} exited)"
    )
    _, check = measure(
        lambda: [services.segment_recompute(segment_id=segments[i].pk) for i in order]
    )
    drift = sum(r.entered + r.exited for r in check)
    print(
        f"check: a full recompute of each segment afterwards changed {drift} memberships (expect 0)"
    )
    print(f"peak RSS of this worker process so far: {rss_mb():.0f} MB")


def main() -> int:
    args = parse_args()
    if args.seed_only:
        return seed_only(args)
    prepare_database(args)
    django_setup(args.database)
    print(f"worker RSS after Django setup: {rss_mb():.0f} MB")
    specs = segment_specs()
    for count in [int(c) for c in args.segments.split(",") if c]:
        run_for(pick(specs, count), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
