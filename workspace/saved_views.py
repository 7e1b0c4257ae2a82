"""Saved views of the accounts and tasks lists (filters, columns, sort), per user and
optionally shared with the team: the reads, the writes and their two small pages (save,
delete). A view is the list's query string, so opening one is following a link."""

from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from .models import SavedView, SavedViewPage

# The list page of each kind of view.
PAGE_URLS = {SavedViewPage.ACCOUNTS: "account-list", SavedViewPage.TASKS: "task-list"}
# Query parameters that are not part of a view (where the list happens to be).
NOT_SAVED = {"page", "csrfmiddlewaretoken"}


def saved_views_for(user: Any, *, page: str) -> QuerySet[SavedView]:
    """The user's views of ``page`` and the team's shared ones, the user's first."""
    return (
        SavedView.objects.filter(Q(owner=user) | Q(shared=True), page=page)
        .select_related("owner")
        .order_by("-shared", "name", "id")
    )


def _clean_query(query: str) -> str:
    pairs = [(k, v) for k, v in parse_qsl(query.lstrip("?"), keep_blank_values=True)]
    return urlencode([(k, v) for k, v in pairs if k not in NOT_SAVED])


@transaction.atomic
def saved_view_save(*, owner: Any, page: str, name: str, query: str, shared: bool) -> SavedView:
    """Save (or overwrite, by name) ``owner``'s view of ``page``."""
    if page not in SavedViewPage.values:
        raise ValidationError({"page": ["Unknown list."]})
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["Give the view a name."]})
    view = SavedView.objects.filter(owner=owner, page=page, name=name).first() or SavedView(
        owner=owner, page=page, name=name
    )
    view.query, view.shared = _clean_query(query), shared
    view.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            view.save()
    except IntegrityError:
        raise ValidationError({"name": ["You already have a view with this name."]}) from None
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView, by: Any) -> None:
    if view.owner_id != by.pk:
        raise PermissionDenied("Only the person who saved a view can delete it.")
    view.delete()


def saved_view_url(view: SavedView) -> str:
    return reverse(PAGE_URLS[view.page]) + (f"?{view.query}" if view.query else "?")


@require_POST
def saved_view_save_view(request: HttpRequest) -> HttpResponse:
    page = request.POST.get("page", "")
    try:
        view = saved_view_save(
            owner=request.user,
            page=page,
            name=request.POST.get("name", ""),
            query=request.POST.get("query", ""),
            shared=request.POST.get("shared") == "on",
        )
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
        target = PAGE_URLS.get(page, "account-list")
        return redirect(reverse(target) + "?" + _clean_query(request.POST.get("query", "")))
    messages.success(
        request, f"View “{view.name}” saved{' and shared with the team' if view.shared else ''}."
    )
    return redirect(saved_view_url(view))


@require_POST
def saved_view_delete_view(request: HttpRequest, view_id: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=view_id)
    page = view.page
    saved_view_delete(view=view, by=request.user)
    messages.success(request, f"View “{view.name}” deleted.")
    return redirect(reverse(PAGE_URLS[page]))
