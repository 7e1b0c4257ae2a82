import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_groups")]

    operations = [
        migrations.CreateModel(
            name="PendingEvaluation",
            fields=[
                (
                    "account",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="pending_evaluation",
                        serialize=False,
                        to="customers.account",
                    ),
                ),
                ("marked_at", models.DateTimeField()),
            ],
        ),
    ]
