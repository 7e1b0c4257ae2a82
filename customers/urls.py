from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", views.account_list_view, name="account-list"),
    path("accounts/<int:account_id>/", views.account_detail_view, name="account-detail"),
]
