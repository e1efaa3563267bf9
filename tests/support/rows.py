"""Row counts of every table: what a refused request must leave exactly as it was."""
from __future__ import annotations

from sqlalchemy import func, select

from lti_tool.extensions import db as _db

# Bookkeeping a request may write whatever it is answered: the signing keys a launch makes once, and
# the rollups of a time zone, built from the stored plays and loads the first time any read asks for
# that zone (ingest/rollups.py: a copy of what is stored, summed, which changes no number).
NOT_COUNTED = frozenset({"alembic_version", "tool_key", "rollup_zone", "play_rollup"})


def row_counts(db) -> dict[str, int]:
    """{table name: rows} for every table of the models, in one query."""
    tables = [t for t in _db.metadata.sorted_tables if t.name not in NOT_COUNTED]
    query = select(*[select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables])
    return dict(db.session.execute(query).one()._mapping)
