"""factory_boy factories for the customer domain.

They write rows directly (fast, for building a given state); tests of derived columns go
through customers.services, or call ``accounts_rederive`` after building.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import factory
from django.contrib.auth.models import Group, User

from cs_platform.roles import CSMS
from customers.models import (
    Account,
    AssignmentRole,
    AttributeDefinition,
    Contract,
    ContractStatus,
    CSMAssignment,
    Note,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def saved(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.save(update_fields=["password"])


class CSMFactory(UserFactory):
    """A user in the CSMs group."""

    class Meta:
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"csm-user{n}")

    @factory.post_generation
    def in_group(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.groups.add(Group.objects.get(name=CSMS))


class AccountFactory(factory.django.DjangoModelFactory):
    """An account row as written directly; use customers.services for derived columns."""

    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n:05d}")
    external_id = factory.Sequence(lambda n: f"ext-{n:06d}")
    domain = factory.LazyAttribute(lambda a: f"{a.external_id}.example.com")
    plan = "pro"
    region = "NA"
    industry = "software"


class ContractFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contract

    account = factory.SubFactory(AccountFactory)
    start_date = date(2026, 1, 1)
    end_date = factory.LazyAttribute(lambda c: c.start_date + timedelta(days=364))
    arr = Decimal("12000.00")
    status = ContractStatus.ACTIVE


class CSMAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CSMAssignment

    account = factory.SubFactory(AccountFactory)
    user = factory.SubFactory(CSMFactory)
    role = AssignmentRole.OWNER
    started_at = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    ended_at = None


class AttributeDefinitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AttributeDefinition
        django_get_or_create = ("key",)

    key = factory.Sequence(lambda n: f"attr_{n}")
    label = factory.LazyAttribute(lambda d: d.key.replace("_", " ").capitalize())
    type = "integer"


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note

    account = factory.SubFactory(AccountFactory)
    author = factory.SubFactory(CSMFactory)
    body = "Kick-off call went well."
    happened_at = datetime(2026, 11, 1, 15, 0, tzinfo=UTC)
