"""Carry the accounts flagged ``needs_segment_eval`` over to the side table (set-based:
one INSERT ... SELECT, whatever the number of accounts)."""

from django.db import migrations


def copy_flags(apps, schema_editor):
    Account = apps.get_model("customers", "Account")
    PendingEvaluation = apps.get_model("customers", "PendingEvaluation")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {PendingEvaluation._meta.db_table} (account_id, marked_at) "
            f"SELECT id, updated_at FROM {Account._meta.db_table} WHERE needs_segment_eval = %s",
            [True],
        )


def restore_flags(apps, schema_editor):
    Account = apps.get_model("customers", "Account")
    PendingEvaluation = apps.get_model("customers", "PendingEvaluation")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Account._meta.db_table} SET needs_segment_eval = %s "
            f"WHERE id IN (SELECT account_id FROM {PendingEvaluation._meta.db_table})",
            [True],
        )


class Migration(migrations.Migration):
    dependencies = [("customers", "0003_pendingevaluation")]

    operations = [migrations.RunPython(copy_flags, restore_flags)]
