"""Drop the second index Django makes on PostgreSQL for the unique ``external_id`` (its
``varchar_pattern_ops`` twin, for ``LIKE 'prefix%'``): no query filters accounts on an
external_id prefix except the demo seeder's one-off check, and every account write that
cannot be a HOT update (a picklist merge rewrites 250,000 rows in one UPDATE) inserted into
it, one of the table's 15 indexes (docs/crm-data.md, "Performance").

``IF EXISTS``: SQLite never had it. The name is the one Django derives for the table and
column. Django recreates it only if ``external_id`` itself is altered; drop it again then.
"""

from django.db import migrations

NAME = "customers_account_external_id_89bb7f98_like"


class Migration(migrations.Migration):
    dependencies = [("customers", "0012_account_list_sort_indexes")]
    operations = [
        migrations.RunSQL(
            sql=f"DROP INDEX IF EXISTS {NAME}",
            # Going back leaves it out: it only ever served prefix searches nobody makes.
            reverse_sql=migrations.RunSQL.noop,
        )
    ]
