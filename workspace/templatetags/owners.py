"""``{% load owners %}{% account_owners account %}``: the account page's owners section
(current holders, history, and the managers' assign form)."""

from typing import Any

from django import template

from customers.models import Account
from workspace.owners import owners_context

register = template.Library()


@register.inclusion_tag("workspace/_owners.html", takes_context=True)
def account_owners(context: template.Context, account: Account) -> dict[str, Any]:
    request = context["request"]
    return {
        **owners_context(account=account, viewer=request.user),
        "csrf_token": context.get("csrf_token"),
    }
