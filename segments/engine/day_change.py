"""The calendar slide: after the day changes, every active segment whose rule (or ranking)
depends on "today" (a relative date operator, a usage window, any computed field) is
recomputed, even when no data changed. The usage window values are slid to the new day
first, so the recompute reads them rather than aggregating the daily table."""

from datetime import date

from rules import Computed, RuleValidationError, node_depends_on_today, parse_rule, registry
from usage.features import usage_features_slide

from ..models import Segment
from .recompute_all import RecomputeAllResult, segments_recompute_all
from .targets import attribute_specs


def segment_depends_on_today(segment: Segment, attributes: dict) -> bool:
    version = segment.current_version
    if version is None:
        return False
    if version.rank_by:
        ranking = registry.get(version.rank_by, attributes)
        if ranking is not None and isinstance(ranking.source, Computed):
            return True
    try:
        return node_depends_on_today(parse_rule(version.rule, attributes=attributes))
    except RuleValidationError:
        return False  # the recompute keeps such a segment's membership anyway


def segments_recompute_date_dependent(*, today: date | None = None) -> RecomputeAllResult:
    """Slide the usage window values to ``today``, then recompute the active segments
    whose membership can change with the date alone."""
    usage_features_slide(today=today)
    attributes = attribute_specs()
    return segments_recompute_all(
        today=today, only=lambda segment: segment_depends_on_today(segment, attributes)
    )
