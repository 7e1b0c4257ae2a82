"""``{% saved_views_of "accounts" as views %}``: the signed-in user's saved views of a list
and the team's shared ones (one query), for lists of any app (the tasks list lives in
``playbooks``, which cannot import this app)."""

from typing import Any

from django import template

from workspace.saved_views import saved_views_for

register = template.Library()


@register.simple_tag(takes_context=True)
def saved_views_of(context: template.Context, page: str) -> list[Any]:
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return []
    return list(saved_views_for(request.user, page=page))
