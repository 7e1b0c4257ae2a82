"""Writes to the product catalogue and to contract line items (DESIGN 10). A contract's
items are replaced as a whole; the account is marked changed, since its ``products`` and
``product_count`` rule fields may have changed."""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Account, Contract, ContractItem, Product
from .services import accounts_mark_changed, contract_create, contract_update

PRODUCT_EDITABLE_FIELDS = ("code", "name", "family")


@transaction.atomic
def product_create(**data: Any) -> Product:
    """Add a product to the catalogue (``code`` unique, ``name``, optional ``family``)."""
    unknown = sorted(set(data) - set(PRODUCT_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({name: ["Unknown or read-only field."] for name in unknown})
    product = Product(**data)
    product.full_clean()
    product.save()
    return product


@transaction.atomic
def contract_items_set(*, contract: Contract, items: Sequence[dict[str, Any]]) -> None:
    """Replace the contract's line items with ``items`` (each ``product``: a Product,
    ``quantity``, ``arr``). One line per product; the items' ARR together cannot exceed
    the contract's. Errors name the item (``items[2].product``)."""
    errors: dict[str, list[str]] = {}
    seen: dict[int, int] = {}
    total = Decimal("0")
    rows = []
    for index, item in enumerate(items):
        product = item["product"]
        if product.pk in seen:
            errors[f"items[{index}].product"] = [
                f"{product.code} is already on this contract (items[{seen[product.pk]}])."
            ]
            continue
        seen[product.pk] = index
        row = ContractItem(
            contract=contract,
            product=product,
            quantity=item.get("quantity", 1),
            arr=item.get("arr", Decimal("0")),
        )
        try:
            row.full_clean(exclude=["contract"], validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                errors[f"items[{index}].{name}"] = messages
            continue
        total += row.arr
        rows.append(row)
    if not errors and total > contract.arr:
        errors["items"] = [
            f"The items' ARR ({total}) is more than the contract's ARR ({contract.arr})."
        ]
    if errors:
        raise ValidationError(errors)
    accounts_mark_changed(account_ids=[contract.account_id])
    ContractItem.objects.filter(contract=contract).delete()
    ContractItem.objects.bulk_create(rows)


@transaction.atomic
def contract_create_with_items(
    *, account: Account, items: Sequence[dict[str, Any]] | None = None, **data: Any
) -> Contract:
    """``contract_create``, then its line items (all or nothing)."""
    contract = contract_create(account=account, **data)
    if items is not None:
        contract_items_set(contract=contract, items=items)
    return contract


@transaction.atomic
def contract_update_with_items(
    *, contract: Contract, data: dict[str, Any], items: Sequence[dict[str, Any]] | None = None
) -> Contract:
    """``contract_update``; given ``items`` replace the line items (all or nothing)."""
    contract = contract_update(contract=contract, data=data)
    if items is not None:
        contract_items_set(contract=contract, items=items)
    return contract
