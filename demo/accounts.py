"""``seed_demo``: deterministic demo data — users in their roles, custom attribute
definitions, and accounts with contracts and CSM assignments that look like a real SaaS
customer base.

Accounts are generated (``demo.generator``) and written (``demo.writers``) in chunks, so
memory stays flat for a million of them.
"""

import time
from dataclasses import dataclass, field
from typing import TextIO

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import transaction

from cs_platform.clock import today as clock_today
from cs_platform.roles import CSMS, MANAGERS
from customers.models import Account, AttributeDefinition, AttributeType
from usage.features import usage_features_rebuild

from .generator import EXTERNAL_ID_PREFIX, Generator
from .products import demo_contract_items_seed
from .usage import UsageGenerator, demo_metrics_upsert
from .writers import chunk_writer

# Accounts generated and written per chunk. Each chunk holds its accounts, ~2 contracts
# and ~1.2 assignments per account in memory (about 10 MB for 10k accounts), so memory
# is flat whatever the total; larger chunks save little once COPY is streaming.
CHUNK_ACCOUNTS = 10_000

DEMO_PASSWORD = "demo-pass-2026"

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
    contract_items: int = 0
    users: int = 0
    attribute_definitions: int = 0
    usage_metrics: int = 0
    usage_rows: int = 0
    elapsed_seconds: float = 0.0
    logins: list[DemoLogin] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.accounts + self.contracts + self.assignments + self.usage_rows


class SeedError(ValueError):
    """The demo data cannot be written (bad arguments, or it is already there)."""


def demo_logins() -> list[DemoLogin]:
    """The demo users and their known password (printed by ``seed_demo``)."""
    return [DemoLogin(u, DEMO_PASSWORD, "manager") for u, _, _ in MANAGER_NAMES] + [
        DemoLogin(u, DEMO_PASSWORD, "CSM") for u, _, _ in CSM_NAMES
    ]


def seed_demo(
    *, accounts: int, seed: int, out: TextIO | None = None, usage: bool = False
) -> SeedResult:
    """Write a deterministic demo dataset of ``accounts`` accounts (plus users, contracts,
    their product line items, assignments, attribute definitions and, with ``usage``, the
    demo usage metrics and ~120 days of daily usage per account: ``demo.usage``) in one
    transaction.

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
        generator = Generator(seed=seed, today=clock_today(), csm_ids=csms, manager_ids=managers)
        usage_generator = None
        if usage:
            metrics = demo_metrics_upsert()
            result.usage_metrics = len(metrics)
            usage_generator = UsageGenerator(seed=seed, today=clock_today(), metrics=metrics)
        writer = chunk_writer()
        for first in range(0, accounts, CHUNK_ACCOUNTS):
            count = min(CHUNK_ACCOUNTS, accounts - first)
            chunk = generator.chunk(first=first, count=count)
            writer.write(chunk)
            if usage_generator is not None:
                result.usage_rows += writer.write_usage(usage_generator.rows(chunk.accounts))
            result.accounts += len(chunk.accounts)
            result.contracts += len(chunk.contracts)
            result.assignments += len(chunk.assignments)
            if out is not None:
                out.write(
                    f"  {result.accounts:>9,} accounts  {time.perf_counter() - started:6.1f} s\n"
                )
                out.flush()
        result.contract_items = demo_contract_items_seed(external_id_prefix=prefix)
        writer.finish()
        if usage_generator is not None:
            # The rows went in by bulk copy, not through ingestion: the window values the
            # usage rule fields read are built from them once.
            usage_features_rebuild(today=clock_today())
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
