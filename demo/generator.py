"""The demo generator: accounts with their contracts and CSM assignments, as rows ready to
write, a chunk at a time. One ``random.Random(seed)`` drives everything in order, so the
same seed (and the same ``cs_platform.clock.today()``) always gives the same rows. The
derived columns (``arr``, ``renewal_date``, ``owner``) are computed here from the same
contracts and assignments that are written, so no re-derive pass is needed."""

import datetime as dt
import math
import random
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from customers.models import AssignmentRole, ContractStatus, LifecycleStage, Plan

from .distributions import (
    ARR_LOGNORMAL,
    BUSINESS_MODEL_WEIGHTS,
    CENT,
    CONTRACT_COUNT_WEIGHTS,
    COUNTRIES,
    EMPLOYEES_LOGNORMAL,
    INDUSTRY_WEIGHTS,
    NAME_FIRST,
    NAME_SECOND,
    NAME_SUFFIX,
    NPS_WEIGHTS,
    PLAN_WEIGHTS,
    REGION_WEIGHTS,
    SEAT_PRICE,
    TLD,
)

EXTERNAL_ID_PREFIX = "demo"

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


@dataclass
class Chunk:
    # Rows are tuples in ACCOUNT_COLUMNS / CONTRACT_COLUMNS / ASSIGNMENT_COLUMNS order;
    # account ids are filled in by the writer, contracts and assignments refer to the
    # account by its position in the chunk until then.
    accounts: list[list[Any]] = field(default_factory=list)
    contracts: list[list[Any]] = field(default_factory=list)
    assignments: list[list[Any]] = field(default_factory=list)


class Generator:
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

    def chunk(self, *, first: int, count: int) -> Chunk:
        chunk = Chunk()
        for index in range(first, first + count):
            self._account(index, chunk)
        return chunk

    def _midnight(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(9, 0), tzinfo=dt.UTC)

    def _account(self, index: int, chunk: Chunk) -> None:
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
        self, *, position: int, plan: Plan, customer_since: dt.date, chunk: Chunk
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
