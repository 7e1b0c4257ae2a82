"""Admin for managers: segments and their versions, with a rule editor that shows the
validator's path messages inline, preview with diff, publish, recompute now and version
history. Every write goes through segments.services; published versions are read-only.

Split by page: ``segment`` (segments), ``version`` (versions: preview, publish, diff),
``history`` (exclusive groups, events, snapshots), ``forms`` and ``widgets`` (the rule
editor). Importing this package registers every admin.
"""

from .history import ExclusiveGroupAdmin, MembershipEventAdmin, SegmentSnapshotAdmin
from .segment import SegmentAdmin
from .version import SegmentVersionAdmin

__all__ = [
    "ExclusiveGroupAdmin",
    "MembershipEventAdmin",
    "SegmentAdmin",
    "SegmentSnapshotAdmin",
    "SegmentVersionAdmin",
]
