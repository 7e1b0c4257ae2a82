"""Scorecard versions: each scorecard's scoring definition (thresholds, measures and
their weights) as published, and the version each health row was produced by.

Every existing scorecard gets version 1, its definition now, and every current and history
row of that scorecard points at it (one UPDATE per scorecard and table). Rows written
before this migration under an older definition cannot be told apart: they point at the
definition in force at the upgrade. Rows of a scorecard deleted before it keep no version.
"""

from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

WEIGHT_PLACES = Decimal("0.01")
BOUND_PLACES = Decimal("0.000001")


def _measure_payload(measure) -> dict:
    # As health.definitions.MeasureSpec.as_payload, frozen here as it is today.
    payload = {
        "key": measure.key,
        "label": measure.label,
        "weight": str(measure.weight.quantize(WEIGHT_PLACES)),
        "source": measure.source,
    }
    if measure.source == "field":
        payload.update(
            field=measure.field,
            bad=str(measure.bad.quantize(BOUND_PLACES)),
            good=str(measure.good.quantize(BOUND_PLACES)),
        )
    elif measure.source == "condition":
        payload["rule"] = measure.rule
    else:
        payload["valid_days"] = measure.valid_days
    return payload


def versions_create(apps, schema_editor) -> None:
    Scorecard = apps.get_model("health", "Scorecard")
    ScorecardVersion = apps.get_model("health", "ScorecardVersion")
    AccountHealth = apps.get_model("health", "AccountHealth")
    HealthHistory = apps.get_model("health", "HealthHistory")
    now = timezone.now()
    for scorecard in Scorecard.objects.prefetch_related("measures").order_by("pk"):
        measures = sorted(scorecard.measures.all(), key=lambda m: (m.order, m.pk))
        version = ScorecardVersion.objects.create(
            scorecard_id=scorecard.pk,
            number=1,
            name=scorecard.name,
            definition={
                "red_below": scorecard.red_below,
                "green_from": scorecard.green_from,
                "measures": [_measure_payload(m) for m in measures],
            },
            created_at=now,
        )
        Scorecard.objects.filter(pk=scorecard.pk).update(current_version=version)
        AccountHealth.objects.filter(scorecard_id=scorecard.pk).update(version=version)
        HealthHistory.objects.filter(scorecard_id=scorecard.pk).update(version=version)


class Migration(migrations.Migration):
    dependencies = [
        ("health", "0004_measures_digest"),
    ]

    operations = [
        migrations.CreateModel(
            name="ScorecardVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.PositiveIntegerField()),
                ("name", models.CharField(max_length=200)),
                ("definition", models.JSONField()),
                ("created_at", models.DateTimeField()),
                (
                    "scorecard",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="versions",
                        to="health.scorecard",
                    ),
                ),
            ],
            options={
                "ordering": ["scorecard_id", "number"],
            },
        ),
        migrations.AddField(
            model_name="accounthealth",
            name="version",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="health.scorecardversion",
            ),
        ),
        migrations.AddField(
            model_name="healthhistory",
            name="version",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="health.scorecardversion",
            ),
        ),
        migrations.AddField(
            model_name="scorecard",
            name="current_version",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="health.scorecardversion",
            ),
        ),
        migrations.AddConstraint(
            model_name="scorecardversion",
            constraint=models.UniqueConstraint(
                fields=("scorecard", "number"), name="scorecard_version_number"
            ),
        ),
        migrations.RunPython(versions_create, migrations.RunPython.noop, elidable=True),
    ]
