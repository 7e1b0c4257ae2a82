"""The calendar slide: after the day changes, every active segment whose rule (or ranking)
depends on "today" (a relative date operator, a usage window, any computed field) is
recomputed, even when no data changed. The usage window values the segments read are slid
to the new day first (so the recompute reads them rather than aggregating the daily
table), the other metrics' after the recompute."""

from datetime import date

from cs_platform import clock
from rules import (
    Computed,
    RuleValidationError,
    node_depends_on_today,
    parse_rule,
    registry,
    rule_field_names,
)
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


def _fields_read_by_active_segments() -> set[str]:
    names: set[str] = set()
    versions = Segment.objects.filter(is_active=True, current_version__isnull=False).values_list(
        "current_version__rule", "current_version__rank_by"
    )
    for rule, rank_by in versions:
        names.update(rule_field_names(rule))
        if rank_by:
            names.add(rank_by)
    return names


def segments_recompute_date_dependent(*, today: date | None = None) -> RecomputeAllResult:
    """Slide the usage window values the active segments read to ``today``, recompute the
    active segments whose membership can change with the date alone, then slide the
    other metrics' window values."""
    today = today or clock.today()
    usage_features_slide(today=today, fields=_fields_read_by_active_segments())
    attributes = attribute_specs()
    result = segments_recompute_all(
        today=today, only=lambda segment: segment_depends_on_today(segment, attributes)
    )
    usage_features_slide(today=today)
    return result
