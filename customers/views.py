from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from . import selectors
from .models import Account


def home(request: HttpRequest) -> HttpResponse:
    book = selectors.csm_book(user=request.user).order_by("renewal_date", "name")[:50]
    return render(request, "customers/home.html", {"book": book})


def account_list_view(request: HttpRequest) -> HttpResponse:
    accounts = selectors.account_list()
    query = request.GET.get("q", "").strip()
    if query:
        accounts = accounts.filter(name__icontains=query)
    page = Paginator(accounts.order_by("name", "id"), 50).get_page(request.GET.get("page"))
    return render(request, "customers/account_list.html", {"page": page, "q": query})


def account_detail_view(request: HttpRequest, account_id: int) -> HttpResponse:
    try:
        account = selectors.account_get(account_id=account_id)
    except Account.DoesNotExist:
        account = get_object_or_404(Account, pk=account_id)
    return render(request, "customers/account_detail.html", {"account": account})
