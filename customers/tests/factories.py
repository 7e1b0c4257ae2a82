from datetime import date, timedelta
from decimal import Decimal

import factory
from django.contrib.auth.models import User

from customers.models import Account, Contract, ContractStatus


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "pw")


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
