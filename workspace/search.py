"""Global search, reachable from every page (the box in the top bar; "/" or Ctrl+K focuses
it): accounts, segments, playbooks and notes whose text contains the query. Each kind is
one bounded query (at most ``PER_KIND`` rows); the top bar shows the first few as you
type (htmx), the page shows them all."""

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from cs_platform.htmx import is_htmx
from customers.models import Account, Note
from playbooks.models import Playbook
from segments.models import Segment

# Rows per kind on the results page; the top bar's dropdown shows fewer.
PER_KIND = 20
DROPDOWN_PER_KIND = 5
# Shorter queries match too much to be useful (and cost a scan each).
MIN_QUERY = 2


@dataclass
class Hit:
    kind: str
    title: str
    link: str
    detail: str = ""


def search(text: str, *, limit: int = PER_KIND) -> dict[str, list[Hit]]:
    """The accounts (name, domain, external id), segments (name, description), playbooks
    (name) and notes (body) containing ``text``, case-insensitively; ``limit`` per kind."""
    text = text.strip()
    if len(text) < MIN_QUERY:
        return {"accounts": [], "segments": [], "playbooks": [], "notes": []}
    accounts = (
        Account.objects.filter(
            Q(name__icontains=text) | Q(domain__icontains=text) | Q(external_id__iexact=text)
        )
        .select_related("owner")
        .only("id", "name", "domain", "owner__username", "owner__first_name", "owner__last_name")
        .order_by("name", "id")[:limit]
    )
    segments = (
        Segment.objects.filter(Q(name__icontains=text) | Q(description__icontains=text))
        .only("id", "name", "is_active")
        .order_by("-is_active", "name", "id")[:limit]
    )
    playbooks = (
        Playbook.objects.filter(name__icontains=text)
        .select_related("segment")
        .only("id", "name", "is_active", "segment__name")
        .order_by("-is_active", "name", "id")[:limit]
    )
    notes = (
        Note.objects.filter(body__icontains=text)
        .select_related("account", "author")
        .only(
            "id", "body", "kind", "happened_at", "account__id", "account__name", "author__username"
        )
        .order_by("-happened_at", "-id")[:limit]
    )

    def owner(account: Account) -> str:
        if account.owner is None:
            return "unassigned"
        return account.owner.get_full_name() or account.owner.username

    return {
        "accounts": [
            Hit("Account", a.name, reverse("account-detail", args=[a.id]), a.domain or owner(a))
            for a in accounts
        ],
        "segments": [
            Hit(
                "Segment",
                s.name,
                reverse("segment-detail", args=[s.id]),
                "" if s.is_active else "inactive",
            )
            for s in segments
        ],
        "playbooks": [
            Hit(
                "Playbook",
                p.name,
                reverse("playbook-detail", args=[p.id]),
                f"on {p.segment.name}" + ("" if p.is_active else " · off"),
            )
            for p in playbooks
        ],
        "notes": [
            Hit(
                n.get_kind_display(),
                n.account.name,
                reverse("account-detail", args=[n.account_id]) + "#timeline",
                _snippet(n.body, text),
            )
            for n in notes
        ],
    }


def _snippet(body: str, text: str, width: int = 80) -> str:
    """The part of ``body`` around the first match of ``text``."""
    at = body.lower().find(text.lower())
    start = max(0, at - width // 2) if at >= 0 else 0
    piece = body[start : start + width].replace("\n", " ")
    return ("…" if start else "") + piece + ("…" if start + width < len(body) else "")


@require_GET
def search_view(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("q", "")[:200]
    dropdown = is_htmx(request) and request.GET.get("dropdown") == "1"
    results = search(text, limit=DROPDOWN_PER_KIND if dropdown else PER_KIND)
    context: dict[str, Any] = {
        "q": text.strip(),
        "results": results,
        "total": sum(len(hits) for hits in results.values()),
        "too_short": 0 < len(text.strip()) < MIN_QUERY,
        "nav": "search",
    }
    template = "workspace/_search_dropdown.html" if dropdown else "workspace/search.html"
    return render(request, template, context)
