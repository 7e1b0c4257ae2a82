"""Domain events of the health app. ``recompute_requested`` is sent inside a writing
transaction (a scorecard created, changed, published or deleted); ``health.receivers``
queues the recompute of every account when that transaction commits. Receivers must only
enqueue work."""

from django.dispatch import Signal

recompute_requested = Signal()
