from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from customers.models import MONEY, Account


class SegmentKind(models.TextChoices):
    DYNAMIC = "dynamic", "Dynamic (rule-based)"
    STATIC = "static", "Static (hand-picked)"


class ExclusiveGroup(models.Model):
    """Segments in one group are mutually exclusive: an account belongs to at most one of
    them, the matching segment with the lowest priority number."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Segment(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_segments",
    )
    is_active = models.BooleanField(default=True)
    kind = models.CharField(max_length=10, choices=SegmentKind.choices, default=SegmentKind.DYNAMIC)
    review_every_days = models.PositiveIntegerField(default=90)
    last_reviewed_at = models.DateField(null=True, blank=True)
    exclusive_group = models.ForeignKey(
        ExclusiveGroup, on_delete=models.PROTECT, null=True, blank=True, related_name="segments"
    )
    priority = models.PositiveIntegerField(
        default=100, help_text="Within an exclusive group, the lowest number wins."
    )
    current_version = models.ForeignKey(
        "SegmentVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    # Written by each recompute (the latest snapshot), so lists need no aggregation.
    member_count = models.PositiveIntegerField(default=0, editable=False)
    arr = models.DecimalField(**MONEY, default=Decimal("0"), editable=False)
    last_computed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["exclusive_group", "priority"],
                condition=Q(exclusive_group__isnull=False),
                name="segment_unique_priority_in_group",
                violation_error_message="Another segment of this group has this priority.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class SegmentVersion(models.Model):
    """One definition of a segment. A draft until published; a published version is
    immutable (enforced by segments.services and the admin)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    rule = models.JSONField(default=dict)
    rank_by = models.CharField(max_length=100, blank=True, default="")
    rank_limit = models.PositiveIntegerField(null=True, blank=True)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["segment", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["segment", "number"], name="version_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.segment} v{self.number}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


# Membership and its history are written in bulk by every recompute (a full recompute of
# 100 segments over a million accounts writes about ten million rows of each), so their
# foreign keys are not database constraints: each one cost a per-row check at commit, and
# without them a full recompute of 100 segments over 100k accounts took 14.6 s instead of
# 41.9 s (bench/recompute.py; the hand-written lower bound went from 37.2 s to 13.6 s).
# Django still cascades the deletion of an account or a segment to them, and every path
# that deletes one goes through the ORM. A row left behind by a raw-SQL delete is harmless:
# a stored member that matches nothing leaves at the next full recompute, and history rows
# are only read joined with their account. Nothing reads rows by ``version``, which the
# product never deletes once rows point to it (published versions are immutable and
# segments are deactivated, not deleted), so it has neither an index nor an ON DELETE.
_DERIVED_FK = {"db_index": False, "db_constraint": False}
_VERSION_FK = {
    "on_delete": models.DO_NOTHING,
    "null": True,
    "blank": True,
    "related_name": "+",
    **_DERIVED_FK,
}


class Membership(models.Model):
    # (segment, account) is covered by the unique constraint and (account, segment) by the
    # index below; every index costs each recompute's bulk INSERT.
    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="memberships", **_DERIVED_FK
    )
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="memberships", **_DERIVED_FK
    )
    entered_at = models.DateTimeField()
    version = models.ForeignKey(SegmentVersion, **_VERSION_FK)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "account"], name="membership_unique")
        ]
        # An account's memberships from the index alone (index-only scans): the sweep looks
        # up those of every changed account.
        indexes = [models.Index(fields=["account", "segment"], name="membership_account_segment")]

    def __str__(self) -> str:
        return f"{self.account_id} in {self.segment_id}"


class MembershipEventKind(models.TextChoices):
    ENTERED = "entered", "Entered"
    EXITED = "exited", "Exited"


class MembershipEvent(models.Model):
    """Append-only history of membership: never updated, never deleted by the product."""

    # FK columns are covered by the composite indexes below (same leading column); none
    # is a database constraint (see _DERIVED_FK).
    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="events", **_DERIVED_FK
    )
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="segment_events", **_DERIVED_FK
    )
    kind = models.CharField(max_length=10, choices=MembershipEventKind.choices)
    at = models.DateTimeField()
    version = models.ForeignKey(SegmentVersion, **_VERSION_FK)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["segment", "at"]),
            models.Index(fields=["account", "at"]),
            # "Members on date D": the last event per (segment, account) before the end of D.
            # Read backwards, it yields each pair's last event first (ties in ``at`` go to
            # the higher id); ``kind`` is included so that the analytics read it from the
            # index alone (an index-only scan) instead of visiting every event row.
            models.Index(
                fields=["segment", "account", "at", "id"],
                name="event_member_history",
                include=["kind"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.kind} {self.segment_id} at {self.at}"


class SegmentSnapshot(models.Model):
    """Size and ARR of a segment after a recompute, for growth charts."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="snapshots")
    computed_at = models.DateTimeField()
    member_count = models.PositiveIntegerField()
    arr = models.DecimalField(**MONEY)
    version = models.ForeignKey(
        SegmentVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-computed_at", "-id"]
        indexes = [models.Index(fields=["segment", "computed_at"])]

    def __str__(self) -> str:
        return f"{self.segment_id} at {self.computed_at}: {self.member_count}"


class RecomputeRun(models.Model):
    """One recompute of every segment, spread over account-id ranges (``RecomputeRange``)
    that workers run in any order, each in its own short transaction; the last range to
    finish queues the run's end (totals and snapshots, ``finished_at``).

    ``guards`` holds, per segment the run recomputes together, what its target set
    depends on besides account data (its current version, activity, exclusive group and
    the versions of the segments that win over it), as read when the run started: a
    range writes a segment only while its guard is unchanged (a publish meanwhile queues
    its own recompute)."""

    created_at = models.DateTimeField()
    today = models.DateField()
    guards = models.JSONField(default=dict)
    # Ranked and static segments, recomputed one by one (their own tasks).
    one_by_one = models.JSONField(default=list)
    ranges_left = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"recompute of every segment {self.pk} at {self.created_at}"


class RecomputeRange(models.Model):
    """The accounts with ``low <= id < high`` (None: unbounded) of one ``RecomputeRun``.
    ``totals`` is, once done, per segment written ``[members, ARR in cents, entered,
    exited]`` of the range; segments skipped by the version guard are absent."""

    run = models.ForeignKey(RecomputeRun, on_delete=models.CASCADE, related_name="ranges")
    number = models.PositiveIntegerField()
    low = models.BigIntegerField(null=True, blank=True)
    high = models.BigIntegerField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    totals = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="recompute_range_unique")
        ]

    def __str__(self) -> str:
        return f"range {self.number} [{self.low}, {self.high}) of run {self.run_id}"
