"""``{% load links %}{% link "account-detail" account.id %}`` (or ``… as url``): the
address of a view taking one integer, as ``{% url %}`` gives it, for the links on every
row of a list (``cs_platform.links``)."""

from django import template

from cs_platform.links import link as link_for

register = template.Library()


@register.simple_tag
def link(name: str, pk: int) -> str:
    return link_for(name, pk)
