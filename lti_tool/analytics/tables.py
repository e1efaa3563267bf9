"""Tables of rows: searched, sorted and cut into pages by one rule, on pages and in the report API.

The rule: rows whose sort value is missing (None) come last whichever the direction, and ties go by
name. Every row is placed by its values, the "Unknown" row (anonymous viewing, often the largest)
included, so it sits where its numbers put it rather than on the last page.
A page is lenient (an unknown sort or page falls back to the default, a page past the last shows
the last); the API is strict (a `TableError` names the bad argument, answered 400) and answers no
rows past the last page, so a client pages until it gets none.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

MAX_QUERY = 100          # characters of a search
MAX_PAGE = 100_000


class TableError(ValueError):
    """A search, sort, direction or page argument the table cannot use."""


def _attribute(row, name: str):
    return getattr(row, name, None)


@dataclass(frozen=True)
class TableSpec:
    """How a block's table is searched, sorted and paged, and which URL arguments say so."""

    sorts: tuple[str, ...]                     # columns it can be sorted by (none: any column of its rows)
    default_sort: str                          # "": rows keep the order they come in unless a sort is asked
    per_page: int = 25
    prefix: str = ""                           # URL arguments: <prefix>sort, <prefix>dir, <prefix>page, q
    search: tuple[str, ...] = ()               # columns a search looks in (none: no search)
    min_search: int = 1                        # a shorter search is ignored
    value: Callable = _attribute               # the value of a column in a row
    match: Callable | None = None              # (row, lowercased search) -> bool; default: any search column
                                               # contains it
    name: str = "name"                         # the column ties are broken by

    def default_dir(self, sort: str) -> str:
        return "asc" if sort == self.name else "desc"


@dataclass(frozen=True)
class Table:
    rows: tuple                 # this page's rows
    total: int                  # rows matching the search
    page: int
    pages: int
    sort: str
    dir: str
    q: str                      # the search as typed (cut to MAX_QUERY)
    searched: bool              # False when q is shorter than the spec's min_search
    per_page: int
    matched: tuple = ()         # every row matching the search, in order (for totals)


def paginate_rows(rows, spec: TableSpec, options, strict: bool = False, per_page: int | None = None) -> Table:
    """The rows of one page of `rows` for the table arguments in `options` (a mapping of URL arguments)."""
    q = (options.get(spec.prefix + "q") or "").strip() if spec.search else ""
    if strict and len(q) > MAX_QUERY:
        raise TableError(f"q must be at most {MAX_QUERY} characters")
    q = q[:MAX_QUERY]
    searched = len(q) >= spec.min_search
    if q and searched:
        needle = q.lower()
        if spec.match is not None:
            rows = [r for r in rows if spec.match(r, needle)]
        else:
            rows = [r for r in rows if any(needle in str(spec.value(r, c) or "").lower() for c in spec.search)]
    sort = options.get(spec.prefix + "sort") or spec.default_sort
    sorts = spec.sorts or (tuple(vars(rows[0])) if rows and hasattr(rows[0], "__dict__") else ())
    if sort and sort not in sorts:
        if strict:
            raise TableError(f"sort must be one of {', '.join(spec.sorts)}")
        sort = spec.default_sort
    direction = options.get(spec.prefix + "dir") or spec.default_dir(sort)
    if direction not in ("asc", "desc"):
        if strict:
            raise TableError("dir must be asc or desc")
        direction = spec.default_dir(sort)
    ordered = _ordered(list(rows), spec, sort, direction == "desc") if sort else list(rows)
    size = per_page or spec.per_page
    pages = max(1, -(-len(ordered) // size))
    page = _page(options.get(spec.prefix + "page"), strict)
    if not strict:
        page = min(page, pages)   # a page shows the last page past it; the API answers no rows there
    return Table(tuple(ordered[(page - 1) * size: page * size]), len(ordered), page, pages, sort, direction, q,
                 searched, size, tuple(ordered))


def _ordered(rows: list, spec: TableSpec, sort: str, descending: bool) -> list:
    def comparable(value):
        if isinstance(value, str):
            return value.lower()
        if isinstance(value, datetime):
            return value.timestamp()
        return value

    def name(row):
        return comparable(spec.value(row, spec.name) or "")

    rows.sort(key=name)
    known = sorted((r for r in rows if spec.value(r, sort) is not None),
                   key=lambda r: comparable(spec.value(r, sort)), reverse=descending)
    return known + [r for r in rows if spec.value(r, sort) is None]


def _page(raw, strict: bool) -> int:
    if raw is None or raw == "":
        return 1
    text = str(raw)
    if text.isascii() and text.isdigit() and len(text) <= 12 and 1 <= int(text) <= MAX_PAGE:
        return int(text)
    if strict:
        raise TableError(f"page must be an integer from 1 to {MAX_PAGE}")
    return 1
