"""The block registry: every dashboard is a set of named blocks, each a function of one `Context`.

A page renders its blocks by name (an HTMX request computes only the block it swaps), the report
API serves them by name, and CSV sections and PDF summaries are built from the same blocks, so a
number is computed one way whatever asks for it. The blocks themselves live in `dashboard` (media:
gallery, single media, My Analytics, My viewing, embed audit) and `room_blocks` (live rooms).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .tables import TableSpec


@dataclass(frozen=True)
class Block:
    name: str                               # its id on the page, its Jinja block, its HX-Target
    fn: Callable                            # Context -> the block's data
    metrics: tuple[str, ...] = ()           # definitions.METRICS its data holds (tooltips, API, exports)
    table: TableSpec | None = None          # how its table is searched, sorted and paged


def registry(*blocks: Block) -> dict[str, Block]:
    """Blocks by name, in page order."""
    return {block.name: block for block in blocks}
