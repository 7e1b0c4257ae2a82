"""Autovacuum settings of the membership table (PostgreSQL only).

A recompute of every segment reads the stored memberships off the (account, segment)
index; an index-only scan stays index-only only while the table's visibility map is
current. With the defaults (a vacuum after inserts or deletes of 20% of the table) a large
recompute left about 3M of 11.7M rows not all-visible at 1M accounts, so the next scans
fetched them from the heap (issue 22). Vacuuming after 2% of the table changed keeps the
map current; a vacuum of this narrow table is cheap.
"""

from django.db import migrations

MEMBERSHIP_TABLE = "segments_membership"
SETTINGS = (
    "autovacuum_vacuum_scale_factor = 0.02, "
    "autovacuum_vacuum_insert_scale_factor = 0.02, "
    "autovacuum_analyze_scale_factor = 0.02"
)
RESET = (
    "autovacuum_vacuum_scale_factor, autovacuum_vacuum_insert_scale_factor, "
    "autovacuum_analyze_scale_factor"
)


def settings_set(apps, schema_editor):  # noqa: ANN001, ANN201 (Django's)
    if schema_editor.connection.vendor == "postgresql":  # storage parameters: PostgreSQL only
        schema_editor.execute(f"ALTER TABLE {MEMBERSHIP_TABLE} SET ({SETTINGS})")


def settings_reset(apps, schema_editor):  # noqa: ANN001, ANN201 (Django's)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {MEMBERSHIP_TABLE} RESET ({RESET})")


class Migration(migrations.Migration):
    dependencies = [("segments", "0010_recompute_runs")]

    operations = [migrations.RunPython(settings_set, settings_reset, elidable=False)]
