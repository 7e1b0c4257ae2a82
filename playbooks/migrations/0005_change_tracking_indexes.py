"""Indexes on customers' ``updated_at`` columns, used by the renewal queue's daily delta to
find contracts and accounts changed since the previous build without scanning the tables.

Created here (raw SQL, IF NOT EXISTS, names prefixed ``playbooks_``) rather than in the
customers app so the playbooks app owns what only it needs; harmless if customers later
adds its own index on the same column.
"""

from django.db import migrations

INDEXES = (
    ("playbooks_contract_updated_idx", "customers_contract"),
    ("playbooks_account_updated_idx", "customers_account"),
)


class Migration(migrations.Migration):
    dependencies = [("playbooks", "0004_entry_derived_fks"), ("customers", "0002_groups")]
    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX IF NOT EXISTS {name} ON {table} (updated_at)",
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, table in INDEXES
    ]
