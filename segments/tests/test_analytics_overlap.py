"""The overlap selectors (segments.analytics.overlap, and segment_figures that gives the
metrics and the overlap at once) against hand-computed fixtures (docs/metrics.md)."""

from datetime import date
from decimal import Decimal

import pytest

from customers.tests.factories import AccountFactory
from segments import analytics
from segments.tests.analytics_fixtures import contract, member, segment

pytestmark = pytest.mark.django_db


def test_overlap_counts_pairs_and_accounts_in_none(today):
    # Given X = {a, b, e}, Y = {a, b}, Z = {b, c}; d is in none; c left Z in October
    x, y, z = (segment(n, date(2024, 1, 1)) for n in ("X", "Y", "Z"))
    a, b, c, d, e = AccountFactory.create_batch(5)
    joined = date(2026, 1, 10)
    for seg, accts in ((x, (a, b, e)), (y, (a, b)), (z, (b,))):
        for acct in accts:
            member(seg, acct, joined)
    member(z, c, joined, exited=date(2026, 10, 1))

    # When the overlap is read today
    overlap = analytics.segment_overlap(segment_ids=[x.pk, y.pk, z.pk], as_of=today)

    # Then
    assert overlap.matrix == [[3, 2, 1], [2, 2, 1], [1, 1, 1]]
    assert overlap.pairs() == [(x.pk, y.pk, 2), (x.pk, z.pk, 1), (y.pk, z.pk, 1)]
    assert (overlap.accounts_total, overlap.in_any, overlap.in_none) == (5, 3 + 0, 2)

    # And as of September c was still in Z (accounts created today do not exist then,
    # unless they were customers already: none here)
    past = analytics.segment_overlap(segment_ids=[x.pk, y.pk, z.pk], as_of=date(2026, 9, 1))
    assert past.matrix == [[3, 2, 1], [2, 2, 1], [1, 1, 2]]
    assert past.in_any == 4


def test_figures_give_the_metrics_and_the_overlap_of_the_same_population(today):
    # Given the overlap fixture's segments, with contracts so that the metrics are not empty
    x, y, z = (segment(n, date(2024, 1, 1)) for n in ("X", "Y", "Z"))
    a, b, c, d = AccountFactory.create_batch(4)
    for acct, arr in ((a, 1000), (b, 2500), (c, 400)):
        contract(acct, date(2024, 6, 1), date(2027, 6, 1), arr)
    joined = date(2026, 1, 10)
    for seg, accts in ((x, (a, b)), (y, (a,)), (z, (b,))):
        for acct in accts:
            member(seg, acct, joined)
    member(z, c, joined, exited=date(2026, 10, 1))
    ids = [z.pk, x.pk, y.pk]  # not in id order: bit i is ids[i]

    for as_of in (today, date(2026, 9, 1)):
        # When both are read at once, then they are exactly what each selector gives alone
        figures = analytics.segment_figures(segment_ids=ids, as_of=as_of)
        assert figures.metrics == analytics.segment_metrics_many(segment_ids=ids, as_of=as_of)
        assert figures.overlap == analytics.segment_overlap(segment_ids=ids, as_of=as_of)
    assert figures.overlap.matrix == [[2, 1, 0], [1, 2, 1], [0, 1, 1]]
    assert figures.metrics[z.pk].accounts == 2 and figures.metrics[z.pk].arr == Decimal("2900.00")
