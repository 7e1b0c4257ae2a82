"""Deterministic demo data: users in their roles, accounts, contracts, CSM assignments and
custom attributes that look like a real SaaS customer base.

The same ``seed`` (and the same ``cs_platform.clock.today()``) always gives the same rows.
Accounts are generated and inserted in chunks, so memory stays flat for a million of them:
on PostgreSQL through COPY (ids reserved from the sequence first, so contracts and
assignments can point at them), elsewhere through ``bulk_create``. The derived columns
(``arr``, ``renewal_date``, ``owner``) are computed in Python while generating, from the
same contracts and assignments that are written, so no re-derive pass is needed.
"""

import datetime as dt
import json
import math
import random
import time
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from cs_platform.clock import today as clock_today

from .models import (
    Account,
    AssignmentRole,
    AttributeDefinition,
    AttributeType,
    BusinessModel,
    Contract,
    ContractStatus,
    CSMAssignment,
    Industry,
    LifecycleStage,
    Plan,
    Region,
)
from .roles import CSMS, MANAGERS

# Accounts generated and written per chunk. Each chunk holds its accounts, ~2 contracts
# and ~1.2 assignments per account in memory (about 10 MB for 10k accounts), so memory
# is flat whatever the total; larger chunks save little once COPY is streaming.
CHUNK_ACCOUNTS = 10_000
# Rows per INSERT statement when bulk_create is used (SQLite and other non-PostgreSQL
# backends). SQLite allows 32766 bound parameters per statement and an account row has
# ~30 columns, so 500 rows stays well under that; bigger batches gain nothing measurable.
BULK_BATCH_SIZE = 500

CENT = Decimal("0.01")
DEMO_PASSWORD = "demo-pass-2026"
EXTERNAL_ID_PREFIX = "demo"

CSM_NAMES = (
    ("csm1", "Maya", "Fischer"),
    ("csm2", "Daniel", "Okafor"),
    ("csm3", "Sofia", "Lindqvist"),
    ("csm4", "Arjun", "Mehta"),
    ("csm5", "Lucia", "Herrera"),
    ("csm6", "Tom", "Becker"),
    ("csm7", "Hana", "Sato"),
    ("csm8", "Noah", "Williams"),
)
MANAGER_NAMES = (("manager1", "Claire", "Dubois"), ("manager2", "Marcus", "Reid"))

ATTRIBUTES = (
    {"key": "nps", "label": "NPS (last survey, 0-10)", "type": AttributeType.INTEGER},
    {
        "key": "tier_override",
        "label": "Tier override",
        "type": AttributeType.CHOICE,
        "choices": ["strategic", "standard", "tech_touch"],
    },
    {"key": "onboarding_done", "label": "Onboarding done", "type": AttributeType.BOOLEAN},
    {"key": "contract_signed_on", "label": "First contract signed on", "type": AttributeType.DATE},
)

# Plausible proportions: (value, weight).
INDUSTRY_WEIGHTS = (
    (Industry.SOFTWARE, 22),
    (Industry.FINANCE, 12),
    (Industry.HEALTHCARE, 10),
    (Industry.RETAIL, 12),
    (Industry.MANUFACTURING, 10),
    (Industry.EDUCATION, 7),
    (Industry.MEDIA, 6),
    (Industry.LOGISTICS, 7),
    (Industry.PUBLIC_SECTOR, 4),
    (Industry.PROFESSIONAL_SERVICES, 10),
)
REGION_WEIGHTS = ((Region.NA, 45), (Region.EMEA, 30), (Region.APAC, 17), (Region.LATAM, 8))
COUNTRIES = {
    Region.NA: (("United States", 85), ("Canada", 15)),
    Region.EMEA: (
        ("United Kingdom", 28),
        ("Germany", 24),
        ("France", 16),
        ("Netherlands", 10),
        ("Sweden", 8),
        ("Spain", 8),
        ("United Arab Emirates", 6),
    ),
    Region.APAC: (
        ("Australia", 30),
        ("Japan", 22),
        ("India", 20),
        ("Singapore", 16),
        ("South Korea", 12),
    ),
    Region.LATAM: (("Brazil", 45), ("Mexico", 30), ("Chile", 13), ("Colombia", 12)),
}
NPS_WEIGHTS = tuple(zip(range(11), (1, 1, 1, 2, 2, 4, 6, 10, 14, 12, 8), strict=True))
CONTRACT_COUNT_WEIGHTS = ((1, 45), (2, 40), (3, 15))
BUSINESS_MODEL_WEIGHTS = ((BusinessModel.B2B, 75), (BusinessModel.B2C, 15), (BusinessModel.DTC, 10))
PLAN_WEIGHTS = ((Plan.FREE, 10), (Plan.STARTER, 38), (Plan.PRO, 37), (Plan.ENTERPRISE, 15))
# Log-normal ARR per plan: (median, sigma). Free accounts pay nothing.
ARR_LOGNORMAL = {
    Plan.STARTER: (6_000, 0.55),
    Plan.PRO: (32_000, 0.6),
    Plan.ENTERPRISE: (160_000, 0.7),
}
SEAT_PRICE = {Plan.FREE: None, Plan.STARTER: 480, Plan.PRO: 900, Plan.ENTERPRISE: 1_300}
EMPLOYEES_LOGNORMAL = {
    Plan.FREE: (25, 1.0),
    Plan.STARTER: (60, 0.9),
    Plan.PRO: (400, 0.9),
    Plan.ENTERPRISE: (5_000, 1.0),
}

NAME_FIRST = (
    "Acme", "Blue", "Bright", "Cedar", "Clear", "Cobalt", "Copper", "Crest", "Delta", "Ember",
    "Evergreen", "Falcon", "Fern", "Granite", "Harbor", "Helix", "Horizon", "Iron", "Juniper",
    "Keystone", "Lumen", "Maple", "Meridian", "Nimbus", "North", "Nova", "Oak", "Onyx", "Orbit",
    "Pacific", "Pine", "Pioneer", "Prism", "Quartz", "Radiant", "Red", "River", "Sable",
    "Sierra", "Silver", "Solar", "Spruce", "Stone", "Summit", "Swift", "Terra", "Tidal",
    "Vertex", "Willow", "Zenith",
)  # fmt: skip
NAME_SECOND = (
    "peak", "field", "line", "bridge", "wave", "stack", "point", "gate", "works", "path",
    "light", "forge", "leaf", "stream", "rock", "view", "wind", "mark", "shore", "loop",
)  # fmt: skip
NAME_SUFFIX = {
    Industry.SOFTWARE: ("Labs", "Software", "Cloud", "Systems", "AI"),
    Industry.FINANCE: ("Capital", "Financial", "Bank", "Payments", "Insurance"),
    Industry.HEALTHCARE: ("Health", "Medical", "Care", "Clinics", "Bio"),
    Industry.RETAIL: ("Retail", "Outfitters", "Market", "Goods", "Shop"),
    Industry.MANUFACTURING: ("Industries", "Manufacturing", "Components", "Materials"),
    Industry.EDUCATION: ("Academy", "Learning", "University", "Schools"),
    Industry.MEDIA: ("Media", "Studios", "Publishing", "Networks"),
    Industry.LOGISTICS: ("Logistics", "Freight", "Shipping", "Transport"),
    Industry.PUBLIC_SECTOR: ("County", "Agency", "Municipality", "Authority"),
    Industry.PROFESSIONAL_SERVICES: ("Partners", "Consulting", "Advisors", "Group"),
}
TLD = {Region.NA: ".com", Region.EMEA: ".eu", Region.APAC: ".io", Region.LATAM: ".la"}

ACCOUNT_COLUMNS = (
    "id",
    "name",
    "external_id",
    "domain",
    "industry",
    "region",
    "country",
    "employees",
    "business_model",
    "plan",
    "lifecycle_stage",
    "customer_since",
    "churned_on",
    "has_champion",
    "referenceable",
    "health_score",
    "last_seen_at",
    "active_users",
    "licensed_seats",
    "open_tickets",
    "cost_to_serve",
    "acquisition_cost",
    "traits",
    "arr",
    "renewal_date",
    "owner_id",
    "created_at",
    "updated_at",
)
CONTRACT_COLUMNS = (
    "account_id",
    "start_date",
    "end_date",
    "arr",
    "status",
    "auto_renew",
    "seats",
    "created_at",
    "updated_at",
)
ASSIGNMENT_COLUMNS = ("account_id", "user_id", "role", "started_at", "ended_at")


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


@dataclass
class SeedResult:
    accounts: int = 0
    contracts: int = 0
    assignments: int = 0
    users: int = 0
    attribute_definitions: int = 0
    elapsed_seconds: float = 0.0
    logins: list[DemoLogin] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.accounts + self.contracts + self.assignments


class SeedError(ValueError):
    """The demo data cannot be written (bad arguments, or it is already there)."""


def demo_logins() -> list[DemoLogin]:
    """The demo users and their known password (printed by ``seed_demo``)."""
    return [DemoLogin(u, DEMO_PASSWORD, "manager") for u, _, _ in MANAGER_NAMES] + [
        DemoLogin(u, DEMO_PASSWORD, "CSM") for u, _, _ in CSM_NAMES
    ]


def seed_demo(*, accounts: int, seed: int, out: TextIO | None = None) -> SeedResult:
    """Write a deterministic demo dataset of ``accounts`` accounts (plus users, contracts,
    assignments and attribute definitions) in one transaction.

    Demo users and attribute definitions are created or reset; accounts get external ids
    ``demo-<seed>-<n>``, so seeding the same seed twice into one database is refused.
    Seeded accounts are not marked for segment re-evaluation: a full segment recompute
    covers them.
    """
    if accounts < 0:
        raise SeedError("accounts: must be zero or more.")
    started = time.perf_counter()
    prefix = f"{EXTERNAL_ID_PREFIX}-{seed}-"
    result = SeedResult()
    with transaction.atomic():
        if Account.objects.filter(external_id__startswith=prefix).exists():
            raise SeedError(
                f"seed: demo accounts for seed {seed} already exist; use an empty database "
                "or another seed."
            )
        managers, csms = _users_upsert()
        result.users = len(managers) + len(csms)
        result.attribute_definitions = _attributes_upsert()
        generator = _Generator(seed=seed, today=clock_today(), csm_ids=csms, manager_ids=managers)
        writer = _writer()
        for first in range(0, accounts, CHUNK_ACCOUNTS):
            count = min(CHUNK_ACCOUNTS, accounts - first)
            chunk = generator.chunk(first=first, count=count)
            writer.write(chunk)
            result.accounts += len(chunk.accounts)
            result.contracts += len(chunk.contracts)
            result.assignments += len(chunk.assignments)
            if out is not None:
                out.write(
                    f"  {result.accounts:>9,} accounts  {time.perf_counter() - started:6.1f} s\n"
                )
                out.flush()
        writer.finish()
    result.elapsed_seconds = time.perf_counter() - started
    result.logins = demo_logins()
    return result


def _users_upsert() -> tuple[list[int], list[int]]:
    """Create (or reset) the demo managers and CSMs; returns their ids in a fixed order."""
    User = get_user_model()
    # One hash for the shared demo password: PBKDF2 costs ~0.5 s per call.
    password = make_password(DEMO_PASSWORD)
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in (MANAGERS, CSMS)}
    ids: dict[str, list[int]] = {MANAGERS: [], CSMS: []}
    for group_name, names, is_staff in ((MANAGERS, MANAGER_NAMES, True), (CSMS, CSM_NAMES, False)):
        for username, first_name, last_name in names:
            user, _ = User.objects.update_or_create(
                username=username,
                defaults={
                    "first_name": first_name,
                    "last_name": last_name,
                    "email": f"{username}@demo.example.com",
                    "is_staff": is_staff,
                    "is_active": True,
                    "password": password,
                },
            )
            user.groups.add(groups[group_name])
            ids[group_name].append(user.pk)
    return ids[MANAGERS], ids[CSMS]


def _attributes_upsert() -> int:
    for spec in ATTRIBUTES:
        AttributeDefinition.objects.update_or_create(
            key=spec["key"],
            defaults={
                "label": spec["label"],
                "type": spec["type"],
                "choices": spec.get("choices", []),
            },
        )
    return len(ATTRIBUTES)


@dataclass
class _Chunk:
    # Rows are tuples in ACCOUNT_COLUMNS / CONTRACT_COLUMNS / ASSIGNMENT_COLUMNS order;
    # account ids are filled in by the writer, contracts and assignments refer to the
    # account by its position in the chunk until then.
    accounts: list[list[Any]] = field(default_factory=list)
    contracts: list[list[Any]] = field(default_factory=list)
    assignments: list[list[Any]] = field(default_factory=list)


class _Generator:
    """Produces chunks of rows; one ``random.Random(seed)`` drives everything, in order."""

    def __init__(
        self, *, seed: int, today: dt.date, csm_ids: Sequence[int], manager_ids: Sequence[int]
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.today = today
        self.csm_ids = list(csm_ids)
        self.manager_ids = list(manager_ids)
        self.now = timezone.now()
        self._weights: dict[int, tuple[list[Any], list[float]]] = {}

    def pick(self, options: Sequence[tuple[Any, float]]) -> Any:
        key = id(options)
        if key not in self._weights:
            values = [value for value, _ in options]
            cumulative, total = [], 0.0
            for _, weight in options:
                total += weight
                cumulative.append(total)
            self._weights[key] = (values, cumulative)
        values, cumulative = self._weights[key]
        # What random.choices(values, cum_weights=...) does, without its per-call overhead.
        return values[bisect(cumulative, self.rng.random() * cumulative[-1], 0, len(values) - 1)]

    def chunk(self, *, first: int, count: int) -> _Chunk:
        chunk = _Chunk()
        for index in range(first, first + count):
            self._account(index, chunk)
        return chunk

    def _midnight(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(9, 0), tzinfo=dt.UTC)

    def _account(self, index: int, chunk: _Chunk) -> None:
        rng, today = self.rng, self.today
        position = len(chunk.accounts)
        industry = self.pick(INDUSTRY_WEIGHTS)
        region = self.pick(REGION_WEIGHTS)
        plan = self.pick(PLAN_WEIGHTS)
        first_word = rng.choice(NAME_FIRST)
        second_word = rng.choice(NAME_SECOND)
        stem = f"{first_word}{second_word}"
        name = f"{stem} {rng.choice(NAME_SUFFIX[industry])}"
        domain = f"{stem.lower()}{index}{TLD[region]}"

        churned = rng.random() < 0.10
        base_arr = self._arr(plan)
        contracts = self._contracts(churned=churned, base_arr=base_arr, plan=plan)
        active = [c for c in contracts if c[3] == ContractStatus.ACTIVE]
        arr = sum((c[2] for c in active), Decimal("0.00"))
        renewal_date = min((c[1] for c in active), default=None)
        first_start = min(c[0] for c in contracts)
        # Older customers whose earlier contracts fall outside the generated window.
        customer_since = first_start - dt.timedelta(
            days=int(rng.expovariate(1 / 400)) if rng.random() < 0.5 else 0
        )
        churned_on = contracts[-1][1] if churned else None

        health: int | None
        if churned:
            lifecycle = LifecycleStage.CHURNED
            health = rng.randint(5, 40)
        else:
            tenure = (today - customer_since).days
            roll = rng.random()
            if plan == Plan.FREE and roll < 0.4:
                lifecycle = LifecycleStage.TRIAL
            elif tenure < 90:
                lifecycle = LifecycleStage.ONBOARDING
            elif roll < 0.12:
                lifecycle = LifecycleStage.AT_RISK
            elif tenure < 400:
                lifecycle = LifecycleStage.ADOPTING
            else:
                lifecycle = LifecycleStage.MATURE
            if lifecycle == LifecycleStage.AT_RISK:
                health = rng.randint(10, 45)
            else:
                health = max(0, min(100, round(rng.gauss(74, 12))))
        if rng.random() < 0.05:
            health = None

        seat_price = SEAT_PRICE[plan]
        licensed_seats = max(1, int(base_arr / seat_price)) if seat_price else 5
        utilization = min(1.15, max(0.05, rng.betavariate(4, 2) * 1.1))
        if churned:
            utilization *= 0.2
        active_users = int(licensed_seats * utilization)
        if churned:
            last_seen = churned_on - dt.timedelta(days=int(rng.expovariate(1 / 30)))
        else:
            last_seen = today - dt.timedelta(days=min(365, int(rng.expovariate(1 / 6))))
        last_seen = max(last_seen, customer_since)
        open_tickets = 0 if churned else min(25, int(rng.expovariate(1 / 2.2)))
        cost_to_serve = (base_arr * Decimal(str(round(rng.uniform(0.06, 0.28), 3)))).quantize(
            CENT
        ) + Decimal(rng.randint(200, 1500))
        acquisition_cost = (base_arr * Decimal(str(round(rng.uniform(0.3, 1.4), 3)))).quantize(
            CENT
        ) + Decimal(rng.randint(100, 3000))
        mu, sigma = EMPLOYEES_LOGNORMAL[plan]
        employees = max(1, int(rng.lognormvariate(math.log(mu), sigma)))
        has_champion = not churned and rng.random() < 0.55
        referenceable = has_champion and health is not None and health >= 75 and rng.random() < 0.35

        traits: dict[str, Any] = {}
        if rng.random() < 0.7:
            traits["nps"] = self.pick(NPS_WEIGHTS)
        if rng.random() < 0.1:
            traits["tier_override"] = rng.choice(("strategic", "standard", "tech_touch"))
        traits["onboarding_done"] = lifecycle not in (
            LifecycleStage.TRIAL,
            LifecycleStage.ONBOARDING,
        )
        traits["contract_signed_on"] = (
            customer_since - dt.timedelta(days=rng.randint(3, 30))
        ).isoformat()

        owner_id = self._assignments(
            position=position, plan=plan, customer_since=customer_since, chunk=chunk
        )

        chunk.accounts.append(
            [
                None,  # id, set by the writer
                name,
                f"{EXTERNAL_ID_PREFIX}-{self.seed}-{index + 1:07d}",
                domain,
                industry.value,
                region.value,
                self.pick(COUNTRIES[region]),
                employees,
                self.pick(BUSINESS_MODEL_WEIGHTS).value,
                plan.value,
                lifecycle.value,
                customer_since,
                churned_on,
                has_champion,
                referenceable,
                health,
                last_seen,
                active_users,
                licensed_seats,
                open_tickets,
                cost_to_serve,
                acquisition_cost,
                traits,
                arr,
                renewal_date,
                owner_id,
                self.now,
                self.now,
            ]
        )
        for start, end, contract_arr, status, auto_renew, seats in contracts:
            chunk.contracts.append(
                [
                    position,
                    start,
                    end,
                    contract_arr,
                    status.value,
                    auto_renew,
                    seats,
                    self.now,
                    self.now,
                ]
            )

    def _arr(self, plan: Plan) -> Decimal:
        if plan == Plan.FREE:
            return Decimal("0.00")
        median, sigma = ARR_LOGNORMAL[plan]
        return Decimal(str(round(self.rng.lognormvariate(math.log(median), sigma), 2))).quantize(
            CENT
        )

    def _contracts(
        self, *, churned: bool, base_arr: Decimal, plan: Plan
    ) -> list[tuple[dt.date, dt.date, Decimal, ContractStatus, bool, int | None]]:
        """1–3 contracts, oldest first: a renewal chain ending in the current (or the last,
        churned) term, sometimes with a co-termed add-on. End dates fall between one year
        before and two years after today."""
        rng, today = self.rng, self.today
        floor = today - dt.timedelta(days=365)
        seat_price = SEAT_PRICE[plan]
        auto_renew = rng.random() < 0.4
        if churned:
            last_end = today - dt.timedelta(days=rng.randint(1, 365))
            last_status = ContractStatus.CHURNED
            term = 365
        else:
            if rng.random() < 0.03:  # renewal not closed yet: overdue
                last_end = today - dt.timedelta(days=rng.randint(1, 45))
            else:
                last_end = today + dt.timedelta(days=rng.randint(0, 730))
            last_status = ContractStatus.ACTIVE
            term = 365 if (last_end - today).days < 365 else 730
        wanted = self.pick(CONTRACT_COUNT_WEIGHTS)

        def seats_for(amount: Decimal) -> int | None:
            return max(1, int(amount / seat_price)) if seat_price else None

        last_start = last_end - dt.timedelta(days=term - 1)
        contracts = [(last_start, last_end, base_arr, last_status, auto_renew, seats_for(base_arr))]
        # A co-termed add-on (more seats bought mid-term), sometimes cancelled.
        if wanted >= 2 and not churned and plan != Plan.FREE and rng.random() < 0.25:
            addon_start = last_start + dt.timedelta(days=rng.randint(30, 200))
            if addon_start <= last_end:
                addon_arr = (base_arr * Decimal(str(round(rng.uniform(0.1, 0.4), 2)))).quantize(
                    CENT
                )
                status = ContractStatus.CANCELLED if rng.random() < 0.1 else ContractStatus.ACTIVE
                contracts.append(
                    (addon_start, last_end, addon_arr, status, auto_renew, seats_for(addon_arr))
                )
                wanted -= 1
        # Earlier terms of the renewal chain, renewed into the next one.
        previous_start, amount = last_start, base_arr
        for _ in range(wanted - 1):
            end = previous_start - dt.timedelta(days=1)
            if end < floor:
                break
            amount = (amount / Decimal(str(round(rng.uniform(1.0, 1.25), 3)))).quantize(CENT)
            start = end - dt.timedelta(days=364)
            contracts.insert(
                0, (start, end, amount, ContractStatus.RENEWED, auto_renew, seats_for(amount))
            )
            previous_start = start
        contracts.sort(key=lambda c: (c[1], c[0]))
        return contracts

    def _assignments(
        self, *, position: int, plan: Plan, customer_since: dt.date, chunk: _Chunk
    ) -> int | None:
        """Owner history (most accounts have a current owner, some had an earlier one) and a
        few secondary CSMs and executive sponsors. Returns the current owner's id."""
        rng = self.rng
        start = self._midnight(customer_since)
        owner_id = None
        if rng.random() < 0.9:
            owner_id = rng.choice(self.csm_ids)
            if rng.random() < 0.15 and (self.today - customer_since).days > 60:
                handover = self._midnight(
                    customer_since
                    + dt.timedelta(days=rng.randint(30, (self.today - customer_since).days))
                )
                previous = rng.choice([c for c in self.csm_ids if c != owner_id])
                chunk.assignments.append(
                    [position, previous, AssignmentRole.OWNER.value, start, handover]
                )
                start = handover
            chunk.assignments.append([position, owner_id, AssignmentRole.OWNER.value, start, None])
        if plan == Plan.ENTERPRISE and rng.random() < 0.3:
            secondary = rng.choice([c for c in self.csm_ids if c != owner_id])
            chunk.assignments.append(
                [position, secondary, AssignmentRole.SECONDARY.value, start, None]
            )
        if plan == Plan.ENTERPRISE and rng.random() < 0.15:
            sponsor = rng.choice(self.manager_ids)
            chunk.assignments.append(
                [position, sponsor, AssignmentRole.EXEC_SPONSOR.value, start, None]
            )
        return owner_id


class _BulkCreateWriter:
    """Any backend: ``bulk_create`` in batches; the database returns the account ids."""

    def write(self, chunk: _Chunk) -> None:
        objects = [
            Account(**dict(zip(ACCOUNT_COLUMNS[1:], row[1:], strict=True)))
            for row in chunk.accounts
        ]
        Account.objects.bulk_create(objects, batch_size=BULK_BATCH_SIZE)
        ids = [obj.pk for obj in objects]
        Contract.objects.bulk_create(
            (
                Contract(
                    account_id=ids[row[0]], **dict(zip(CONTRACT_COLUMNS[1:], row[1:], strict=True))
                )
                for row in chunk.contracts
            ),
            batch_size=BULK_BATCH_SIZE,
        )
        CSMAssignment.objects.bulk_create(
            (
                CSMAssignment(
                    account_id=ids[row[0]],
                    **dict(zip(ASSIGNMENT_COLUMNS[1:], row[1:], strict=True)),
                )
                for row in chunk.assignments
            ),
            batch_size=BULK_BATCH_SIZE,
        )

    def finish(self) -> None:
        pass


class _CopyWriter:
    """PostgreSQL: reserve account ids from the table's sequence, then stream every row
    with COPY (an order of magnitude faster than multi-row INSERTs)."""

    def __init__(self) -> None:
        # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: checked at commit, the
        # server would queue one trigger event per row of a million-account seed. Checking
        # them as rows arrive costs the same and keeps the server's memory flat.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    def write(self, chunk: _Chunk) -> None:
        with connection.cursor() as wrapper:
            cursor = wrapper.cursor  # the psycopg cursor under Django's wrapper
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [Account._meta.db_table, len(chunk.accounts)],
            )
            ids = [row[0] for row in cursor.fetchall()]
            for row, account_id in zip(chunk.accounts, ids, strict=True):
                row[0] = account_id
                row[22] = json.dumps(row[22])  # traits
            self._copy(cursor, Account._meta.db_table, ACCOUNT_COLUMNS, chunk.accounts)
            self._copy(
                cursor, Contract._meta.db_table, CONTRACT_COLUMNS, _relink(chunk.contracts, ids)
            )
            self._copy(
                cursor,
                CSMAssignment._meta.db_table,
                ASSIGNMENT_COLUMNS,
                _relink(chunk.assignments, ids),
            )

    def finish(self) -> None:
        # Fresh statistics, so the first queries on a freshly seeded million rows (segment
        # recomputes, benchmarks) get sensible plans without waiting for autovacuum.
        tables = (Account, Contract, CSMAssignment)
        with connection.cursor() as cursor:
            for model in tables:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
            # Back to Django's default (its foreign keys are INITIALLY DEFERRED) for the rest
            # of an enclosing transaction, such as a test's.
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    @staticmethod
    def _copy(
        cursor: Any, table: str, columns: Sequence[str], rows: Iterator[Sequence[Any]] | list
    ) -> None:
        names = ", ".join(connection.ops.quote_name(c) for c in columns)
        with cursor.copy(f"COPY {connection.ops.quote_name(table)} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _relink(rows: list[list[Any]], ids: list[int]) -> Iterator[list[Any]]:
    for row in rows:
        row[0] = ids[row[0]]
        yield row


def _writer() -> _BulkCreateWriter | _CopyWriter:
    return _CopyWriter() if connection.vendor == "postgresql" else _BulkCreateWriter()
