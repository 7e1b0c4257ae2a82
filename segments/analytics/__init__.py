"""Per-segment analytics (DESIGN section 6, defined once in docs/metrics.md).

Every figure is computed set-based in the database: a handful of statements per page
whatever the number of accounts, and the same statements for one segment or twenty.

Vocabulary (see docs/metrics.md):

* a contract *counts on D* when ``start_date <= D`` and (``D <= end_date`` or its status is
  still ``active``) and its status is not ``cancelled``; an account's *ARR on D* is the sum
  of the ARR of its contracts that count on D;
* a segment's *population as of D* is its membership at the end of D in the configured
  time zone, from MembershipEvent (the current Membership rows when D is today);
* the *window* of D runs from ``S = D - 365 days`` to D; its population P is the members
  at the end of S with ARR on S > 0 (``trailing_12_months``), or, for a segment that began
  after S, every account that has been a member since it began (up to the end of D) with
  ARR on S > 0, its ARR on S read from contract history (``since_created``).

The modules, by job: ``metrics`` (per-segment figures), ``overlap`` (shared members),
``cohorts`` (growth from snapshots, signup-month retention), ``families`` (ARR by
product family), ``cache`` (the analytics
page's cached reads and their scheduled warm-up); ``population`` and ``statements`` hold
the SQL building blocks and the way statements run. This package's names below are its
public interface: callers use them from ``segments.analytics``.
"""

from .cache import cached, default_segments, page_defaults_warm
from .cohorts import (
    DEFAULT_COHORT_MONTHS,
    DEFAULT_GROWTH_DAYS,
    MAX_COHORT_MONTHS,
    Cohort,
    CohortCell,
    CohortTable,
    GrowthPoint,
    cohort_retention,
    segment_growth,
)
from .families import FamilyArr, segment_arr_by_product_family
from .metrics import (
    PopulationKind,
    SegmentFigures,
    SegmentMetrics,
    existing_segment_ids,
    segment_figures,
    segment_metrics,
    segment_metrics_many,
    segments_began_on,
)
from .overlap import MAX_SEGMENTS, Overlap, segment_overlap
from .population import WINDOW_DAYS, end_of_day, window_start
from .statements import run_concurrently

__all__ = [
    "DEFAULT_COHORT_MONTHS",
    "DEFAULT_GROWTH_DAYS",
    "MAX_COHORT_MONTHS",
    "MAX_SEGMENTS",
    "WINDOW_DAYS",
    "Cohort",
    "FamilyArr",
    "CohortCell",
    "CohortTable",
    "GrowthPoint",
    "Overlap",
    "PopulationKind",
    "SegmentFigures",
    "SegmentMetrics",
    "cached",
    "cohort_retention",
    "default_segments",
    "end_of_day",
    "existing_segment_ids",
    "page_defaults_warm",
    "run_concurrently",
    "segment_arr_by_product_family",
    "segment_figures",
    "segment_growth",
    "segment_metrics",
    "segment_metrics_many",
    "segment_overlap",
    "segments_began_on",
    "window_start",
]
