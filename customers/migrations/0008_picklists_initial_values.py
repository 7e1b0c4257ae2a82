"""Seed the picklists with the vocabularies that lived in code until now (their keys become
the values, their labels are kept), so no account loses data: accounts keep storing the
same text. A value an account holds that is not among them (written before validation, or
by raw SQL) is added too, marked for review; one that differs from a value only in casing
takes the value's casing. The values are written out here, not read
from customers.models, so the migration stays what it was when it ran."""

from django.db import migrations

INITIAL_VALUES = {
    "industry": [
        ("software", "Software"),
        ("finance", "Financial services"),
        ("healthcare", "Healthcare"),
        ("retail", "Retail & e-commerce"),
        ("manufacturing", "Manufacturing"),
        ("education", "Education"),
        ("media", "Media"),
        ("logistics", "Logistics"),
        ("public_sector", "Public sector"),
        ("professional_services", "Professional services"),
    ],
    "region": [("NA", "North America"), ("EMEA", "EMEA"), ("APAC", "APAC"), ("LATAM", "LATAM")],
    "business_model": [("B2B", "B2B"), ("B2C", "B2C"), ("DTC", "DTC")],
    "plan": [
        ("free", "Free"),
        ("starter", "Starter"),
        ("pro", "Pro"),
        ("enterprise", "Enterprise"),
    ],
    "lifecycle_stage": [
        ("trial", "Trial"),
        ("onboarding", "Onboarding"),
        ("adopting", "Adopting"),
        ("mature", "Mature"),
        ("at_risk", "At risk"),
        ("churned", "Churned"),
    ],
}
ACCEPTS_NEW_VALUES = {"industry", "plan"}


def seed_picklists(apps, schema_editor):
    Picklist = apps.get_model("customers", "Picklist")
    PicklistValue = apps.get_model("customers", "PicklistValue")
    Account = apps.get_model("customers", "Account")
    for field, values in INITIAL_VALUES.items():
        picklist, _ = Picklist.objects.get_or_create(
            field=field, defaults={"accept_new_values": field in ACCEPTS_NEW_VALUES}
        )
        known = {v.lower() for v in picklist.values.values_list("value", flat=True)}
        rows = []
        for order, (value, label) in enumerate(values):
            if value.lower() not in known:
                known.add(value.lower())
                rows.append(PicklistValue(picklist=picklist, value=value, label=label, order=order))
        # One distinct-values query per field (set-based, whatever the number of accounts).
        held = list(
            Account.objects.exclude(**{f"{field}__isnull": True})
            .exclude(**{field: ""})
            .values_list(field, flat=True)
            .distinct()
            .order_by(field)
        )
        stored = {v.lower(): v for v in picklist.values.values_list("value", flat=True)}
        stored.update({row.value.lower(): row.value for row in rows})
        for value in held:
            canonical = stored.get(value.lower())
            if canonical is not None and canonical != value:
                # The same value in another casing: accounts take the stored casing.
                Account.objects.filter(**{field: value}).update(**{field: canonical})
                continue
            if value.lower() not in known:
                known.add(value.lower())
                stored[value.lower()] = value
                rows.append(
                    PicklistValue(
                        picklist=picklist,
                        value=value,
                        label=value,
                        order=len(values) + len(rows),
                        needs_review=True,
                    )
                )
        PicklistValue.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [("customers", "0007_picklists_products")]

    operations = [migrations.RunPython(seed_picklists, migrations.RunPython.noop)]
