"""The segment engine: memberships recomputed set-based, in SQL.

- ``targets``: the target set of a version (rule, exclusive-group precedence, ranking);
- ``recompute``: one segment's recompute; ``diff``: writing its membership diff;
- ``segments_diff``: many segments' diff in one pass over a batch of accounts, used by
  ``sweep`` (the changed-accounts sweep); ``segments_range_diff``: the same over a range
  of account ids (bitmasks on PostgreSQL), used by ``recompute_all`` (every segment, a
  range at a time, spread over workers);
- ``events``: memberships_changed, totals and snapshots, recompute requests;
- ``snapshot_backfill``: daily snapshots rebuilt from membership history (growth charts);
- ``work_tables``: the per-connection temporary tables.

The engine imports no task: a recompute it needs is requested with the
``recompute_requested`` signal, which ``segments.receivers`` turns into a task on commit.
"""

from .day_change import segments_recompute_date_dependent
from .events import SIGNAL_EVENT_IDS_LIMIT, recompute_request, recompute_request_many
from .recompute import RecomputeResult, segment_lock, segment_recompute
from .recompute_all import (
    RangeOutcome,
    RecomputeAllResult,
    recompute_range_apply,
    recompute_run_end_partial,
    recompute_run_finish,
    recompute_run_start,
    segments_recompute_all,
)
from .snapshot_backfill import BackfillResult, segment_snapshots_backfill
from .sweep import (
    SWEEP_BATCH_SIZE,
    SWEEP_MAX_BATCHES,
    SweepResult,
    segments_evaluate_changed_accounts,
)
from .targets import (
    VersionRules,
    attribute_specs,
    segment_higher_precedence,
    segment_target_ids,
)

__all__ = [
    "SIGNAL_EVENT_IDS_LIMIT",
    "SWEEP_BATCH_SIZE",
    "SWEEP_MAX_BATCHES",
    "BackfillResult",
    "RangeOutcome",
    "RecomputeAllResult",
    "RecomputeResult",
    "SweepResult",
    "VersionRules",
    "attribute_specs",
    "recompute_range_apply",
    "recompute_request",
    "recompute_request_many",
    "recompute_run_end_partial",
    "recompute_run_finish",
    "recompute_run_start",
    "segment_higher_precedence",
    "segment_lock",
    "segment_recompute",
    "segment_snapshots_backfill",
    "segment_target_ids",
    "segments_evaluate_changed_accounts",
    "segments_recompute_all",
    "segments_recompute_date_dependent",
]
