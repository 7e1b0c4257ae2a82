"""The health engine (DESIGN 12, docs/health.md): every account's score computed
set-based in the database from the scorecards' definitions, and the diff against the
stored current health written with its history rows."""

from .run import HealthRunResult, health_recompute
from .targets import MEASURE_SCALE, TARGET_TABLE, target_insert, targets_fill, work_tables_ensure

__all__ = [
    "MEASURE_SCALE",
    "TARGET_TABLE",
    "HealthRunResult",
    "health_recompute",
    "target_insert",
    "targets_fill",
    "work_tables_ensure",
]
