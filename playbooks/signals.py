"""Signals the playbooks services send when work must be queued after commit.

The services never import the Celery task module (which imports them): they send one of
these, and ``playbooks.receivers`` enqueues the task. Dependencies then run one way:
tasks -> services -> signals."""

from django.dispatch import Signal

# Sent with ``segment_id`` (None: every segment) when a segment's playbooks should look
# for membership events to turn into runs (a playbook was activated or changed).
playbook_processing_requested = Signal()

# Sent with ``run_ids`` (pending runs, committed with the current transaction) to have
# them executed.
playbook_runs_pending = Signal()

# Sent (inside the transaction) when a write changed what the renewal queue should hold
# (a renewal closed): a renewal queue build is queued, debounced, after commit.
renewal_queue_changed = Signal()
