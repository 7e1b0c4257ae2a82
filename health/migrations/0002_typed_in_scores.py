"""``Account.health_score`` becomes the computed score. So that no typed-in value is lost,
a site that has any gets a default scorecard ("Typed-in health score (migrated)") with one
manual measure, ``csm_health``, and every typed-in value becomes an entry of it, dated
today, valid 365 days: the first run computes the same score for those accounts. Managers
then add measures to it (or replace it) in the admin. A site without typed-in scores gets
nothing (no scorecard: nothing is computed)."""

from decimal import Decimal

from django.db import migrations
from django.utils import timezone

from cs_platform import clock

SCORECARD_NAME = "Typed-in health score (migrated)"
MEASURE_KEY = "csm_health"
VALID_DAYS = 365


def typed_in_scores_to_entries(apps, schema_editor):
    Account = apps.get_model("customers", "Account")
    Scorecard = apps.get_model("health", "Scorecard")
    Measure = apps.get_model("health", "Measure")
    ManualEntry = apps.get_model("health", "ManualEntry")
    if not Account.objects.filter(health_score__isnull=False).exists():
        return
    scorecard = Scorecard.objects.filter(segment__isnull=True).first()
    if scorecard is None:
        scorecard = Scorecard.objects.create(name=SCORECARD_NAME, priority=1000)
    measure, _ = Measure.objects.get_or_create(
        scorecard=scorecard,
        key=MEASURE_KEY,
        defaults={
            "label": "Health score typed in before computed scores",
            "weight": Decimal("1.00"),
            "source": "manual",
            "valid_days": VALID_DAYS,
        },
    )
    quote = schema_editor.connection.ops.quote_name
    entries, accounts = quote(ManualEntry._meta.db_table), quote(Account._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {entries} (account_id, measure_id, score, comment, entered_by_id, "
            f"entered_at, entered_on) SELECT id, %s, health_score, %s, NULL, %s, %s "
            f"FROM {accounts} WHERE health_score IS NOT NULL",
            [
                measure.pk,
                "Typed-in health score, kept when scores became computed",
                timezone.now(),
                clock.today(),
            ],
        )


class Migration(migrations.Migration):
    dependencies = [
        ("health", "0001_initial"),
        ("customers", "0010_builtin_import_profiles"),
    ]
    operations = [migrations.RunPython(typed_in_scores_to_entries, migrations.RunPython.noop)]
