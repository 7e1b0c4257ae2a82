"""A segment's ARR by product family as of a date: the line items of its members'
contracts that count on that day (docs/metrics.md), summed per family of their product."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from cs_platform.db import table_name
from customers.models import Contract, ContractItem, Product

from .population import contract_counts_on, members_as_of_sql
from .statements import date_param, run_analytic_statement, to_decimal

# The family of a product that has none.
NO_FAMILY = "(no family)"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class FamilyArr:
    family: str
    accounts: int
    arr: Decimal


def segment_arr_by_product_family(*, segment_id: int, as_of: date) -> list[FamilyArr]:
    """Per product family: how many of the segment's members (as of ``as_of``) have it on
    a contract that counts that day, and the ARR of those line items; largest ARR first.
    One statement."""
    members_sql, members_params = members_as_of_sql([segment_id], as_of)
    sql = f"""
        WITH pop AS ({members_sql})
        SELECT COALESCE(NULLIF(p.family, ''), %s) AS family,
               COUNT(DISTINCT c.account_id) AS accounts,
               SUM(i.arr) AS arr
        FROM pop
        JOIN {table_name(Contract)} c ON c.account_id = pop.account_id
        JOIN {table_name(ContractItem)} i ON i.contract_id = c.id
        JOIN {table_name(Product)} p ON p.id = i.product_id
        WHERE {contract_counts_on("c", "%s")}
        GROUP BY 1
    """
    day = date_param(as_of)
    rows = run_analytic_statement(sql, [*members_params, NO_FAMILY, day, day])
    result = [
        FamilyArr(family=family, accounts=accounts, arr=to_decimal(arr).quantize(CENT))
        for family, accounts, arr in rows
    ]
    return sorted(result, key=lambda row: (-row.arr, row.family))
