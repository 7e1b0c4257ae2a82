"""The SVG charts are valid XML, escape their text and draw what they are given."""

import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

from segments import charts

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & Co'


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_line_chart_draws_one_polyline_per_series_and_escapes_names():
    # Given two series, one named with markup
    series = [
        charts.LineSeries(HOSTILE, [(date(2026, 1, 1), 10), (date(2026, 2, 1), Decimal("20"))]),
        charts.LineSeries("Mid-market", [(date(2026, 1, 15), 5)]),
    ]

    # When
    svg = charts.line_chart(series, title="Growth <members>")

    # Then the SVG parses, holds the raw text only as text, and draws both series
    root = parse(svg)
    assert "<script>" not in svg
    assert root.find(f"{SVG}title").text == "Growth <members>"
    assert len(root.findall(f".//{SVG}polyline")) == 2
    # every point of a short series gets a dot in its series' colour
    circles = root.findall(f".//{SVG}circle")
    assert [c.get("fill") for c in circles] == [charts.color(0)] * 2 + [charts.color(1)]
    line_titles = [p.find(f"{SVG}title").text for p in root.iter(f"{SVG}polyline")]
    assert line_titles[0] == f"{HOSTILE}: 20 on 2026-02-01"
    assert "2026-01-01" in texts(root)


def test_bar_chart_draws_a_bar_per_known_value_and_marks_missing_ones():
    # Given two segments and two series, one value unknown
    svg = charts.bar_chart(
        ["Enterprise", HOSTILE],
        [
            charts.BarSeries("NRR", [Decimal("1.05"), Decimal("0.9")]),
            charts.BarSeries("GRR", [Decimal("0.95"), None]),
        ],
        title="Retention",
        value_format=charts.format_percent,
    )

    # Then
    root = parse(svg)
    assert len(root.findall(f".//{SVG}rect")) == 3 + 2  # bars + legend swatches
    swatches = [r.get("fill") for r in root.iter(f"{SVG}rect") if r.get("class") == "legend-key"]
    bars = [r.get("fill") for r in root.iter(f"{SVG}rect") if r.get("class") != "legend-key"]
    assert swatches == [charts.color(0), charts.color(1)]
    assert bars == [charts.color(0), charts.color(1), charts.color(0)]
    assert "105.0%" in texts(root)
    assert "n/a" in texts(root)


def test_heatmap_shades_cells_and_leaves_unknown_ones_blank():
    svg = charts.heatmap(
        ["2026-01", "2026-02"],
        ["0", "1"],
        [[Decimal("1"), Decimal("0.5")], [Decimal("1"), None]],
        title="Logo retention",
        value_format=charts.format_percent,
        max_value=1,
    )
    root = parse(svg)
    rects = root.findall(f".//{SVG}rect")
    assert len(rects) == 3
    assert rects[0].get("fill") == "#0072b2"  # the top of the scale
    assert "50.0%" in texts(root)


def test_charts_with_no_data_say_so():
    for svg in (
        charts.line_chart([], title="Empty"),
        charts.bar_chart([], [], title="Empty"),
        charts.heatmap([], [], [], title="Empty"),
    ):
        assert "No data" in texts(parse(svg))


def test_formatters():
    assert charts.format_money(Decimal("1234567")) == "$1.2M"
    assert charts.format_money(950) == "$950"
    assert charts.format_percent(Decimal("0.9312")) == "93.1%"


def test_legends_match_their_series_beyond_the_palette():
    # Given more series than the palette has colours
    series = [
        charts.LineSeries(f"S{i}", [(date(2026, 1, 1), i), (date(2026, 2, 1), i + 1)])
        for i in range(10)
    ]

    # When drawn
    root = parse(charts.line_chart(series, title="Many", y_label="Members"))

    # Then each legend key has its line's colour and dash, and no two series look alike
    keys = {
        k.get("data-series"): k for k in root.iter(f"{SVG}line") if k.get("class") == "legend-key"
    }
    lines = {p.get("data-series"): p for p in root.iter(f"{SVG}polyline")}
    looks = set()
    for index, line in lines.items():
        key = keys[index]
        assert (key.get("stroke"), key.get("stroke-dasharray")) == (
            line.get("stroke"),
            line.get("stroke-dasharray"),
        )
        looks.add((line.get("stroke"), line.get("stroke-dasharray")))
    assert len(looks) == 10
    # and both axes have a title
    assert {"Members", "Date"} <= {
        t.text for t in root.iter(f"{SVG}text") if t.get("class") == "axis-title"
    }


def test_chart_text_is_never_below_13_px():
    svgs = [
        charts.line_chart([charts.LineSeries("A", [(date(2026, 1, 1), 1)])], title="t"),
        charts.bar_chart(["A"], [charts.BarSeries("x", [1])], title="t"),
        charts.heatmap(["A"], ["Long column name"], [[1]], title="t"),
    ]
    for svg in svgs:
        root = parse(svg)
        assert root.get("font-size") == "13"
        sizes = [t.get("font-size") for t in root.iter(f"{SVG}text") if t.get("font-size")]
        assert all(float(size) >= 13 for size in sizes)
        # shown at its own size: nothing scales it down
        assert "max-width" not in (root.get("style") or "")


def test_heatmap_cells_and_bars_link_to_their_accounts():
    root = parse(
        charts.heatmap(
            ["A", "B"],
            ["A", "B"],
            [[1, 2], [2, 3]],
            title="t",
            links=[["/a", "/ab"], ["/ab", "/b"]],
        )
    )
    assert [a.get("href") for a in root.iter(f"{SVG}a")] == ["/a", "/ab", "/ab", "/b"]
    root = parse(
        charts.bar_chart(["A"], [charts.BarSeries("x", [1])], title="t", links=["/x?a=1&b=2"])
    )
    assert {a.get("href") for a in root.iter(f"{SVG}a")} == {"/x?a=1&b=2"}
