"""Server-rendered SVG charts: geometry, escaping, empty states, the data-table alternative."""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest
from flask import render_template_string

from lti_tool.render.charts import (
    NO_DATA, STRIP_LABELS, Series, bar_chart, engagement_strip, fmt_clock, fmt_minutes, fmt_number,
    fmt_percent, funnel_chart, line_chart, nice_ticks, share_bar, timeline_heatmap,
)

NS = {"svg": "http://www.w3.org/2000/svg"}
HOSTILE = """<script>alert("x")</script> & 'quoted' "title\""""


def parse(chart) -> ET.Element:
    """The chart's SVG as XML (fails unless well-formed)."""
    return ET.fromstring(str(chart.svg))


def all_text(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("{%s}text" % NS["svg"])]


def by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter("{%s}%s" % (NS["svg"], tag)) if cls in e.get("class", "").split()]


def path_points(d: str) -> list[list[tuple[float, float]]]:
    """Subpaths of an M/L path as lists of (x, y)."""
    subpaths = []
    for command, x, y in re.findall(r"([ML])(-?[\d.]+) (-?[\d.]+)", d):
        if command == "M":
            subpaths.append([])
        subpaths[-1].append((float(x), float(y)))
    return subpaths


def grid_y(root: ET.Element) -> dict[str, float]:
    """Tick label -> y of its grid line."""
    grid = root.find("svg:g[@class='chart-grid']", NS)
    lines = grid.findall("svg:line", NS)
    labels = grid.findall("svg:text", NS)
    return {label.text: float(line.get("y1")) for line, label in zip(lines, labels)}


def assert_accessible_svg(chart) -> ET.Element:
    root = parse(chart)
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert re.fullmatch(r"0 0 [\d.]+ [\d.]+", root.get("viewBox"))
    title_id, desc_id = root.get("aria-labelledby").split()
    title, desc = root.find("svg:title", NS), root.find("svg:desc", NS)
    assert (title.get("id"), desc.get("id")) == (title_id, desc_id)
    assert title.text == chart.title
    assert desc.text
    return root


# -- formatting and scales -------------------------------------------------------------------

@pytest.mark.parametrize(("value", "text"), [
    (1234, "1,234"), (12.5, "12.5"), (1234567.0, "1,234,567"), (0, "0"), (0.25, "0.25"), (None, "—"),
])
def test_fmt_number(value, text):
    assert fmt_number(value) == text


def test_fmt_percent_minutes_and_clock():
    assert fmt_percent(40) == "40%"
    assert fmt_percent(200 / 3) == "66.7%"
    assert fmt_minutes(12.5) == "12.5 min"
    assert fmt_minutes(1234) == "1,234 min"
    assert (fmt_clock(0), fmt_clock(75), fmt_clock(3725)) == ("0:00", "1:15", "1:02:05")


@pytest.mark.parametrize("high", [1, 3, 7, 10, 51, 100, 101, 999, 12_345, 0.37, 87.5])
def test_ticks_start_at_zero_and_take_round_steps(high):
    ticks = nice_ticks(0, high)
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert ticks[0] == 0 and ticks[-1] >= high
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5))
    assert all(math.isclose(b - a, step) for a, b in zip(ticks, ticks[1:]))
    assert 2 <= len(ticks) - 1 <= 5


def test_integer_ticks_are_whole_numbers():
    assert nice_ticks(0, 3, integer=True) == (0, 1, 2, 3)
    assert all(float(t).is_integer() for t in nice_ticks(0, 7, integer=True))


# -- line chart ------------------------------------------------------------------------------

def test_line_maps_values_to_the_plot_area():
    chart = line_chart("Plays", ["Mon", "Tue", "Wed"], [Series("Plays", (0, 50, 100))])
    root = assert_accessible_svg(chart)
    ys = grid_y(root)
    assert list(ys) == ["0", "20", "40", "60", "80", "100"]  # round ticks, 0 first
    (points,) = path_points(by_class(root, "path", "chart-line")[0].get("d"))
    bottom, top = ys["0"], ys["100"]
    assert [y for _, y in points] == pytest.approx([bottom, (bottom + top) / 2, top], abs=0.1)
    xs = [x for x, _ in points]
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=0.15)  # coordinates are rounded to 0.1
    assert by_class(root, "g", "chart-legend") == []  # one series: no legend
    assert chart.headers == ("Period", "Plays")
    assert chart.rows == (("Mon", "0"), ("Tue", "50"), ("Wed", "100"))


def test_compare_series_is_dashed_and_named_in_a_legend():
    chart = line_chart("Plays", ["a", "b"], [Series("This period", (3, 4)), Series("Previous period", (1, 2), "compare")])
    root = assert_accessible_svg(chart)
    primary, = [p for p in by_class(root, "path", "chart-line") if "primary" in p.get("class")]
    compare, = [p for p in by_class(root, "path", "chart-line") if "compare" in p.get("class")]
    assert primary.get("stroke-dasharray") is None
    assert compare.get("stroke-dasharray")
    assert primary.get("stroke") != compare.get("stroke")
    legend = by_class(root, "g", "chart-legend")[0]
    assert ["".join(t.itertext()) for t in legend.iter("{%s}text" % NS["svg"])] == ["This period", "Previous period"]
    assert chart.headers == ("Period", "This period", "Previous period")
    assert chart.rows == (("a", "3", "1"), ("b", "4", "2"))


def test_none_values_leave_gaps():
    labels = [f"d{i}" for i in range(40)]
    values = [10.0] * 40
    values[5] = None  # a gap between two runs
    values[20] = values[22] = None  # leaves 21 on its own: drawn as a dot
    chart = line_chart("Minutes", labels, [Series("Minutes", tuple(values))], value_format=fmt_minutes)
    root = parse(chart)
    subpaths = path_points(by_class(root, "path", "chart-line")[0].get("d"))
    assert [len(s) for s in subpaths] == [5, 14, 17]
    dots = by_class(root, "circle", "chart-point")
    assert len(dots) == 1 and dots[0].find("svg:title", NS).text == "Minutes, d21: 10 min"
    assert chart.rows[5] == ("d5", "—")
    assert chart.rows[6] == ("d6", "10 min")


def test_x_labels_are_thinned_so_they_do_not_overlap():
    labels = [f"2026-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29)]  # 336 labels
    chart = line_chart("Plays", labels, [Series("Plays", tuple(range(len(labels))))])
    root = parse(chart)
    shown = root.find("svg:g[@class='chart-x-labels']", NS).findall("svg:text", NS)
    xs = [float(t.get("x")) for t in shown]
    assert 3 <= len(shown) < 20
    assert shown[0].text == labels[0]
    label_width = len(labels[0]) * 11 * 0.58
    assert min(b - a for a, b in zip(xs, xs[1:])) > label_width
    assert len(chart.rows) == len(labels)  # the table keeps every point


@pytest.mark.parametrize(("labels", "values"), [([], ()), (["a", "b", "c"], (0, 0, 0)), (["a", "b"], (None, None))])
def test_empty_line_chart_says_no_data(labels, values):
    chart = line_chart("Plays", labels, [Series("Plays", values)])
    root = assert_accessible_svg(chart)
    assert NO_DATA in all_text(root)
    assert by_class(root, "path", "chart-line") == []
    assert len(chart.rows) == len(labels)


def test_series_length_must_match_labels():
    with pytest.raises(ValueError):
        line_chart("Plays", ["a", "b"], [Series("Plays", (1,))])


# -- bar chart -------------------------------------------------------------------------------

def test_bar_widths_are_proportional_and_long_labels_are_cut():
    long_label = "Lecture 12: an unusually long title that cannot fit beside its bar in the chart"
    items = [(long_label, 400), ("Week 2", 200), ("Week 3", 100), ("Week 4", 0)]
    chart = bar_chart("Top videos", items, label_header="Media", value_header="Plays")
    root = assert_accessible_svg(chart)
    widths = [float(r.get("width")) for r in by_class(root, "rect", "chart-bar")]
    assert widths[1] / widths[0] == pytest.approx(0.5, abs=0.01)
    assert widths[2] / widths[0] == pytest.approx(0.25, abs=0.01)
    assert widths[3] == 0
    labels = [t.text for t in by_class(root, "text", "chart-label")]
    assert labels[0].endswith("…") and long_label.startswith(labels[0][:-1])
    assert labels[1:] == ["Week 2", "Week 3", "Week 4"]
    assert [t.text for t in by_class(root, "text", "chart-value")] == ["400", "200", "100", "0"]
    first_row = by_class(root, "g", "chart-bar-row")[0]
    assert first_row.find("svg:title", NS).text == f"{long_label}: 400"  # full label on hover
    assert chart.headers == ("Media", "Plays")
    assert chart.rows == ((long_label, "400"), ("Week 2", "200"), ("Week 3", "100"), ("Week 4", "0"))


def test_vertical_bars_are_proportional():
    chart = bar_chart("Countries", [("US", 90), ("CA", 30)], horizontal=False)
    root = assert_accessible_svg(chart)
    heights = [float(r.get("height")) for r in by_class(root, "rect", "chart-bar")]
    assert heights[1] / heights[0] == pytest.approx(1 / 3, abs=0.01)


@pytest.mark.parametrize("items", [[], [("a", 0), ("b", 0)]])
def test_empty_bar_chart_says_no_data(items):
    assert NO_DATA in all_text(assert_accessible_svg(bar_chart("Top videos", items)))


# -- funnel ----------------------------------------------------------------------------------

def test_funnel_shows_counts_and_share_of_first_step():
    steps = [("Player impressions", 1200), ("Plays", 800), ("Reached 25%", 600), ("Reached 50%", 300),
             ("Reached 75%", 150), ("Reached 100%", 0)]
    chart = funnel_chart("How impressions lead to engagement", steps)
    root = assert_accessible_svg(chart)
    assert [t.text for t in by_class(root, "text", "chart-value")] == [
        "1,200 (100%)", "800 (66.7%)", "600 (50%)", "300 (25%)", "150 (12.5%)", "0 (0%)"]
    widths = [float(r.get("width")) for r in by_class(root, "rect", "funnel-bar")]
    assert widths[3] / widths[0] == pytest.approx(0.25, abs=0.01)
    assert len(by_class(root, "polygon", "funnel-connector")) == 5
    assert chart.headers == ("Step", "Count", "% of first step", "% of previous step")
    assert chart.rows[0] == ("Player impressions", "1,200", "100%", "—")
    assert chart.rows[2] == ("Reached 25%", "600", "50%", "75%")


def test_empty_funnel_says_no_data():
    chart = funnel_chart("Funnel", [("Player impressions", 0), ("Plays", 0)])
    assert NO_DATA in all_text(assert_accessible_svg(chart))
    assert chart.rows[1] == ("Plays", "0", "—", "—")


# -- share bar -------------------------------------------------------------------------------

def test_share_bar_parts_fill_the_track_and_show_counts_on_hover():
    parts = [("Desktop", 333), ("Tablet", 333), ("Mobile", 334), ("Other", 0)]
    chart = share_bar("Devices overview", parts, label_header="Device")
    root = assert_accessible_svg(chart)
    track, = by_class(root, "rect", "share-track")
    segments = by_class(root, "rect", "share-segment")
    assert len(segments) == 3  # nothing drawn for a part with no plays
    assert sum(float(s.get("width")) for s in segments) == pytest.approx(float(track.get("width")), abs=1e-6)
    assert float(segments[0].get("x")) == pytest.approx(float(track.get("x")))
    assert [s.find("svg:title", NS).text for s in segments] == [
        "Desktop: 333 (33.3%)", "Tablet: 333 (33.3%)", "Mobile: 334 (33.4%)"]
    legend = [t.text for t in by_class(root, "text", "chart-legend-label")]
    assert legend[-1] == "Other 0% (0)"
    assert chart.headers == ("Device", "Count", "Share")
    assert chart.rows == (("Desktop", "333", "33.3%"), ("Tablet", "333", "33.3%"),
                          ("Mobile", "334", "33.4%"), ("Other", "0", "0%"))


def test_empty_share_bar_says_no_data():
    assert NO_DATA in all_text(assert_accessible_svg(share_bar("Devices", [("Desktop", 0)])))


# -- heatmaps --------------------------------------------------------------------------------

def test_timeline_heatmap_has_101_points_and_a_time_axis():
    plays = [100 - p for p in range(101)]
    viewers = [50 - p // 2 for p in range(101)]
    chart = timeline_heatmap("Where people watch", plays, viewers, duration_seconds=600)
    root = assert_accessible_svg(chart)
    (line,) = path_points(by_class(root, "path", "viewers")[0].get("d"))
    (area,) = path_points(by_class(root, "path", "plays")[0].get("d").rstrip("Z"))
    assert len(line) == 101
    assert len(area) == 103  # 101 points closed down to the axis at both ends
    ys = grid_y(root)
    assert area[1][1] == pytest.approx(ys["100"], abs=0.1)  # 100 plays at the start, at the top
    assert area[-2][1] == pytest.approx(ys["0"], abs=0.1)
    x_labels = [t.text for t in root.find("svg:g[@class='chart-x-labels']", NS).findall("svg:text", NS)]
    assert x_labels[0] == "0:00" and x_labels[-1] == "10:00"
    assert all(re.fullmatch(r"\d+:\d\d", label) for label in x_labels)
    assert chart.headers == ("Position", "Time", "Plays", "Viewers")
    assert len(chart.rows) == 101
    assert chart.rows[50] == ("50%", "5:00", "50", "25")


def test_timeline_heatmap_without_duration_uses_percent():
    chart = timeline_heatmap("Heatmap", [1] * 101, [1] * 101, duration_seconds=None)
    root = parse(chart)
    x_labels = [t.text for t in root.find("svg:g[@class='chart-x-labels']", NS).findall("svg:text", NS)]
    assert x_labels[0] == "0%" and x_labels[-1] == "100%"
    assert chart.headers == ("Position", "Plays", "Viewers")


def test_timeline_heatmap_empty_and_invalid():
    assert NO_DATA in all_text(parse(timeline_heatmap("Heatmap", [], [], duration_seconds=60)))
    assert NO_DATA in all_text(parse(timeline_heatmap("Heatmap", [0] * 101, [0] * 101, duration_seconds=60)))
    with pytest.raises(ValueError):
        timeline_heatmap("Heatmap", [1] * 100, [1] * 100, duration_seconds=60)


def test_engagement_strip_uses_four_shades_and_tells_runs_in_the_table():
    levels = [0] * 10 + [1] * 40 + [2] * 25 + [3] * 20 + [7] * 6  # 7 counts as "3 or more"
    chart = engagement_strip("Ada Lovelace", levels)
    root = assert_accessible_svg(chart)
    cells = by_class(root, "rect", "strip-cell")
    assert [c.get("class") for c in cells] == ["strip-cell strip-0", "strip-cell strip-1", "strip-cell strip-2", "strip-cell strip-3"]
    assert len({c.get("fill") for c in cells}) == 4
    assert sum(float(c.get("width")) for c in cells) == pytest.approx(718, abs=0.2)  # the strip's width
    swatch_classes = {cls for r in by_class(root, "rect", "strip-swatch") for cls in r.get("class").split()}
    assert {"strip-0", "strip-1", "strip-2", "strip-3"} <= swatch_classes
    assert [t.text for t in by_class(root, "text", "chart-legend-label")] == list(STRIP_LABELS)
    assert chart.rows == (("0–9%", "Not viewed"), ("10–49%", "Viewed once"), ("50–74%", "Viewed twice"),
                          ("75–100%", "Viewed 3 times or more"))


def test_engagement_strip_empty_and_invalid():
    assert NO_DATA in all_text(parse(engagement_strip("Nobody", [])))
    with pytest.raises(ValueError):
        engagement_strip("Short", [1] * 50)


# -- escaping, ids ---------------------------------------------------------------------------

def hostile_charts():
    return [
        line_chart(HOSTILE, [HOSTILE, "b"], [Series(HOSTILE, (1, 2)), Series("x", (2, 1), "compare")]),
        bar_chart(HOSTILE, [(HOSTILE, 3)]),
        bar_chart(HOSTILE, [(HOSTILE, 3)], horizontal=False),
        funnel_chart(HOSTILE, [(HOSTILE, 3), ("b", 1)]),
        share_bar(HOSTILE, [(HOSTILE, 3), ("b", 1)]),
        timeline_heatmap(HOSTILE, [1] * 101, [1] * 101, duration_seconds=None),
        engagement_strip(HOSTILE, [1] * 101),
    ]


@pytest.mark.parametrize("index", range(7))
def test_hostile_labels_are_escaped(index):
    chart = hostile_charts()[index]
    assert "<script" not in str(chart.svg)
    root = assert_accessible_svg(chart)
    assert not any(e.tag.endswith("script") for e in root.iter())
    texts = all_text(root) + [t.text for t in root.iter("{%s}title" % NS["svg"])]
    assert any(HOSTILE in (text or "") for text in texts) or any(
        (text or "").endswith("…") and HOSTILE.startswith((text or "")[:-1]) for text in texts)


def test_distinct_charts_get_distinct_ids():
    first = parse(line_chart("Plays", ["a"], [Series("Plays", (1,))]))
    second = parse(line_chart("Plays", ["a"], [Series("Plays", (2,))]))
    assert first.get("aria-labelledby") != second.get("aria-labelledby")


# -- the macro -------------------------------------------------------------------------------

def test_macro_renders_figure_caption_and_data_table(app):
    chart = funnel_chart("Impressions & engagement", [("Player impressions", 10), ("Plays", 5)])
    with app.test_request_context():
        html = render_template_string(
            '{% from "_partials/chart.html" import chart %}{{ chart(c, "funnel-chart") }}', c=chart)
    figure = ET.fromstring(html)  # the macro's output is well-formed markup too
    assert figure.tag == "figure" and figure.get("id") == "funnel-chart" and "chart" in figure.get("class")
    assert figure.find("figcaption").text == "Impressions & engagement"
    svg = figure.find(".//svg:svg", NS)
    assert svg is not None and svg.get("role") == "img"
    details = figure.find("details")
    assert details.find("summary").text == "Show the data as a table"
    table = details.find(".//table")
    assert "Impressions & engagement" in table.find("caption").text
    column_headers = table.findall("thead/tr/th")
    assert [th.text for th in column_headers] == list(chart.headers)
    assert {th.get("scope") for th in column_headers} == {"col"}
    body_rows = table.findall("tbody/tr")
    assert [[th.text for th in tr.findall("th")] for tr in body_rows] == [["Player impressions"], ["Plays"]]
    assert all(tr.find("th").get("scope") == "row" for tr in body_rows)
    assert [[td.text for td in tr.findall("td")] for tr in body_rows] == [["10", "100%", "—"], ["5", "50%", "50%"]]


def test_macro_says_no_data_for_an_empty_table(app):
    chart = bar_chart("Top videos", [])
    with app.test_request_context():
        html = render_template_string('{% from "_partials/chart.html" import chart %}{{ chart(c, "top") }}', c=chart)
    figure = ET.fromstring(html)
    (row,) = figure.findall(".//tbody/tr")
    assert row.find("td").text == "No data" and row.find("td").get("colspan") == "2"
