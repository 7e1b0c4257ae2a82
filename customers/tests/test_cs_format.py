from datetime import UTC, date, datetime
from decimal import Decimal

from django.urls import reverse
from django.utils import translation

from customers.templatetags.cs_format import day, moment, money, percent
from customers.tests.factories import AccountFactory


def test_money_percent_and_day_read_as_people_write_them():
    assert money(Decimal("99012.36")) == "$99,012"
    assert money(Decimal("99012.36"), 2) == "$99,012.36"
    assert money("1234567") == "$1,234,567"
    assert money(Decimal("-50")) == "−$50"
    assert money(None) == "—" and money("abc") == "—"
    assert percent(Decimal("0.934")) == "93%"
    assert percent(0.934, 1) == "93.4%"
    assert percent(None) == "—"
    assert day(date(2027, 1, 5)) == "5 Jan 2027"


def test_money_follows_the_active_locale():
    with translation.override("de"):
        assert money(Decimal("99012.36"), 2) == "$99.012,36"


def test_remembered_texts_follow_the_language_and_the_time_zone(settings):
    # The same values formatted in one language, then in another, then in the first again
    # (each text is remembered per language)
    amount, when = Decimal("1234567"), date(2027, 12, 5)
    english = (money(amount), day(when))
    with translation.override("de"):
        german = (money(amount), day(when))
    assert english == ("$1,234,567", "5 Dec 2027")
    assert german == ("$1.234.567", "5 Dez 2027")
    assert (money(amount), day(when)) == english
    # A moment is shown in the configured time zone, to the minute
    instant = datetime(2027, 1, 5, 23, 30, 59, tzinfo=UTC)
    assert moment(instant) == "5 Jan 2027, 23:30"
    settings.TIME_ZONE = "Europe/Berlin"
    assert moment(instant) == "6 Jan 2027, 00:30"
    assert day(instant) == "6 Jan 2027"


def test_stored_values_read_as_words():
    from customers.templatetags.cs_format import humanize_value

    assert humanize_value(True) == "Yes" and humanize_value(False) == "No"
    assert humanize_value("healthcare") == "Healthcare"
    assert humanize_value("at_risk") == "At risk"
    assert humanize_value("Technology") == "Technology"
    assert humanize_value("ACME-1") == "ACME-1"
    assert humanize_value(None) == "—"


def test_pages_format_numbers_in_the_browsers_language(client, manager, db):
    account = AccountFactory(name="Locale test", arr=Decimal("1234567"))
    client.force_login(manager)
    url = reverse("account-detail", args=[account.pk])

    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    german = client.get(url, HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9").content.decode()
    unknown = client.get(url, HTTP_ACCEPT_LANGUAGE="xx").content.decode()

    assert "$1,234,567" in english and "$1.234.567" not in english
    assert "$1.234.567" in german
    assert "$1,234,567" in unknown
