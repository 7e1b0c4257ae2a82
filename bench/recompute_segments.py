"""The segments bench/recompute.py measures: 100 realistic rules (plans, regions, tiers in
an exclusive group, renewal windows, health, usage, CSM books, traits, two ranked "top N"),
each with the same set written by hand in SQL (the lower bound)."""

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

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
