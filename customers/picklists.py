"""Writes to the picklists (DESIGN 10): add a value, change one, merge one into another,
delete one. Every write that changes what accounts hold rewrites them set-based and marks
them changed, so the segments re-evaluate them; a value still used by a published current
rule is neither merged away, renamed nor deleted (``picklist_value_removing`` asks the
apps that keep rules)."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from cs_platform import reference
from cs_platform.db import dialect, load_sql, table_name

from .models import (
    Account,
    BusinessModel,
    Industry,
    LifecycleStage,
    PendingEvaluation,
    Picklist,
    PicklistValue,
    Plan,
    Region,
)
from .selectors import PICKLIST_VALUES_KEY
from .services import accounts_mark_changed_matching, accounts_marks_announce
from .signals import picklist_value_removing

# The initial values of each picklist, and which picklists accept new values by default.
INITIAL_VOCABULARIES = {
    "industry": Industry,
    "region": Region,
    "business_model": BusinessModel,
    "plan": Plan,
    "lifecycle_stage": LifecycleStage,
}
ACCEPTS_NEW_VALUES_BY_DEFAULT = ("industry", "plan")
PICKLIST_VALUE_EDITABLE_FIELDS = ("value", "label", "order", "is_active", "needs_review")


def picklist_choices(field: str) -> tuple[str, ...]:
    """Every value of a picklist (active or not) in its order: what rules may compare."""
    return tuple(
        PicklistValue.objects.filter(picklist__field=field)
        .order_by("order", "value")
        .values_list("value", flat=True)
    )


def picklist_value_find(*, picklist: Picklist, value: str) -> PicklistValue | None:
    """The value of ``picklist`` equal to ``value`` case-insensitively, if any."""
    return picklist.values.filter(value__iexact=value).first()


def picklist_value_users(field: str, value: str) -> list[str]:
    """The names of the segments whose published current rule uses ``value`` of ``field``
    (asked of the apps that keep rules through ``picklist_value_removing``)."""
    return sorted(
        {
            name
            for _receiver, names in picklist_value_removing.send(
                sender=PicklistValue, field=field, value=value
            )
            for name in names or ()
        }
    )


def _refuse_if_used(field: str, value: str, action: str) -> None:
    users = picklist_value_users(field, value)
    if users:
        raise ValidationError(
            {
                "value": [
                    f"Cannot {action} {value!r} of {field}: the published rules of these "
                    f"segments use it: {', '.join(users)}."
                ]
            }
        )


def _accounts_rewrite(field: str, old: str, new: str) -> int:
    """Every account holding ``old`` in ``field`` gets ``new`` and is marked changed,
    set-based. Where the database has data-modifying WITH, one statement (the UPDATE's
    RETURNING feeds the marks: the holders are found once); else one INSERT ... SELECT of
    the marks, then one UPDATE."""
    if not dialect().data_modifying_ctes:
        holders = Account.objects.filter(**{field: old})
        if not accounts_mark_changed_matching(accounts=holders):
            return 0
        return holders.update(**{field: new, "updated_at": timezone.now()})
    statement = load_sql(
        "customers",
        "accounts_value_rewrite_marking",
        account=table_name(Account),
        column=connection.ops.quote_name(Account._meta.get_field(field).column),
        pending_evaluation=table_name(PendingEvaluation),
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(statement, [new, now, old, now])
        rewritten = cursor.rowcount
    if rewritten:
        accounts_marks_announce(account_ids=None)
    return rewritten


@transaction.atomic
def picklist_value_add(*, picklist: Picklist, **data: Any) -> PicklistValue:
    """Add a value; a value already present in another casing is a 400."""
    unknown = sorted(set(data) - set(PICKLIST_VALUE_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({name: ["Unknown or read-only field."] for name in unknown})
    if picklist_value_find(picklist=picklist, value=str(data.get("value", ""))) is not None:
        raise ValidationError(
            {
                "value": [
                    f"The {picklist.field} picklist already has {data['value']!r} (in any casing)."
                ]
            }
        )
    item = PicklistValue(picklist=picklist, **data)
    if "order" not in data:
        item.order = picklist.values.count()
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def picklist_value_update(*, item: PicklistValue, data: dict[str, Any]) -> PicklistValue:
    """Change a value's label, order, active flag or review flag; a new ``value`` text
    renames it and rewrites the accounts that hold it (refused while a published rule
    uses the old text)."""
    unknown = sorted(set(data) - set(PICKLIST_VALUE_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({name: ["Unknown or read-only field."] for name in unknown})
    item = PicklistValue.objects.select_for_update().select_related("picklist").get(pk=item.pk)
    old_value = item.value
    for name, value in data.items():
        setattr(item, name, value)
    item.full_clean()
    renamed = item.value != old_value
    if renamed and item.picklist.values.filter(value__iexact=item.value).exclude(pk=item.pk):
        raise ValidationError(
            {
                "value": [
                    f"The {item.picklist.field} picklist already has {item.value!r}; merge instead."
                ]
            }
        )
    if renamed:
        _refuse_if_used(item.picklist.field, old_value, "rename")
    if data:
        item.save(update_fields=list(data))
    if renamed:
        _accounts_rewrite(item.picklist.field, old_value, item.value)
    return item


@transaction.atomic
def picklist_values_merge(*, picklist: Picklist, from_value: str, into_value: str) -> int:
    """Merge ``from_value`` into ``into_value`` (both matched case-insensitively): every
    account holding the first gets the second, and the first is deleted. Returns how many
    accounts were rewritten; the segments re-evaluate them (they are marked changed)."""
    picklist = Picklist.objects.select_for_update().get(pk=picklist.pk)
    source = picklist_value_find(picklist=picklist, value=from_value)
    target = picklist_value_find(picklist=picklist, value=into_value)
    errors = {}
    if source is None:
        errors["from"] = [f"{from_value!r} is not a value of the {picklist.field} picklist."]
    if target is None:
        errors["into"] = [f"{into_value!r} is not a value of the {picklist.field} picklist."]
    if not errors and source.pk == target.pk:
        errors["into"] = ["A value cannot be merged into itself."]
    if errors:
        raise ValidationError(errors)
    try:
        _refuse_if_used(picklist.field, source.value, "merge away")
    except ValidationError as exc:
        raise ValidationError({"from": exc.message_dict["value"]}) from None
    rewritten = _accounts_rewrite(picklist.field, source.value, target.value)
    source.delete()
    return rewritten


@transaction.atomic
def picklist_value_delete(*, item: PicklistValue) -> None:
    """Delete a value no account holds and no published rule uses."""
    field = item.picklist.field
    _refuse_if_used(field, item.value, "delete")
    held = Account.objects.filter(**{field: item.value}).count()
    if held:
        raise ValidationError(
            {
                "value": [
                    f"Cannot delete {item.value!r} of {field}: {held} accounts hold it; "
                    "merge it into another value instead."
                ]
            }
        )
    item.delete()


def picklists_ensure(**kwargs: Any) -> None:
    """Create each missing picklist with its initial values (the built-in vocabularies);
    an existing picklist is left as it is. Run after migrate (and after a test flush)."""
    for field, vocabulary in INITIAL_VOCABULARIES.items():
        picklist, created = Picklist.objects.get_or_create(
            field=field, defaults={"accept_new_values": field in ACCEPTS_NEW_VALUES_BY_DEFAULT}
        )
        if created:
            PicklistValue.objects.bulk_create(
                PicklistValue(picklist=picklist, value=value, label=label, order=order)
                for order, (value, label) in enumerate(vocabulary.choices)
            )
            reference.forget(PICKLIST_VALUES_KEY)
