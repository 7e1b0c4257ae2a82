"""The health engine (DESIGN 12, docs/health.md): every account's score computed
set-based in the database from the scorecards' definitions, and the diff against the
stored current health written with its history rows."""

from .run import HealthRunResult, health_recompute
from .targets import MEASURE_SCALE, targets_fill

__all__ = ["MEASURE_SCALE", "HealthRunResult", "health_recompute", "targets_fill"]
