"""Domain events of the segment engine; other apps (playbooks) listen, segments never
imports them.

``memberships_changed`` is sent after the commit of every write that recorded membership
events (a recompute that changed something, a hand edit of a static segment), with:

- ``segment_id``: int
- ``event_ids``: list[int], the ids of the new MembershipEvents, ascending; ``None`` when
  the write recorded more than ``segments.engine.events.SIGNAL_EVENT_IDS_LIMIT`` events (a
  first recompute of a large segment), so a million ids are never held in memory.
- ``event_id_range``: (first, last), always set: the new events are exactly the events of
  ``segment_id`` with ``first <= id <= last`` (writes to one segment are serialized), so a
  receiver can page through them when ``event_ids`` is None.
- ``event_count``: int.

``recompute_requested`` is sent inside the writing transaction when a segment needs a
full recompute (a publish, a change of its exclusive group, "recompute now"), with
``segment_id`` and ``version_id`` (the version it is for; None: whichever is current when
it runs). The engine never enqueues tasks itself: ``segments.receivers`` queues the task
when the transaction commits.

``accounts_evaluating`` is sent inside each changed-accounts sweep batch, after the batch
took its accounts and before it evaluates them against the segments, with ``accounts`` (a
queryset of the batch's accounts) and ``today``. Apps whose rule fields are derived from
account data (the health scores) bring those values up to date here, in the batch's
transaction, so the segments evaluate fresh values; the work must be set-based and
bounded by the batch.

``accounts_evaluated`` is sent in the same batch after its segment memberships are written
and its marks deleted, with the same arguments: values that depend on memberships (which
health scorecard scores an account) are brought up to date here; a receiver that changes
a rule value marks the accounts again (``customers.services``), so the next sweep
re-evaluates their segments.

Receivers of the other signals must only enqueue work.
"""

from django.dispatch import Signal

memberships_changed = Signal()
recompute_requested = Signal()
accounts_evaluating = Signal()
accounts_evaluated = Signal()
