"""Reads of segments: lists, members (now and on a past date), events, preview of a draft
and explain. These own select_related. The target set of a version is the engine's
(``segments.engine.targets``); ``attribute_specs`` comes from there too."""

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from cs_platform import clock
from customers.models import Account
from rules import account_rule_values, explain_rule, rule_schema

from .engine.targets import (
    VersionRules,
    attribute_specs,
    is_ranked,
    segment_higher_precedence,
    segment_target_ids,
)
from .models import (
    Membership,
    MembershipEvent,
    MembershipEventKind,
    Segment,
    SegmentKind,
    SegmentVersion,
)

# The entering / exiting / sample lists of a preview hold at most this many accounts.
PREVIEW_LIST_LIMIT = 100
PREVIEW_SAMPLE_SIZE = 20


# --- segments, versions, members, events -----------------------------------------------------


def segment_list() -> QuerySet[Segment]:
    """Segments with what a list shows (counts and ARR are stored by each recompute)."""
    return Segment.objects.select_related("current_version", "exclusive_group", "owner")


def segment_get(*, segment_id: int) -> Segment:
    return segment_list().get(pk=segment_id)


def segment_versions(*, segment: Segment) -> QuerySet[SegmentVersion]:
    return SegmentVersion.objects.filter(segment=segment).select_related("created_by")


def segment_version_get(*, segment: Segment, number: int) -> SegmentVersion:
    return segment_versions(segment=segment).get(number=number)


def segment_members(*, segment: Segment) -> QuerySet[Account]:
    """Current members, each annotated with ``entered_at`` (one join, no N+1)."""
    entered = Membership.objects.filter(segment=segment, account=OuterRef("pk"))
    return (
        Account.objects.filter(Exists(entered))
        .annotate(entered_at=Subquery(entered.values("entered_at")[:1]))
        .select_related("owner")
        .order_by("name", "id")
    )


def _end_of_day(day: date) -> datetime:
    """The first instant after ``day`` in the configured time zone."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def segment_members_at(*, segment: Segment, day: date) -> QuerySet[Account]:
    """Accounts that were members of ``segment`` at the end of ``day`` (configured time
    zone), from the append-only events: an account is a member when its last event up to
    then (by time, then id) is ``entered``. One set-based query, annotated with
    ``entered_at`` (the time of that event)."""
    end = _end_of_day(day)
    events = MembershipEvent.objects.filter(segment=segment, at__lt=end)
    later = events.filter(account_id=OuterRef("account_id")).filter(
        Q(at__gt=OuterRef("at")) | Q(at=OuterRef("at"), id__gt=OuterRef("id"))
    )
    last_entered = events.filter(kind=MembershipEventKind.ENTERED).filter(~Exists(later))
    return (
        Account.objects.filter(id__in=last_entered.values("account_id"))
        .annotate(
            entered_at=Subquery(last_entered.filter(account_id=OuterRef("pk")).values("at")[:1])
        )
        .select_related("owner")
        .order_by("name", "id")
    )


def account_segments(*, account: Account) -> QuerySet[Segment]:
    """The segments ``account`` is currently a member of, with ``entered_at``."""
    membership = Membership.objects.filter(account=account, segment=OuterRef("pk"))
    return (
        segment_list()
        .filter(Exists(membership))
        .annotate(entered_at=Subquery(membership.values("entered_at")[:1]))
    )


def segment_events(
    *, segment: Segment, since: datetime | date | None = None
) -> QuerySet[MembershipEvent]:
    """Membership events, newest first; ``since`` (a date means its start) is inclusive."""
    events = MembershipEvent.objects.filter(segment=segment).select_related("account", "version")
    if since is not None:
        if not isinstance(since, datetime):
            since = timezone.make_aware(datetime.combine(since, time.min))
        events = events.filter(at__gte=since)
    return events.order_by("-at", "-id")


def account_events(*, account: Account) -> QuerySet[MembershipEvent]:
    """An account's membership history across segments, newest first."""
    return (
        MembershipEvent.objects.filter(account=account)
        .select_related("segment", "version")
        .order_by("-at", "-id")
    )


def segments_review_overdue(*, today: date | None = None) -> QuerySet[Segment]:
    """Active segments whose periodic review is overdue (never reviewed counts from their
    creation)."""
    today = today or clock.today()
    segments = segment_list().filter(is_active=True)
    overdue = [
        s.pk
        for s in segments.only("id", "last_reviewed_at", "created_at", "review_every_days")
        if segment_review_due_on(s) < today
    ]
    return segment_list().filter(pk__in=overdue)


def segment_review_due_on(segment: Segment) -> date:
    """The date the next review of ``segment`` is due."""
    last = segment.last_reviewed_at or timezone.localdate(segment.created_at)
    return last + timedelta(days=segment.review_every_days)


# --- preview and explain ------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    count: int
    arr: Decimal
    entering_count: int
    exiting_count: int
    sample: list[Account]
    entering: list[Account]
    exiting: list[Account]

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "arr": self.arr,
            "entering_count": self.entering_count,
            "exiting_count": self.exiting_count,
            "sample": self.sample,
            "entering": self.entering,
            "exiting": self.exiting,
        }


def version_preview(
    *,
    version: SegmentVersion,
    sample_size: int = PREVIEW_SAMPLE_SIZE,
    today: date | None = None,
) -> Preview:
    """What ``version`` would hold now, and the diff against the segment's stored (current)
    membership. Counts and ARR are computed in SQL; the three lists are limited to
    ``PREVIEW_LIST_LIMIT`` accounts (entering/exiting by name, the sample in rank order
    for a ranked version, else by name)."""
    segment = version.segment
    sample_size = max(0, min(sample_size, PREVIEW_LIST_LIMIT))
    rules = VersionRules(today=today or clock.today(), attributes=attribute_specs())
    target_ids = segment_target_ids(segment=segment, version=version, rules=rules)
    members = Account.objects.filter(id__in=target_ids)
    totals = members.aggregate(count=Count("id"), arr=Sum("arr"))
    current = Membership.objects.filter(segment=segment).values("account_id")
    entering = members.exclude(id__in=current)
    exiting = Account.objects.filter(id__in=current).exclude(id__in=target_ids)
    sample_order = rules.rank_order_by(version) if is_ranked(version) else ["name", "id"]
    listed = Account.objects.select_related("owner")
    return Preview(
        count=totals["count"] or 0,
        arr=totals["arr"] or Decimal("0"),
        entering_count=entering.count(),
        exiting_count=exiting.count(),
        sample=list(listed.filter(id__in=target_ids).order_by(*sample_order)[:sample_size]),
        entering=list(
            listed.filter(id__in=entering.values("id")).order_by("name", "id")[:PREVIEW_LIST_LIMIT]
        ),
        exiting=list(
            listed.filter(id__in=exiting.values("id")).order_by("name", "id")[:PREVIEW_LIST_LIMIT]
        ),
    )


def account_explain(
    *, account: Account, version: SegmentVersion, today: date | None = None
) -> dict[str, Any]:
    """Why ``account`` is (not) matched by ``version``: ``{"segment", "version", "account",
    "matched", "explanation", "member", ...}``.

    ``matched`` is the rule's result alone and ``explanation`` the rule tree with
    ``matched`` on every node and ``actual`` on the leaves (DESIGN 3, explain). Beyond the
    rule: ``member`` says whether the account is a stored member of the segment now;
    ``admitted`` whether the version would admit it now once ranking and the exclusive
    group apply (computed in SQL); ``ranking`` and ``exclusive_group`` are present when
    they apply and say which of them keeps a matched account out.
    """
    today = today or clock.today()
    segment = version.segment
    attributes = attribute_specs()
    rules = VersionRules(today=today, attributes=attributes)
    if account.owner_id and "owner" not in account._state.fields_cache:
        account = Account.objects.select_related("owner").get(pk=account.pk)
    explanation = explain_rule(
        version.rule,
        account_rule_values(account, attributes=attributes, today=today, rule=version.rule),
        today=today,
    )
    matched = bool(explanation["matched"])
    result: dict[str, Any] = {
        "segment": segment.pk,
        "version": version.number,
        "account": account.pk,
        "matched": matched,
        "explanation": explanation,
        "member": Membership.objects.filter(segment=segment, account=account).exists(),
    }
    if segment.kind == SegmentKind.STATIC:
        result["admitted"] = result["member"]
        result["note"] = "Static segment: members are picked by hand; the rule is not used."
        return result
    targets = segment_target_ids(segment=segment, version=version, rules=rules)
    admitted = Account.objects.filter(pk=account.pk, id__in=targets).exists()
    result["admitted"] = admitted
    claimed_by = None
    if matched and segment.exclusive_group_id:
        for higher in segment_higher_precedence(segment):
            higher_targets = segment_target_ids(
                segment=higher, version=higher.current_version, rules=rules
            )
            if Account.objects.filter(pk=account.pk, id__in=higher_targets).exists():
                claimed_by = {"id": higher.pk, "name": higher.name, "priority": higher.priority}
                break
        result["exclusive_group"] = {
            "group": segment.exclusive_group.name,
            "priority": segment.priority,
            "claimed_by": claimed_by,
        }
    if is_ranked(version):
        result["ranking"] = {
            "rank_by": version.rank_by,
            "rank_limit": version.rank_limit,
            "in_top": admitted,
            "excluded_by_rank": matched and claimed_by is None and not admitted,
        }
    return result


def accounts_by_ids(ids: Iterable[int]) -> QuerySet[Account]:
    return Account.objects.filter(id__in=list(ids)).select_related("owner")


def segment_member_count(*, segment: Segment) -> dict[str, Any]:
    """Count and total ARR of the stored membership (one aggregate query)."""
    totals = Membership.objects.filter(segment=segment).aggregate(
        count=Count("id"), arr=Sum("account__arr")
    )
    return {"count": totals["count"] or 0, "arr": totals["arr"] or Decimal("0")}


def _rule_compares(rule: Any, field: str, value: str) -> bool:
    """Whether a rule has a leaf on ``field`` whose value (or one of whose list values) is
    ``value``."""
    if not isinstance(rule, dict):
        return False
    if rule.get("field") == field:
        operand = rule.get("value")
        return operand == value or (isinstance(operand, list) and value in operand)
    children = [
        child for key in ("all", "any") if isinstance(rule.get(key), list) for child in rule[key]
    ]
    if "not" in rule:
        children.append(rule["not"])
    return any(_rule_compares(child, field, value) for child in children)


def segments_using_value(*, field: str, value: str) -> list[str]:
    """The names of the segments whose published current rule compares ``field`` with
    ``value`` (a picklist value about to be merged away, renamed or deleted). Rules are
    few and small; they are read in one query."""
    versions = SegmentVersion.objects.filter(
        published_at__isnull=False, pk__in=Segment.objects.values("current_version")
    ).values_list("segment__name", "rule")
    return sorted({name for name, rule in versions if _rule_compares(rule, field, value)})


# --- the rule builder ---------------------------------------------------------------------

# How the builder groups the fields in its menu; a field under none of these names goes by
# its namespace (RULE_FIELD_NAMESPACES), else under "Other".
RULE_FIELD_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Revenue and contracts",
        (
            "arr",
            "mrr",
            "renewal_date",
            "products",
            "product_count",
            "cost_to_serve",
            "acquisition_cost",
        ),
    ),
    ("Company", ("name", "domain", "industry", "region", "country", "employees", "business_model")),
    (
        "Lifecycle and ownership",
        (
            "plan",
            "lifecycle_stage",
            "customer_since",
            "churned_on",
            "has_champion",
            "referenceable",
            "csm",
        ),
    ),
    (
        "Adoption and support",
        (
            "health_score",
            "active_users",
            "licensed_seats",
            "seat_utilization",
            "last_seen_at",
            "open_tickets",
        ),
    ),
)
RULE_FIELD_NAMESPACES = (
    ("usage.", "Product usage"),
    ("health.", "Health score"),
    ("traits.", "Custom attributes"),
)


def rule_editor_schema() -> dict[str, Any]:
    """What the rule builder (static/admin/segments/rule_editor.js, in the admin and in
    the app) offers: the rule engine's schema (fields with labels and types, operators in
    words, choices from the picklists and the product catalogue, rankable fields) plus
    ``groups``, the fields in the order and groups of the builder's menu."""
    schema = rule_schema(attribute_specs(), on_demand=True)
    named = {name: label for label, names in RULE_FIELD_GROUPS for name in names}
    groups: dict[str, list[str]] = {label: [] for label, _names in RULE_FIELD_GROUPS}
    for name in schema["fields"]:
        label = named.get(name) or next(
            (group for prefix, group in RULE_FIELD_NAMESPACES if name.startswith(prefix)), "Other"
        )
        groups.setdefault(label, []).append(name)
    order = {name: n for _label, names in RULE_FIELD_GROUPS for n, name in enumerate(names)}
    schema["groups"] = [
        [label, sorted(names, key=lambda n: (order.get(n, 99), schema["fields"][n]["label"]))]
        for label, names in groups.items()
        if names
    ]
    return schema


@dataclass(frozen=True)
class DefinitionTotals:
    count: int
    arr: Decimal
    entering_count: int | None
    exiting_count: int | None
    # The largest (by ARR) of the accounts that would enter and exit, at most
    # ``DEFINITION_SAMPLE`` each: ``{"id", "name", "arr"}``.
    entering: list[dict] = dataclasses.field(default_factory=list)
    exiting: list[dict] = dataclasses.field(default_factory=list)


# Accounts listed per side (entering, exiting) by the builder's live preview.
DEFINITION_SAMPLE = 10


def definition_totals(
    *,
    rule: Any,
    rank_by: str = "",
    rank_limit: int | None = None,
    segment: Segment | None = None,
    exclusive_group_id: int | None = None,
    priority: int | None = None,
    today: date | None = None,
) -> DefinitionTotals:
    """How many accounts a definition (a validated rule and ranking, not saved) would hold
    now and their ARR, with the exclusive group's precedence applied (``segment``'s, or
    ``exclusive_group_id`` and ``priority`` for a segment not created yet); for an existing
    segment also how many would enter and exit. Two or three aggregate statements."""
    subject = segment or Segment(
        exclusive_group_id=exclusive_group_id, priority=priority or 100, kind=SegmentKind.DYNAMIC
    )
    version = SegmentVersion(
        segment=subject, rule=rule, rank_by=rank_by or "", rank_limit=rank_limit
    )
    rules = VersionRules(today=today or clock.today(), attributes=attribute_specs())
    target_ids = segment_target_ids(segment=subject, version=version, rules=rules)
    totals = Account.objects.filter(id__in=target_ids).aggregate(count=Count("id"), arr=Sum("arr"))
    moves: dict[str, Any] = {"entering_count": None, "exiting_count": None}
    if segment is not None and segment.pk:
        current = Membership.objects.filter(segment=segment).values("account_id")
        entering = Account.objects.filter(id__in=target_ids).exclude(id__in=current)
        exiting = Account.objects.filter(id__in=current).exclude(id__in=target_ids)
        moves["entering_count"] = entering.count()
        moves["exiting_count"] = exiting.count()
        moves["entering"] = _largest(entering) if moves["entering_count"] else []
        moves["exiting"] = _largest(exiting) if moves["exiting_count"] else []
    return DefinitionTotals(
        count=totals["count"] or 0,
        arr=Decimal(totals["arr"] or 0).quantize(Decimal("0.01")),
        **moves,
    )


def _largest(accounts: QuerySet) -> list[dict]:
    return list(
        accounts.order_by(F("arr").desc(nulls_last=True), "name", "id").values("id", "name", "arr")[
            :DEFINITION_SAMPLE
        ]
    )
