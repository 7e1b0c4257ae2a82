"""Writes of segments: segments and their versions, and the members of static segments.
The recompute of memberships is the engine's (``segments.engine``); a write that needs one
requests it (``engine.recompute_request``), and it runs as a task after commit.

A rule is validated once on its way from save to recompute: each service here validates
the definition it is given once (``definition_validate``), and publishing re-validates the
draft, because the declared custom attributes may have changed since it was written
(``segment_create`` with ``publish`` validates once for both). A recompute then parses the
published rule once per run against the attributes as they are then
(``engine.targets.VersionRules``) and compiles the parsed tree.
"""

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from cs_platform import clock
from customers.models import Account
from rules import AttributeSpec, RuleValidationError, validate_rank, validate_rule

from .engine import (
    attribute_specs,
    recompute_request,
    recompute_request_many,
    segment_lock,
)
from .engine.events import signal_events, store_totals
from .models import (
    ExclusiveGroup,
    Membership,
    MembershipEvent,
    MembershipEventKind,
    Segment,
    SegmentKind,
    SegmentVersion,
)

EDITABLE_SEGMENT_FIELDS = (
    "name",
    "slug",
    "description",
    "owner",
    "is_active",
    "review_every_days",
    "exclusive_group",
    "priority",
)
EDITABLE_VERSION_FIELDS = ("rule", "rank_by", "rank_limit", "note")


# --- validation ---------------------------------------------------------------------------------


def definition_validate(
    *,
    rule: Any,
    rank_by: str | None,
    rank_limit: Any,
    attributes: dict[str, AttributeSpec] | None = None,
) -> None:
    """Raise a ValidationError naming every problem of a version's definition: rule errors
    under ``"rule"`` as ``"<path>: <message>"`` (e.g. ``all[2].value: expected a number,
    got "abc"``), ranking errors under ``"rank_by"`` / ``"rank_limit"``."""
    attributes = attribute_specs() if attributes is None else attributes
    errors: dict[str, list[str]] = {}
    try:
        validate_rule(rule, attributes=attributes)
    except RuleValidationError as exc:
        errors["rule"] = [str(error) for error in exc.errors]
    try:
        validate_rank(rank_by or "", rank_limit, attributes)
    except RuleValidationError as exc:
        for error in exc.errors:
            errors.setdefault(error.path or "rank_by", []).append(error.message)
    if errors:
        raise ValidationError(errors)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:180] or "segment"
    slug, n = base, 2
    while Segment.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _segment_validate_group(segment: Segment) -> None:
    if segment.exclusive_group_id and segment.kind == SegmentKind.STATIC:
        raise ValidationError(
            {"exclusive_group": ["Only dynamic segments can belong to an exclusive group."]}
        )


# --- segments and versions -------------------------------------------------------------------


@transaction.atomic
def segment_create(
    *,
    name: str,
    kind: str = SegmentKind.DYNAMIC,
    rule: Any = None,
    rank_by: str = "",
    rank_limit: int | None = None,
    publish: bool = False,
    slug: str = "",
    description: str = "",
    owner: AbstractBaseUser | None = None,
    created_by: AbstractBaseUser | None = None,
    note: str = "",
    is_active: bool = True,
    review_every_days: int | None = None,
    exclusive_group: ExclusiveGroup | None = None,
    priority: int | None = None,
) -> Segment:
    """Create a segment with version 1 (``rule`` defaults to ``{"all": []}``); with
    ``publish`` the version becomes current and a recompute is queued after commit."""
    rule = {"all": []} if rule is None else rule
    definition_validate(rule=rule, rank_by=rank_by, rank_limit=rank_limit)
    segment = Segment(
        name=name,
        slug=slug or _unique_slug(name),
        description=description,
        owner=owner,
        kind=kind,
        is_active=is_active,
        exclusive_group=exclusive_group,
    )
    if review_every_days is not None:
        segment.review_every_days = review_every_days
    if priority is not None:
        segment.priority = priority
    segment.full_clean()
    _segment_validate_group(segment)
    segment.save()
    version = _draft_create(
        segment=segment,
        rule=rule,
        rank_by=rank_by,
        rank_limit=rank_limit,
        note=note,
        created_by=created_by,
    )
    if publish:
        # Validated above, in this transaction: nothing to check again before publishing.
        _publish(segment=segment_lock(segment.pk), version=version)
        segment.refresh_from_db()
    return segment


@transaction.atomic
def segment_update(*, segment: Segment, data: dict[str, Any]) -> Segment:
    """Change a segment's own fields (not its rule: that is a new version). ``kind`` cannot
    change. A change of activity, group or priority queues a recompute of the group."""
    if "kind" in data and data["kind"] != segment.kind:
        raise ValidationError({"kind": ["The kind of a segment cannot be changed."]})
    unknown = sorted(set(data) - set(EDITABLE_SEGMENT_FIELDS) - {"kind"})
    if unknown:
        raise ValidationError({name: ["This field cannot be changed here."] for name in unknown})
    regroup = any(
        name in data and data[name] != getattr(segment, name)
        for name in ("is_active", "exclusive_group", "priority")
    )
    old_group_id = segment.exclusive_group_id
    changed = [name for name in data if name in EDITABLE_SEGMENT_FIELDS]
    for name in changed:
        setattr(segment, name, data[name])
    segment.full_clean()
    _segment_validate_group(segment)
    if changed:
        segment.save(update_fields=[*changed, "updated_at"])
    if regroup:
        group_ids = {old_group_id, segment.exclusive_group_id} - {None}
        if group_ids:
            recompute_request_many(
                Segment.objects.filter(exclusive_group_id__in=group_ids).values_list(
                    "pk", flat=True
                )
            )
        else:
            segment_request_recompute(segment=segment)
    return segment


@transaction.atomic
def segment_mark_reviewed(*, segment: Segment, reviewed_on: date | None = None) -> Segment:
    segment.last_reviewed_at = reviewed_on or clock.today()
    segment.save(update_fields=["last_reviewed_at", "updated_at"])
    return segment


@transaction.atomic
def version_create_draft(
    *,
    segment: Segment,
    rule: Any,
    rank_by: str = "",
    rank_limit: int | None = None,
    note: str = "",
    created_by: AbstractBaseUser | None = None,
) -> SegmentVersion:
    """A new draft version numbered after the segment's last one."""
    definition_validate(rule=rule, rank_by=rank_by, rank_limit=rank_limit)
    return _draft_create(
        segment=segment,
        rule=rule,
        rank_by=rank_by,
        rank_limit=rank_limit,
        note=note,
        created_by=created_by,
    )


def _draft_create(
    *,
    segment: Segment,
    rule: Any,
    rank_by: str,
    rank_limit: int | None,
    note: str,
    created_by: AbstractBaseUser | None,
) -> SegmentVersion:
    """``version_create_draft`` for a definition the caller has validated."""
    segment_lock(segment.pk)
    last = SegmentVersion.objects.filter(segment=segment).order_by("-number").first()
    version = SegmentVersion(
        segment=segment,
        number=(last.number + 1) if last else 1,
        rule=rule,
        rank_by=rank_by or "",
        rank_limit=rank_limit,
        note=note,
        created_by=created_by,
    )
    version.full_clean()
    version.save()
    return version


def _refuse_published(version: SegmentVersion) -> None:
    if version.is_published:
        raise ValidationError(
            f"Version {version.number} is published and cannot be changed; "
            "create a new draft instead.",
            code="published_immutable",
        )


@transaction.atomic
def version_update_draft(*, version: SegmentVersion, data: dict[str, Any]) -> SegmentVersion:
    """Change a draft's rule, ranking or note; published versions are immutable."""
    version = SegmentVersion.objects.select_for_update().get(pk=version.pk)
    _refuse_published(version)
    unknown = sorted(set(data) - set(EDITABLE_VERSION_FIELDS))
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in unknown})
    for name, value in data.items():
        setattr(version, name, value)
    version.rank_by = version.rank_by or ""
    definition_validate(rule=version.rule, rank_by=version.rank_by, rank_limit=version.rank_limit)
    version.full_clean()
    version.save(update_fields=list(data) or None)
    return version


@transaction.atomic
def version_publish(*, version: SegmentVersion) -> SegmentVersion:
    """Publish a draft: it becomes immutable and the segment's current version, and a
    recompute for it is queued after commit (it exits if a newer one is published
    first)."""
    segment = segment_lock(version.segment_id)
    version = SegmentVersion.objects.select_for_update().get(pk=version.pk)
    _refuse_published(version)
    # The declared attributes may have changed since the draft was written.
    definition_validate(rule=version.rule, rank_by=version.rank_by, rank_limit=version.rank_limit)
    _publish(segment=segment, version=version)
    return version


def _publish(*, segment: Segment, version: SegmentVersion) -> None:
    """Make a validated draft the current version of its (locked) segment, and request
    the recomputes it causes."""
    version.published_at = timezone.now()
    version.save(update_fields=["published_at"])
    segment.current_version = version
    segment.save(update_fields=["current_version", "updated_at"])
    recompute_request(segment_id=segment.pk, version_id=version.pk)
    if segment.exclusive_group_id:
        # Lower-precedence segments of the group lose or gain the accounts this one claims.
        recompute_request_many(
            Segment.objects.filter(
                exclusive_group_id=segment.exclusive_group_id, priority__gt=segment.priority
            ).values_list("pk", flat=True)
        )


def segment_request_recompute(*, segment: Segment) -> None:
    """ "Recompute now": queue a full recompute of ``segment``'s current version after the
    current transaction commits."""
    recompute_request(segment_id=segment.pk, version_id=segment.current_version_id)


# --- static segments --------------------------------------------------------------------------


def _require_static(segment: Segment) -> None:
    if segment.kind != SegmentKind.STATIC:
        raise ValidationError(
            {"segment": ["Members can be added or removed by hand only in a static segment."]}
        )


def _static_events_record(
    segment: Segment, account_ids: list[int], kind: MembershipEventKind, now: datetime
) -> None:
    """The ``kind`` events of a change by hand to a static segment's members."""
    MembershipEvent.objects.bulk_create(
        MembershipEvent(
            segment=segment,
            account_id=account_id,
            kind=kind,
            at=now,
            version_id=segment.current_version_id,
        )
        for account_id in account_ids
    )


@transaction.atomic
def static_segment_members_add(*, segment: Segment, account_ids: Iterable[int]) -> int:
    """Add accounts to a static segment (recorded as ``entered`` events); accounts already
    members are skipped. Returns how many entered."""
    _require_static(segment)
    segment = segment_lock(segment.pk)
    ids = set(account_ids)
    known = set(Account.objects.filter(id__in=ids).values_list("id", flat=True))
    if ids - known:
        raise ValidationError({"account_ids": [f"Unknown account ids: {sorted(ids - known)[:20]}"]})
    present = set(
        Membership.objects.filter(segment=segment, account_id__in=ids).values_list(
            "account_id", flat=True
        )
    )
    new = sorted(ids - present)
    now = timezone.now()
    Membership.objects.bulk_create(
        Membership(
            segment=segment,
            account_id=account_id,
            entered_at=now,
            version_id=segment.current_version_id,
        )
        for account_id in new
    )
    _static_events_record(segment, new, MembershipEventKind.ENTERED, now)
    if new:
        store_totals(segment, now=now, snapshot=True)
        signal_events(segment.pk, now, len(new))
    return len(new)


@transaction.atomic
def static_segment_members_remove(*, segment: Segment, account_ids: Iterable[int]) -> int:
    """Remove accounts from a static segment (recorded as ``exited`` events). Returns how
    many exited."""
    _require_static(segment)
    segment = segment_lock(segment.pk)
    leaving = sorted(
        Membership.objects.filter(segment=segment, account_id__in=set(account_ids)).values_list(
            "account_id", flat=True
        )
    )
    if not leaving:
        return 0
    now = timezone.now()
    _static_events_record(segment, leaving, MembershipEventKind.EXITED, now)
    Membership.objects.filter(segment=segment, account_id__in=leaving).delete()
    store_totals(segment, now=now, snapshot=True)
    signal_events(segment.pk, now, len(leaving))
    return len(leaving)
