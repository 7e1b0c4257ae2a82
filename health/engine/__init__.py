"""The health engine (DESIGN 12, docs/health.md): every account's score computed
set-based in the database from the scorecards' definitions, and the diff against the
stored current health written with its history rows."""

from .as_of import per_row_day
from .run import HealthRunResult, health_recompute
from .targets import MEASURE_SCALE, UNSAVED_ID, Target, spec_id, target_select, work_tables_ensure

__all__ = [
    "MEASURE_SCALE",
    "UNSAVED_ID",
    "Target",
    "HealthRunResult",
    "health_recompute",
    "per_row_day",
    "spec_id",
    "target_select",
    "work_tables_ensure",
]
