"""Domain events that other apps may listen to; customers never imports them.

``accounts_changed`` is sent after commit with the ids of accounts whose segment-relevant
data changed (attributes, contracts, owner). Receivers must only enqueue work.
"""

from django.dispatch import Signal

accounts_changed = Signal()  # kwargs: account_ids: list[int]
