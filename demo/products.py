"""The demo's product catalogue and its contracts' line items: a platform product per plan
and two add-ons, written set-based (two INSERT ... SELECT statements whatever the number of
contracts)."""

from django.db import connection

from cs_platform.db import load_sql, table_name
from customers.models import Account, Contract, ContractItem, Product

# (code, name, family)
DEMO_PRODUCTS = (
    ("CS-FREE", "Success Platform Free", "Platform"),
    ("CS-STARTER", "Success Platform Starter", "Platform"),
    ("CS-PRO", "Success Platform Pro", "Platform"),
    ("CS-ENTERPRISE", "Success Platform Enterprise", "Platform"),
    ("ANALYTICS", "Advanced Analytics", "Analytics"),
    ("API", "API & Integrations", "Integrations"),
)


def demo_products_ensure() -> int:
    """Create the demo products that are missing; returns how many were created."""
    existing = set(Product.objects.values_list("code", flat=True))
    missing = [
        Product(code=code, name=name, family=family)
        for code, name, family in DEMO_PRODUCTS
        if code not in existing
    ]
    Product.objects.bulk_create(missing)
    return len(missing)


def demo_contract_items_seed(*, external_id_prefix: str) -> int:
    """Line items for the contracts of the accounts whose external id starts with the
    prefix (freshly seeded, so without items yet); returns how many were written."""
    demo_products_ensure()
    tables = {
        "contract_item": table_name(ContractItem),
        "contract": table_name(Contract),
        "account": table_name(Account),
        "product": table_name(Product),
    }
    written = 0
    with connection.cursor() as cursor:
        for name in ("demo_contract_items_core", "demo_contract_items_addon"):
            cursor.execute(load_sql("demo", name, **tables), [external_id_prefix + "%"])
            written += cursor.rowcount
    return written
