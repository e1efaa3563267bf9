"""The block registry: every dashboard is a set of named blocks, each a function of one `Context`.

A page renders its blocks by name (an HTMX request computes only the block it swaps), the report
API serves them by name, and CSV sections and PDF summaries are built from the same blocks, so a
number is computed one way whatever asks for it. The blocks themselves live in `dashboard` (media:
gallery, single media, My Analytics, My viewing, embed audit) and `room_blocks` (live rooms).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from .tables import TableSpec


@dataclass(frozen=True)
class Col:
    """A column of a sheet: the row attribute (the CSV's raw header) and what it is, a metric of
    `definitions.METRICS` (whose label and unit head it and format its cells) or a plain label."""

    field: str
    metric: str | None = None     # None: a plain column, `label` names it; else the metric's label and unit
    label: str = ""

    @classmethod
    def of(cls, field: str, metric: str | None = None) -> Col:
        """A metric column (by default the metric named like the field)."""
        return cls(field, metric or field)


@dataclass(frozen=True)
class Sheet:
    """A block's data as one table: what a CSV section and a PDF table show of it."""

    title: str
    columns: tuple[Col, ...]
    rows: Callable[[], Iterable[tuple]]     # called when written: nothing is computed before


@dataclass(frozen=True)
class Block:
    name: str                               # its id on the page, its Jinja block, its HX-Target
    fn: Callable                            # Context -> the block's data
    metrics: tuple[str, ...] = ()           # definitions.METRICS its data holds (tooltips, API, exports)
    table: TableSpec | None = None          # how its table is searched, sorted and paged
    sheets: Callable | None = None          # Context -> [Sheet]: its sections in CSV exports
    report: str | None = None               # its name in the report API when served as it is (fn's data)
    summary: str = ""                       # the report's one-line description (OpenAPI)
    in_pdf: bool = False                    # its sheets are tables of the PDF summary too


def registry(*blocks: Block) -> dict[str, Block]:
    """Blocks by name, in page order."""
    return {block.name: block for block in blocks}
