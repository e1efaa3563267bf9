"""Charts drawn on the server as inline SVG: no script, no chart library, the same in the Canvas
iframe and in WeasyPrint PDFs.

Every function is pure: it computes the geometry and returns a frozen `Chart` holding the finished
`<svg>` and the same numbers as a table (the accessible alternative the `chart` macro in
`_partials/chart.html` renders under the drawing). Every label that reaches the SVG is escaped.

Each shape carries a CSS class (so the page's stylesheet may restyle it) and explicit
stroke/fill attributes (so it looks right without that stylesheet, as in a PDF). Colours meet
WCAG AA non-text contrast (3:1) against white; a comparison series is also dashed, so it can be
told apart without colour. Coordinates are rounded to 0.1 to keep the markup small.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
FONT_FAMILY = "Lato, Helvetica Neue, Arial, sans-serif"
FONT_SIZE = 12
SMALL_FONT_SIZE = 11
# Average advance of a character, in em, for a sans-serif face: used to estimate text widths,
# since the server cannot measure text. Slightly generous so estimates err towards "too wide".
CHARACTER_EM = 0.58

INK = "#1f2933"        # 14:1 on white
MUTED_INK = "#52606d"  # 6.4:1
GRID = "#e4e9f0"       # decorative only
AXIS = "#7b8794"       # 3.9:1
# Series colours, each at least 4.5:1 on white and white text on them at least 4.5:1.
SERIES_COLOURS = ("#1d4ed8", "#b45309", "#047857", "#7e22ce", "#be123c", "#0e7490")
COMPARE_COLOUR = "#6b7280"  # 4.8:1; compare series are also dashed
COMPARE_DASHES = ("6 4", "2 3", "10 3 2 3")
AREA_FILL = "#bfdbfe"
CONNECTOR_FILL = "#dbeafe"
# Engagement strip shades for not viewed / once / twice / three times or more.
STRIP_SHADES = ("#f1f5f9", "#93c5fd", "#2563eb", "#1e3a8a")
STRIP_LABELS = ("Not viewed", "Viewed once", "Viewed twice", "Viewed 3 times or more")
NO_VALUE = "—"
NO_DATA = "No data"


@dataclass(frozen=True)
class Series:
    name: str                          # legend label, e.g. "Plays" or "Previous period"
    values: tuple[float | None, ...]   # one per x label; None = no data (a gap in the line)
    role: str = "primary"              # "primary" or "compare" (drawn dashed, in grey)


@dataclass(frozen=True)
class Chart:
    svg: Markup                        # a complete <svg role="img"> labelled by its <title> and <desc>
    title: str
    headers: tuple[str, ...]           # the data-table alternative: column headers ...
    rows: tuple[tuple[str, ...], ...]  # ... and rows, first cell of each row its header


# -- formatting ------------------------------------------------------------------------------

def fmt_number(value: float | None) -> str:
    """1234 -> "1,234", 12.5 -> "12.5", 0.25 -> "0.25"; None -> "—"."""
    if value is None or not math.isfinite(value):
        return NO_VALUE
    if float(value).is_integer():
        return f"{int(value):,}"
    digits = 1 if abs(value) >= 1 else 2
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def fmt_percent(value: float | None) -> str:
    """A percentage given as 0-100: 40 -> "40%", 66.666 -> "66.7%"."""
    if value is None or not math.isfinite(value):
        return NO_VALUE
    return f"{fmt_number(round(value, 1))}%"


def fmt_minutes(value: float | None) -> str:
    """Minutes: 12.5 -> "12.5 min", 1234 -> "1,234 min"."""
    if value is None or not math.isfinite(value):
        return NO_VALUE
    return f"{fmt_number(round(value, 1))} min"


def fmt_clock(seconds: float) -> str:
    """A position in the media, in seconds: 75 -> "1:15", 3725 -> "1:02:05"."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# -- scales ----------------------------------------------------------------------------------

def nice_ticks(low: float, high: float, *, integer: bool = False, max_steps: int = 5) -> tuple[float, ...]:
    """Round axis ticks covering low..high and always 0: steps of 1, 2, 2.5 or 5 times a power of
    ten, at most `max_steps` of them. With `integer`, steps are whole numbers (counts)."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        high = low + (1 if integer else 1.0)
    span = high - low
    exponent = math.floor(math.log10(span / max_steps))
    while True:
        for factor in (1, 2, 2.5, 5):
            step = factor * 10.0 ** exponent
            if integer and (step < 1 or not float(round(step, 9)).is_integer()):
                continue
            first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
            if last - first <= max_steps:
                decimals = max(0, 1 - exponent)
                return tuple(round(i * step, decimals) for i in range(first, last + 1))
        exponent += 1


def _n(value: float) -> str:
    """A coordinate rounded to 0.1, without a trailing ".0"."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _text_width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * size * CHARACTER_EM


def _truncate(text: str, max_width: float, size: float = FONT_SIZE) -> str:
    """`text`, cut with an ellipsis so that it fits in `max_width`."""
    if _text_width(text, size) <= max_width + 0.01:
        return text
    fit = max(1, int(max_width / (size * CHARACTER_EM)) - 1)
    return text[:fit].rstrip() + "…"


def _cell(value: float | None, value_format: Callable[[float], str]) -> str:
    return NO_VALUE if value is None else value_format(value)


def _share(part: float, whole: float) -> float | None:
    """Percent 0-100, or None when the whole is 0."""
    return None if not whole else 100.0 * part / whole


# -- SVG pieces ------------------------------------------------------------------------------

def _attrs(**attributes: object) -> str:
    """SVG attributes from keywords (`class_` -> class, `stroke_width` -> stroke-width); None is
    left out, numbers are rounded to 0.1, everything else escaped."""
    parts = []
    for name, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, (int, float)):
            value = _n(value)
        parts.append(f' {name.rstrip("_").replace("_", "-")}="{escape(value)}"')
    return "".join(parts)


def _el(tag: str, children: str = "", **attributes: object) -> str:
    """One SVG element; `children` is markup already escaped."""
    return f"<{tag}{_attrs(**attributes)}>{children}</{tag}>" if children else f"<{tag}{_attrs(**attributes)}/>"


def _text(x: float, y: float, content: str, *, cls: str, anchor: str = "start", size: float = FONT_SIZE,
          fill: str = INK, weight: str | None = None) -> str:
    """A <text>; the defaults (start, 12, ink) are inherited from the <svg> and not repeated."""
    return _el("text", str(escape(content)), class_=cls, x=x, y=y, text_anchor=None if anchor == "start" else anchor,
               font_size=None if size == FONT_SIZE else size, fill=None if fill == INK else fill, font_weight=weight)


def _hover(content: str) -> str:
    return f"<title>{escape(content)}</title>"


def _chart_id(kind: str, title: str, headers: tuple, rows: tuple, size: tuple) -> str:
    """A stable id for the <title>/<desc> references, distinct for distinct charts on one page."""
    digest = hashlib.blake2s(repr((kind, title, headers, rows, size)).encode(), digest_size=5).hexdigest()
    return f"chart-{digest}"


def _finish(kind: str, title: str, description: str, width: float, height: float, body: Sequence[str],
            headers: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> Chart:
    chart_id = _chart_id(kind, title, headers, rows, (width, height))
    svg = (f'<svg xmlns="{SVG_NAMESPACE}" class="chart-svg chart-{kind}" role="img"'
           f' aria-labelledby="{chart_id}-title {chart_id}-desc"'
           f' viewBox="0 0 {_n(width)} {_n(height)}" width="100%" preserveAspectRatio="xMinYMin meet"'
           f' font-family="{FONT_FAMILY}" font-size="{FONT_SIZE}" fill="{INK}">'
           f'<title id="{chart_id}-title">{escape(title)}</title>'
           f'<desc id="{chart_id}-desc">{escape(description)}</desc>'
           + "".join(body) + "</svg>")
    return Chart(svg=Markup(svg), title=title, headers=headers, rows=rows)


def _no_data(width: float, height: float) -> list[str]:
    return [
        _el("rect", class_="chart-empty-frame", x=0.5, y=0.5, width=width - 1, height=height - 1, rx=4,
            fill="#ffffff", stroke=GRID),
        _text(width / 2, height / 2 + 4, NO_DATA, cls="chart-empty", anchor="middle", fill=MUTED_INK),
    ]


def _legend(items: Sequence[tuple[tuple[str, float], str]], *, x: float, y: float,
            width: float) -> tuple[list[str], float]:
    """Legend entries ((swatch markup drawn from the origin, 12 high; its width), label), laid out
    in rows starting at (x, y) and wrapping before `width`. Returns the markup and the height used."""
    body, cursor, row = ['<g class="chart-legend">'], x, 0
    for (swatch, swatch_width), label in items:
        label_x = swatch_width + 6
        item_width = label_x + _text_width(label) + 16
        if cursor > x and cursor + item_width > width:
            cursor, row = x, row + 1
        top = y + row * 20
        body.append(f'<g transform="translate({_n(cursor)} {_n(top)})">{swatch}'
                    + _text(label_x, 10, label, cls="chart-legend-label") + "</g>")
        cursor += item_width
    body.append("</g>")
    return body, (row + 1) * 20


def _line_swatch(colour: str, dash: str | None, role: str) -> tuple[str, float]:
    return _el("line", class_=f"chart-line {role}", x1=0, y1=6, x2=20, y2=6, stroke=colour, stroke_width=2.5,
               stroke_dasharray=dash), 20


def _box_swatch(fill: str, cls: str) -> tuple[str, float]:
    return _el("rect", class_=cls, x=0, y=0, width=12, height=12, fill=fill, stroke=AXIS, stroke_width=0.5), 12


def _tick_label(x: float, y: float, label: str, *, anchor: str = "middle") -> str:
    return _text(x, y, label, cls="chart-tick", anchor=anchor, size=SMALL_FONT_SIZE, fill=MUTED_INK)


def _x_tick(x: float, axis_y: float, label: str, *, anchor: str = "middle", label_x: float | None = None) -> str:
    """A short tick below the axis at `x` and its label (at `label_x` when given)."""
    return (_el("line", x1=x, y1=axis_y, x2=x, y2=axis_y + 4, stroke=AXIS, stroke_width=1)
            + _tick_label(x if label_x is None else label_x, axis_y + 16, label, anchor=anchor))


def _y_axis(ticks: Sequence[float], labels: Sequence[str], y_of: Callable[[float], float],
            left: float, right: float) -> list[str]:
    body = ['<g class="chart-grid">']
    for tick, label in zip(ticks, labels):
        y = y_of(tick)
        colour = AXIS if tick == 0 else GRID
        body.append(_el("line", x1=left, y1=y, x2=right, y2=y, stroke=colour, stroke_width=1))
        body.append(_tick_label(left - 6, y + 4, label, anchor="end"))
    body.append("</g>")
    return body


# -- charts ----------------------------------------------------------------------------------

def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], *,
               value_format: Callable[[float], str] = fmt_number, width: int = 720, height: int = 240,
               label_header: str = "Period") -> Chart:
    """Values over time, one line per series; a "compare" series (e.g. the previous period) is
    dashed and grey. None values leave a gap. `height` is the whole drawing's."""
    labels = tuple(str(label) for label in labels)
    series = tuple(series)
    for one in series:
        if len(one.values) != len(labels):
            raise ValueError(f"series {one.name!r} has {len(one.values)} values for {len(labels)} labels")
        if one.role not in ("primary", "compare"):
            raise ValueError(f"series {one.name!r} has an unknown role {one.role!r}")
    headers = (label_header, *(one.name for one in series))
    rows = tuple((label, *(_cell(one.values[i], value_format) for one in series))
                 for i, label in enumerate(labels))
    present = [v for one in series for v in one.values if v is not None]
    if not present or all(v == 0 for v in present):
        return _finish("line", title, f"{title}: no data for this period.", width, height,
                       _no_data(width, height), headers, rows)

    styles, primary_index, compare_index = [], 0, 0
    for one in series:
        if one.role == "compare":
            styles.append((COMPARE_COLOUR, COMPARE_DASHES[compare_index % len(COMPARE_DASHES)]))
            compare_index += 1
        else:
            styles.append((SERIES_COLOURS[primary_index % len(SERIES_COLOURS)], None))
            primary_index += 1

    body: list[str] = []
    top = 8
    if len(series) > 1:
        legend, legend_height = _legend(
            [(_line_swatch(colour, dash, one.role), one.name) for one, (colour, dash) in zip(series, styles)],
            x=8, y=4, width=width)
        body += legend
        top += legend_height

    integer = all(float(v).is_integer() for v in present)
    ticks = nice_ticks(min(present), max(present), integer=integer)
    tick_labels = [value_format(t) for t in ticks]
    low, high = ticks[0], ticks[-1]
    widest_x_label = max(_text_width(label, SMALL_FONT_SIZE) for label in labels)
    # The first and last x labels are centred on the ends of the axis: room for half of one on each side.
    left = max(max(_text_width(t, SMALL_FONT_SIZE) for t in tick_labels) + 12, min(60.0, widest_x_label / 2 + 4))
    right = width - max(12.0, min(60.0, widest_x_label / 2 + 4))
    bottom = height - 26
    count = len(labels)

    def x_of(index: int) -> float:
        return left + (right - left) * index / (count - 1) if count > 1 else (left + right) / 2

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * (value - low) / (high - low)

    body += _y_axis(ticks, tick_labels, y_of, left, right)

    # x labels: every `stride`-th, so that labels never overlap.
    slots = max(1, int((right - left) // (widest_x_label + 12)) + 1)
    stride = max(1, math.ceil(count / slots))
    body.append('<g class="chart-x-labels">')
    for i in range(0, count, stride):
        body.append(_x_tick(x_of(i), bottom, labels[i]))
    body.append("</g>")

    # Compare series first, so the current period is drawn on top.
    order = sorted(range(len(series)), key=lambda k: series[k].role != "compare")
    markers_everywhere = count <= 31
    for k in order:
        one, (colour, dash) = series[k], styles[k]
        segments: list[list[int]] = [[]]
        for i, value in enumerate(one.values):
            if value is None:
                if segments[-1]:
                    segments.append([])
            else:
                segments[-1].append(i)
        path = "".join(
            "M" + "L".join(f"{_n(x_of(i))} {_n(y_of(one.values[i]))}" for i in segment)
            for segment in segments if len(segment) > 1)
        body.append(f'<g class="chart-series {one.role}">')
        if path:
            body.append(_el("path", class_=f"chart-line {one.role}", d=path, fill="none", stroke=colour,
                            stroke_width=2.5 if one.role == "primary" else 2, stroke_linejoin="round",
                            stroke_linecap="round", stroke_dasharray=dash))
        for segment in segments:
            if not (markers_everywhere or len(segment) == 1):
                continue
            for i in segment:
                body.append(_el("circle", _hover(f"{one.name}, {labels[i]}: {value_format(one.values[i])}"),
                                class_=f"chart-point {one.role}", cx=x_of(i), cy=y_of(one.values[i]),
                                r=3 if len(segment) == 1 else 2.5, stroke=colour, stroke_width=1.5,
                                fill=colour if one.role == "primary" else "#ffffff"))
        body.append("</g>")

    sentences = [f"{title}: {count} points from {labels[0]} to {labels[-1]}."]
    for one in series:
        known = [(v, labels[i]) for i, v in enumerate(one.values) if v is not None]
        if known:
            best, worst = max(known, key=lambda p: p[0]), min(known, key=lambda p: p[0])
            sentences.append(f"{one.name}: highest {value_format(best[0])} ({best[1]}), "
                             f"lowest {value_format(worst[0])} ({worst[1]}).")
        else:
            sentences.append(f"{one.name}: no data.")
    return _finish("line", title, " ".join(sentences), width, height, body, headers, rows)


def bar_chart(title: str, items: Sequence[tuple[str, float]], *,
              value_format: Callable[[float], str] = fmt_number, width: int = 720, horizontal: bool = True,
              label_header: str = "Name", value_header: str = "Value") -> Chart:
    """Bars in the order given (the caller ranks them), each with its value; bar lengths are
    proportional to the values, the largest filling the space. Long labels are cut with an
    ellipsis in the drawing (the full label shows on hover and in the table)."""
    items = tuple((str(label), value) for label, value in items)
    if any(value < 0 for _, value in items):
        raise ValueError("bar values must not be negative")
    headers = (label_header, value_header)
    rows = tuple((label, value_format(value)) for label, value in items)
    largest = max((value for _, value in items), default=0)
    if not largest:
        return _finish("bar", title, f"{title}: no data.", width, 64, _no_data(width, 64), headers, rows)

    body: list[str] = []
    value_labels = [value_format(value) for _, value in items]
    value_space = max(_text_width(v) for v in value_labels) + 10
    if horizontal:
        row_height, bar_height = 28, 18
        label_space = min(width * 0.38, max(_text_width(label) for label, _ in items) + 12)
        bar_space = width - label_space - value_space - 4
        height = len(items) * row_height + 4
        body.append(_el("line", x1=label_space, y1=0, x2=label_space, y2=height, stroke=AXIS, stroke_width=1))
        for index, ((label, value), shown) in enumerate(zip(items, value_labels)):
            y = 2 + index * row_height + (row_height - bar_height) / 2
            bar_width = bar_space * value / largest
            body.append(_el(
                "g", _hover(f"{label}: {shown}")
                + _text(0, y + bar_height / 2 + 4, _truncate(label, label_space - 12), cls="chart-label")
                + _el("rect", class_="chart-bar", x=label_space, y=y, width=bar_width, height=bar_height,
                      fill=SERIES_COLOURS[0])
                + _text(label_space + bar_width + 6, y + bar_height / 2 + 4, shown, cls="chart-value"),
                class_="chart-bar-row"))
        description = f"{title}: {len(items)} bars; first {items[0][0]} with {value_labels[0]}."
        return _finish("bar", title, description, width, height, body, headers, rows)

    height = 240
    top, bottom = 22, height - 24
    column = width / len(items)
    bar_width = min(48.0, column * 0.6)
    body.append(_el("line", x1=0, y1=bottom, x2=width, y2=bottom, stroke=AXIS, stroke_width=1))
    for index, ((label, value), shown) in enumerate(zip(items, value_labels)):
        centre = column * (index + 0.5)
        bar_height = (bottom - top) * value / largest
        body.append(_el(
            "g", _hover(f"{label}: {shown}")
            + _el("rect", class_="chart-bar", x=centre - bar_width / 2, y=bottom - bar_height, width=bar_width,
                  height=bar_height, fill=SERIES_COLOURS[0])
            + _text(centre, bottom - bar_height - 6, _truncate(shown, column - 2), cls="chart-value", anchor="middle")
            + _text(centre, bottom + 16, _truncate(label, column - 6, SMALL_FONT_SIZE), cls="chart-label",
                    anchor="middle", size=SMALL_FONT_SIZE),
            class_="chart-bar-row"))
    description = f"{title}: {len(items)} columns; first {items[0][0]} with {value_labels[0]}."
    return _finish("bar", title, description, width, height, body, headers, rows)


def funnel_chart(title: str, steps: Sequence[tuple[str, int]], *, width: int = 720) -> Chart:
    """How impressions lead to engagement: one centred bar per step (impressions, plays, 25 %, ...),
    each with its count and its share of the first step; bands between bars show what is lost."""
    steps = tuple((str(label), count) for label, count in steps)
    first = steps[0][1] if steps else 0
    headers = ("Step", "Count", "% of first step", "% of previous step")
    rows = tuple(
        (label, fmt_number(count), fmt_percent(_share(count, first)),
         NO_VALUE if index == 0 else fmt_percent(_share(count, steps[index - 1][1])))
        for index, (label, count) in enumerate(steps))
    largest = max((count for _, count in steps), default=0)
    if not largest:
        return _finish("funnel", title, f"{title}: no data.", width, 64, _no_data(width, 64), headers, rows)

    row_height, bar_height = 36, 24
    value_labels = [f"{fmt_number(count)} ({fmt_percent(_share(count, first))})" if first else fmt_number(count)
                    for _, count in steps]
    label_space = min(width * 0.3, max(_text_width(label) for label, _ in steps) + 12)
    value_space = max(_text_width(v) for v in value_labels) + 12
    bar_space = width - label_space - value_space
    centre = label_space + bar_space / 2
    height = len(steps) * row_height
    body: list[str] = []
    previous: tuple[float, float, float] | None = None  # left, right, bottom of the bar above
    for index, ((label, count), shown) in enumerate(zip(steps, value_labels)):
        y = index * row_height + (row_height - bar_height) / 2
        bar_width = bar_space * count / largest
        left, right = centre - bar_width / 2, centre + bar_width / 2
        if previous is not None:
            points = " ".join(f"{_n(px)},{_n(py)}" for px, py in (
                (previous[0], previous[2]), (previous[1], previous[2]), (right, y), (left, y)))
            body.append(_el("polygon", class_="funnel-connector", points=points, fill=CONNECTOR_FILL))
        body.append(_el(
            "g", _hover(f"{label}: {shown}")
            + _text(0, y + bar_height / 2 + 4, _truncate(label, label_space - 12), cls="chart-label")
            + _el("rect", class_="chart-bar funnel-bar", x=left, y=y, width=bar_width, height=bar_height,
                  fill=SERIES_COLOURS[0])
            + _text(width - value_space + 8, y + bar_height / 2 + 4, shown, cls="chart-value"),
            class_="funnel-step"))
        previous = (left, right, y + bar_height)
    description = f"{title}: " + ", then ".join(
        f"{label} {shown}" for (label, _), shown in zip(steps, value_labels)) + "."
    return _finish("funnel", title, description, width, height, body, headers, rows)


def share_bar(title: str, parts: Sequence[tuple[str, int]], *, width: int = 720,
              label_header: str = "Category") -> Chart:
    """One bar split 100 % between the parts (e.g. devices), with a legend; hovering a part shows
    its count."""
    parts = tuple((str(label), count) for label, count in parts)
    if any(count < 0 for _, count in parts):
        raise ValueError("counts must not be negative")
    total = sum(count for _, count in parts)
    headers = (label_header, "Count", "Share")
    rows = tuple((label, fmt_number(count), fmt_percent(_share(count, total))) for label, count in parts)
    if not total:
        return _finish("share", title, f"{title}: no data.", width, 64, _no_data(width, 64), headers, rows)

    left, right, top, bar_height = 1.0, width - 1.0, 2.0, 32.0
    body = [_el("rect", class_="share-track", x=left, y=top, width=right - left, height=bar_height, fill=GRID)]
    colours = [SERIES_COLOURS[i % len(SERIES_COLOURS)] for i in range(len(parts))]
    running = 0
    for (label, count), colour in zip(parts, colours):
        if not count:
            continue
        # Edges from the rounded running total, so the widths add up to the track exactly.
        start = round(left + (right - left) * running / total, 1)
        running += count
        end = round(left + (right - left) * running / total, 1)
        share = fmt_percent(_share(count, total))
        segment = _el("rect", _hover(f"{label}: {fmt_number(count)} ({share})"), class_="share-segment",
                      x=start, y=top, width=round(end - start, 1), height=bar_height, fill=colour,
                      stroke="#ffffff", stroke_width=1)
        if end - start >= _text_width(share) + 8:  # the percentage inside the part when it fits
            segment += _text((start + end) / 2, top + bar_height / 2 + 4, share, cls="share-value",
                             anchor="middle", fill="#ffffff", weight="700")
        body.append(_el("g", segment, class_="share-part"))
    legend, legend_height = _legend(
        [(_box_swatch(colour, "share-swatch"), f"{label} {fmt_percent(_share(count, total))} ({fmt_number(count)})")
         for (label, count), colour in zip(parts, colours)],
        x=left, y=top + bar_height + 10, width=width)
    body += legend
    height = top + bar_height + 10 + legend_height
    description = (f"{title}: " + ", ".join(f"{label} {share}" for label, _, share in rows)
                   + f" of {fmt_number(total)}.")
    return _finish("share", title, description, width, height, body, headers, rows)


def _time_ticks(duration: float, plot_width: float) -> list[float]:
    """Round positions in seconds (every 1 s, 5 s, ..., 1 h) with room for their labels."""
    label_width = _text_width(fmt_clock(duration), SMALL_FONT_SIZE) + 16
    most = max(2, int(plot_width // label_width))
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 18000, 36000):
        if duration / step <= most:
            return [step * i for i in range(int(duration // step) + 1)]
    return [0.0, duration]


def timeline_heatmap(title: str, plays: Sequence[int], viewers: Sequence[int], *,
                     duration_seconds: float | None, width: int = 720, height: int = 120) -> Chart:
    """Where in the media people watch: per percentile (101 points, 0-100 %), an area of the plays
    covering it and a line of the distinct viewers. The x axis is in m:ss of the media when its
    duration (seconds) is known, else in percent. `height` is the whole drawing's."""
    plays, viewers = tuple(plays), tuple(viewers)
    if len(plays) != len(viewers) or len(plays) not in (0, 101):
        raise ValueError("plays and viewers need one value per percentile (101 each)")
    known_duration = bool(duration_seconds and duration_seconds > 0)

    def position(p: int) -> str:
        return fmt_clock(duration_seconds * p / 100) if known_duration else f"{p}%"

    headers = ("Position", *(("Time",) if known_duration else ()), "Plays", "Viewers")
    rows = tuple((f"{p}%", *((position(p),) if known_duration else ()), fmt_number(plays[p]),
                  fmt_number(viewers[p])) for p in range(len(plays)))
    if not any(plays) and not any(viewers):
        return _finish("heatmap", title, f"{title}: no data.", width, height, _no_data(width, height),
                       headers, rows)

    body: list[str] = []
    legend, legend_height = _legend(
        [((_el("rect", class_="chart-area", x=0.8, y=0.8, width=18.5, height=10.5, fill=AREA_FILL,
                stroke=SERIES_COLOURS[0], stroke_width=1.5), 20), "Plays"),
         (_line_swatch(SERIES_COLOURS[1], None, "viewers"), "Viewers")],
        x=8, y=2, width=width)
    body += legend
    ticks = nice_ticks(0, max(max(plays), max(viewers)), integer=True, max_steps=3)
    tick_labels = [fmt_number(t) for t in ticks]
    top, bottom = 4 + legend_height, height - 22
    left = max(_text_width(t, SMALL_FONT_SIZE) for t in tick_labels) + 12
    right = width - 20

    def x_of(percentile: float) -> float:
        return left + (right - left) * percentile / 100

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / ticks[-1]

    body += _y_axis(ticks, tick_labels, y_of, left, right)
    if known_duration:
        x_ticks = [(100 * t / duration_seconds, fmt_clock(t))
                   for t in _time_ticks(duration_seconds, right - left)]
    else:
        x_ticks = [(p, f"{p}%") for p in range(0, 101, 10)]
    body.append('<g class="chart-x-labels">')
    for p, label in x_ticks:
        body.append(_x_tick(x_of(p), bottom, label))
    body.append("</g>")
    area = (f"M{_n(x_of(0))} {_n(bottom)}L"
            + "L".join(f"{_n(x_of(p))} {_n(y_of(v))}" for p, v in enumerate(plays))
            + f"L{_n(x_of(100))} {_n(bottom)}Z")
    line = "M" + "L".join(f"{_n(x_of(p))} {_n(y_of(v))}" for p, v in enumerate(viewers))
    body.append(_el("path", class_="chart-area plays", d=area, fill=AREA_FILL, stroke=SERIES_COLOURS[0],
                    stroke_width=1.5, stroke_linejoin="round"))
    body.append(_el("path", class_="chart-line viewers", d=line, fill="none", stroke=SERIES_COLOURS[1],
                    stroke_width=2, stroke_linejoin="round"))

    peak = max(range(101), key=lambda p: plays[p])
    watched = sum(1 for v in plays if v)
    description = (f"{title}: most plays ({fmt_number(plays[peak])}, {fmt_number(viewers[peak])} viewers) at "
                   f"{position(peak)}; {watched} of 101 percentiles were watched.")
    return _finish("heatmap", title, description, width, height, body, headers, rows)


def engagement_strip(title: str, levels: Sequence[int], *, width: int = 720, height: int = 18) -> Chart:
    """One person's viewing per percentile of the media (101 cells): 0 not viewed, 1 once, 2 twice,
    3 three times or more (larger values count as 3), in four shades with a legend. `height` is
    the strip's; the axis and the legend are added below it."""
    levels = tuple(min(int(level), 3) for level in levels)
    if any(level < 0 for level in levels):
        raise ValueError("levels must not be negative")
    if len(levels) not in (0, 101):
        raise ValueError("levels need one value per percentile (101)")
    runs: list[tuple[int, int, int]] = []  # first percentile, last percentile, level
    for p, level in enumerate(levels):
        if runs and runs[-1][2] == level:
            runs[-1] = (runs[-1][0], p, level)
        else:
            runs.append((p, p, level))
    headers = ("Part of the media", "Viewed")
    rows = tuple((f"{a}%" if a == b else f"{a}–{b}%", STRIP_LABELS[level]) for a, b, level in runs)
    if not levels:
        return _finish("strip", title, f"{title}: no data.", width, 48, _no_data(width, 48), headers, rows)

    left, right, top = 1.0, width - 1.0, 1.0
    cell = (right - left) / 101
    body = ['<g class="strip-cells">']
    for (a, b, level), (part, viewed) in zip(runs, rows):
        body.append(_el("rect", _hover(f"{part}: {viewed}"), class_=f"strip-cell strip-{level}",
                        x=left + a * cell, y=top, width=(b - a + 1) * cell, height=height,
                        fill=STRIP_SHADES[level]))
    body.append("</g>")
    body.append(_el("rect", class_="strip-frame", x=left, y=top, width=right - left, height=height, fill="none",
                    stroke=AXIS, stroke_width=1))
    axis_y = top + height
    body.append('<g class="chart-x-labels">')
    for p in (0, 25, 50, 75, 100):
        # The end labels are aligned to the strip's edges so they stay inside the drawing.
        anchor, label_x = {0: ("start", left), 100: ("end", right)}.get(p, ("middle", None))
        body.append(_x_tick(left + (p + 0.5) * cell, axis_y, f"{p}%", anchor=anchor, label_x=label_x))
    body.append("</g>")
    legend, legend_height = _legend(
        [(_box_swatch(STRIP_SHADES[level], f"strip-swatch strip-{level}"), STRIP_LABELS[level])
         for level in range(4)],
        x=left, y=axis_y + 24, width=width)
    body += legend
    total_height = axis_y + 24 + legend_height
    seen = sum(1 for level in levels if level)
    description = (f"{title}: viewed {seen} of 101 percentiles at least once, "
                   f"{sum(1 for level in levels if level == 3)} of them 3 times or more.")
    return _finish("strip", title, description, width, total_height, body, headers, rows)
