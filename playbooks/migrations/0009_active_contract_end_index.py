"""An index of the active contracts by (end_date, id), used by the renewal queue's daily
delta to find the contracts that crossed a window boundary (entered a window or became
overdue) with index-only range scans, without reading the contracts table.

Raw SQL (IF NOT EXISTS, name prefixed ``playbooks_``) for the reason given in 0005: the
playbooks app owns what only it needs. Partial indexes exist on PostgreSQL and SQLite.
"""

from django.db import migrations

NAME = "playbooks_contract_active_end_idx"


class Migration(migrations.Migration):
    dependencies = [("playbooks", "0008_renewal_build_fewer_indexes")]
    operations = [
        migrations.RunSQL(
            sql=(
                f"CREATE INDEX IF NOT EXISTS {NAME} ON customers_contract (end_date, id) "
                "WHERE status = 'active'"
            ),
            reverse_sql=f"DROP INDEX IF EXISTS {NAME}",
        )
    ]
