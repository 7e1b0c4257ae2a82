from datetime import timedelta

import factory
from django.utils import timezone

from customers.tests.factories import AccountFactory
from playbooks.models import Playbook, PlaybookStep, PlaybookTrigger
from segments.models import Membership, MembershipEvent, MembershipEventKind, Segment


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    slug = factory.Sequence(lambda n: f"segment-{n}")


class MembershipEventFactory(factory.django.DjangoModelFactory):
    """An event row as the segment engine records it (tests create them directly)."""

    class Meta:
        model = MembershipEvent

    segment = factory.SubFactory(SegmentFactory)
    account = factory.SubFactory(AccountFactory)
    kind = MembershipEventKind.ENTERED
    at = factory.LazyFunction(timezone.now)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    segment = factory.SubFactory(SegmentFactory)
    account = factory.SubFactory(AccountFactory)
    entered_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))


class PlaybookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Playbook

    name = factory.Sequence(lambda n: f"Playbook {n}")
    segment = factory.SubFactory(SegmentFactory)
    trigger = PlaybookTrigger.ON_ENTER
    is_active = True
    activated_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=365))


class PlaybookStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlaybookStep

    playbook = factory.SubFactory(PlaybookFactory)
    order = factory.Sequence(lambda n: n + 1)
    kind = "create_task"
    config = factory.LazyFunction(
        lambda: {"title": "Welcome {{ account.name }}", "due_in_days": 3, "assignee": "owner"}
    )
