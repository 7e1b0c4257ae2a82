"""The account page's health trend chart: one step per change, a gap where the score is
null, thresholds as bands, text escaped."""

from datetime import date

from workspace.health_charts import health_trend_chart

START, END = date(2025, 11, 22), date(2026, 11, 22)


def test_one_point_per_change_and_a_gap_where_the_score_is_null():
    history = [
        {"day": "2025-11-22", "score": 55, "status": "yellow"},
        {"day": "2026-03-01", "score": None, "status": None},
        {"day": "2026-06-01", "score": 20, "status": "red"},
        {"day": "2026-09-01", "score": 80, "status": "green"},
    ]

    svg = str(health_trend_chart(history, start=START, end=END, red_below=30, green_from=75))

    points = svg.split('class="health-change"')[1:]
    assert len(points) == 3
    assert svg.count("<path ") == 2  # before the gap, and after it
    assert "2026-06-01: 20 (red)" in svg
    # the bands follow the scorecard's thresholds: labels 0, 30, 75, 100 on the axis
    assert all(f">{label}</text>" in svg for label in (0, 30, 75, 100))


def test_no_history_says_so():
    svg = str(health_trend_chart([], start=START, end=END))

    assert "No history" in svg and 'role="img"' in svg
