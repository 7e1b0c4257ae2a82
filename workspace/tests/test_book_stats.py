"""My book's "Accounts at risk": the lifecycle stage says so, or the computed health status
is red — by each account's scorecard's thresholds, as the badges show it, not a fixed
score below 40."""

import pytest

from customers.models import Account
from health import services as health_services
from health.engine import health_recompute
from health.models import Scorecard
from workspace.selectors import book_stats

from .health_world import build_health_world

pytestmark = pytest.mark.django_db


def test_at_risk_counts_the_red_status_by_the_scorecards_thresholds(csm, other_csm, manager, today):
    # given the health world: csm's five accounts score 100, 33, 53, 33, 67 (red below 40)
    world = build_health_world(csm=csm, other_csm=other_csm, manager=manager, today=today)
    assert book_stats(csm, today)["at_risk"] == 2  # the two at 33

    # when the scorecard calls red anything below 60
    card = Scorecard.objects.get()
    health_services.scorecard_update(scorecard=card, data={"red_below": 60}, partial=True)
    health_recompute(today=today, mark_changed=False)

    # then the account at 53 is at risk too, though its score is not below 40
    assert book_stats(csm, today)["at_risk"] == 3

    # and an account whose lifecycle stage says at risk counts whatever its health
    Account.objects.filter(pk=world.accounts[0].pk).update(lifecycle_stage="at_risk")
    assert book_stats(csm, today)["at_risk"] == 4
