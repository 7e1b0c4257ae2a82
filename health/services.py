"""Writes of the health app: scorecards (live definition and draft) and manual scores.

Every change to what scores accounts sends ``signals.recompute_requested`` inside its
transaction (the receiver queues the recompute of every account on commit). A manual
score marks its account for the changed-accounts sweep, which rescores it (and then its
segments) within seconds: the same path as any other account change.
"""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cs_platform import clock
from cs_platform.roles import can_work_account
from customers.models import Account
from customers.services import accounts_mark_changed

from .definitions import ScorecardSpec, definition_validate, spec_from_draft
from .models import AccountHealth, ManualEntry, Measure, MeasureSource, Scorecard, ScorecardVersion
from .signals import recompute_requested


def _measures_apply(scorecard: Scorecard, spec: ScorecardSpec) -> None:
    """Make the scorecard's measures those of ``spec``, matched by key: a kept key keeps
    its row (and so a manual measure keeps its entries), new keys are added, the others
    deleted."""
    existing = {m.key: m for m in scorecard.measures.all()}
    wanted = {m.key for m in spec.measures}
    gone = [m.pk for key, m in existing.items() if key not in wanted]
    if gone:
        Measure.objects.filter(pk__in=gone).delete()
    for order, measure in enumerate(spec.measures):
        row = existing.get(measure.key) or Measure(scorecard=scorecard, key=measure.key)
        row.label = measure.label
        row.weight = measure.weight
        row.source = measure.source
        row.field = measure.field if measure.source == MeasureSource.FIELD else ""
        row.bad = measure.bad if measure.source == MeasureSource.FIELD else None
        row.good = measure.good if measure.source == MeasureSource.FIELD else None
        row.rule = measure.rule if measure.source == MeasureSource.CONDITION else None
        row.valid_days = measure.valid_days
        row.order = order
        row.full_clean(exclude=["scorecard"])
        row.save()


def _version_publish(scorecard: Scorecard, spec: ScorecardSpec) -> None:
    """A new ``ScorecardVersion`` when the scoring definition (thresholds, measures,
    weights) differs from the current version's, made current; nothing otherwise (a
    change of name, segment or priority keeps the version)."""
    definition = spec.scoring_definition()
    current = (
        ScorecardVersion.objects.filter(pk=scorecard.current_version_id).first()
        if scorecard.current_version_id
        else None
    )
    if current is not None and current.definition == definition:
        if current.name != scorecard.name:
            # The name is shown with the scores it produced; it is not part of the scoring.
            current.name = scorecard.name
            current.save(update_fields=["name"])
        return
    last = scorecard.versions.order_by("-number").values_list("number", flat=True).first()
    version = ScorecardVersion.objects.create(
        scorecard=scorecard,
        number=(last or 0) + 1,
        name=scorecard.name,
        definition=definition,
        created_at=timezone.now(),
    )
    scorecard.current_version = version
    scorecard.save(update_fields=["current_version"])


def _scorecard_apply(scorecard: Scorecard, spec: ScorecardSpec) -> Scorecard:
    scorecard.name = spec.name
    scorecard.segment_id = spec.segment_id
    scorecard.priority = spec.priority
    scorecard.red_below = spec.red_below
    scorecard.green_from = spec.green_from
    if scorecard.pk is None:
        scorecard.save()
    else:
        fields = ["name", "segment", "priority", "red_below", "green_from", "draft"]
        scorecard.save(update_fields=[*fields, "draft_updated_at", "updated_at"])
    _measures_apply(scorecard, spec)
    _version_publish(scorecard, spec)
    recompute_requested.send(sender=Scorecard, scorecard_id=scorecard.pk)
    return scorecard


@transaction.atomic
def scorecard_create(*, data: Any) -> Scorecard:
    """Create a scorecard from the API's shape (DESIGN 12); it takes effect at once (every
    account is rescored after commit). Raises ValidationError naming each bad field."""
    spec = definition_validate(data)
    return _scorecard_apply(Scorecard(), spec)


@transaction.atomic
def scorecard_update(*, scorecard: Scorecard, data: Any, partial: bool = False) -> Scorecard:
    """Change a scorecard's live definition (``partial``: keys not given are kept). The
    measures are replaced by the given list, matched by key."""
    scorecard = Scorecard.objects.select_for_update().get(pk=scorecard.pk)
    spec = definition_validate(data, scorecard=scorecard, partial=partial)
    return _scorecard_apply(scorecard, spec)


@transaction.atomic
def scorecard_delete(*, scorecard: Scorecard) -> None:
    """Delete a scorecard with its measures and manual entries; its accounts are rescored
    by the next scorecard that takes them (or become unscored). History keeps its id."""
    scorecard_id = scorecard.pk
    scorecard.delete()
    recompute_requested.send(sender=Scorecard, scorecard_id=scorecard_id)


@transaction.atomic
def scorecard_draft_save(*, scorecard: Scorecard, data: Any, partial: bool = False) -> Scorecard:
    """Store a draft of the scorecard's definition (validated, the API's shape); nothing
    is rescored until it is published. ``partial``: keys not given are taken from the
    current draft, or from the live definition when there is none."""
    scorecard = Scorecard.objects.select_for_update().get(pk=scorecard.pk)
    if partial and scorecard.draft is not None and isinstance(data, dict):
        data = {**scorecard.draft, **data}
    spec = definition_validate(data, scorecard=scorecard, partial=partial)
    scorecard.draft = spec.as_payload()
    scorecard.draft_updated_at = timezone.now()
    scorecard.save(update_fields=["draft", "draft_updated_at", "updated_at"])
    return scorecard


@transaction.atomic
def scorecard_draft_discard(*, scorecard: Scorecard) -> Scorecard:
    scorecard.draft = None
    scorecard.draft_updated_at = None
    scorecard.save(update_fields=["draft", "draft_updated_at", "updated_at"])
    return scorecard


@transaction.atomic
def scorecard_draft_publish(*, scorecard: Scorecard) -> Scorecard:
    """Make the draft the live definition (re-validated now) and rescore every account."""
    scorecard = Scorecard.objects.select_for_update().get(pk=scorecard.pk)
    spec = spec_from_draft(scorecard)
    if spec is None:
        raise ValidationError({"draft": ["This scorecard has no draft to publish."]})
    scorecard.draft = None
    scorecard.draft_updated_at = None
    return _scorecard_apply(scorecard, spec)


def health_recompute_request() -> None:
    """ "Recompute now": queue the recompute of every account (after commit)."""
    recompute_requested.send(sender=Scorecard, scorecard_id=None)


def _manual_measure(account: Account, measure: Any) -> Measure:
    """The manual measure named by id or key; a key is looked up first in the scorecard
    that scores the account now, then among all manual measures (if only one has it)."""
    manual = Measure.objects.filter(source=MeasureSource.MANUAL).select_related("scorecard")
    if isinstance(measure, int) and not isinstance(measure, bool):
        found = manual.filter(pk=measure).first()
    elif isinstance(measure, str) and measure:
        current = AccountHealth.objects.filter(account=account).values("scorecard_id").first()
        found = None
        if current and current["scorecard_id"]:
            found = manual.filter(key=measure, scorecard_id=current["scorecard_id"]).first()
        if found is None:
            candidates = list(manual.filter(key=measure)[:2])
            found = candidates[0] if len(candidates) == 1 else None
    else:
        raise ValidationError({"measure": ["expected a manual measure's key or id"]})
    if found is None:
        raise ValidationError({"measure": [f"no manual measure {measure!r} for this account"]})
    return found


def manual_entry_check_account(*, account: Account, by: AbstractBaseUser) -> None:
    """A ValidationError naming ``account`` (and the account) unless ``by`` may enter
    scores for it: a CSM for the accounts of their own book, a manager for any."""
    if not can_work_account(by, account):
        raise ValidationError(
            {
                "account": [
                    f"{account.name}: you may enter health scores only for accounts in "
                    "your own book."
                ]
            }
        )


@transaction.atomic
def manual_entry_create(
    *, account: Account, measure: Any, score: Any, comment: str = "", by: AbstractBaseUser
) -> ManualEntry:
    """A CSM's score (0–100) for a manual measure of one of their own accounts (managers:
    any account; another CSM's account is a ValidationError naming ``account``). It counts
    for the measure's ``valid_days`` from today; the account is marked for the
    changed-accounts sweep, which rescores it."""
    manual_entry_check_account(account=account, by=by)
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
        raise ValidationError({"score": [f"expected a whole number from 0 to 100, got {score!r}"]})
    if not isinstance(comment, str) or len(comment) > 2000:
        raise ValidationError({"comment": ["expected a text of at most 2000 characters"]})
    found = _manual_measure(account, measure)
    entry = ManualEntry(
        account=account,
        measure=found,
        score=score,
        comment=comment,
        entered_by=by if by.is_authenticated else None,
        entered_at=timezone.now(),
        entered_on=clock.today(),
    )
    entry.full_clean()
    entry.save()
    accounts_mark_changed(account_ids=[account.pk])
    return entry
