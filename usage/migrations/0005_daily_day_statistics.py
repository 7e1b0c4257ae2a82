"""The planner's statistics of the daily table's ``day`` column: one most-common value
(PostgreSQL only).

The rules join each account's row of today (``usage.rule_fields.today_relation``). With
the default statistics every stored day is in the column's most-common-values list, so a
day that is not yet in the statistics — the new day, right after its first batch — is
estimated at one row, and at 1M accounts the sweep's planner then joined today's rows to
every account before keeping its batch (over 5 minutes for one batch of 10,000). With a
statistics target of 1 every day, stored or new, is estimated at the table's rows over
its number of days (about one day's batch), and the join stays a key lookup per account
(0.11 s for a batch of 10,000 at 1M accounts). Usage rows are spread evenly over the days,
so the even estimate is also the right one for the stored days.
"""

from django.db import migrations

DAILY_TABLE = "usage_dailyusage"


def statistics_set(apps, schema_editor):  # noqa: ANN001, ANN201 (Django's)
    if schema_editor.connection.vendor == "postgresql":  # per-column statistics: PostgreSQL
        schema_editor.execute(f"ALTER TABLE {DAILY_TABLE} ALTER COLUMN day SET STATISTICS 1")
        # A sample of 300 rows: milliseconds, whatever the size of the table.
        schema_editor.execute(f"ANALYZE {DAILY_TABLE} (day)")


def statistics_reset(apps, schema_editor):  # noqa: ANN001, ANN201 (Django's)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {DAILY_TABLE} ALTER COLUMN day SET STATISTICS -1")


class Migration(migrations.Migration):
    dependencies = [("usage", "0004_window_values_before_today")]

    operations = [migrations.RunPython(statistics_set, statistics_reset, elidable=False)]
