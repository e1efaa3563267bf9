"""The CSV writer formats a batch a column at a time (exports/csv_export.py); its files must be byte for
byte those of the plain rule, one row and one cell at a time, which this file keeps as its oracle:
for any mix of values (awkward text, None beside empty text, numbers, times in any zone, rows of
another width), any batch size, and for the player events read from PostgreSQL in batches."""
from __future__ import annotations

import csv
import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from lti_tool.analytics.definitions import Unit
from lti_tool.analytics.metrics import Scope
from lti_tool.analytics.reports import player_event_batches
from lti_tool.exports.csv_export import PLAYER_EVENTS, Column, Section, player_events_section, write_csv
from lti_tool.models import MediaEntry, Person, PlayerEvent

from ..support.factories import make_registration

ZONES = ("UTC", "America/Chicago", "Asia/Kolkata", "Australia/Lord_Howe", "America/St_Johns", "Pacific/Chatham",
         "Europe/Dublin", "Asia/Kathmandu")


# -- the oracle: every cell on its own, as the writer did before it worked in batches ------------------

def oracle_cell(value, zone: ZoneInfo):
    if value is None:
        return ""
    if type(value) is str:
        return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
    if type(value) is bool:
        return "yes" if value else "no"
    if type(value) is float:
        return round(value, 4)
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat(timespec="seconds")
    return value


def oracle_csv(path: Path, sections, tz: str, descriptive: bool, preamble=()) -> int:
    zone, written = ZoneInfo(tz), 0
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        out = csv.writer(handle)
        for line in preamble:
            out.writerow([oracle_cell(v, zone) for v in line])
        if preamble:
            out.writerow([])
        for section in sections:
            out.writerow([section.title])
            out.writerow([c.header(descriptive) for c in section.columns])
            for row in section.rows():
                row = [v * 100 if c < len(section.columns) and section.columns[c].unit is Unit.FRACTION
                       and v is not None else v for c, v in enumerate(row)]
                out.writerow([oracle_cell(v, zone) for v in row])
                written += 1
            out.writerow([])
    return written


# -- awkward values --------------------------------------------------------------------------------

awkward_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", ",", '"', '""', "a,b", 'say "hi"', "line\nbreak", "cr\rlf\r\n", "=1+2", "+33 1",
                     "-5", "@sum", "\tTab", "\rR", "'quoted", "Ünïcødé ☃ 中文 🎬", "\u2028", "NULL", "None"]))
zones = st.sampled_from(ZONES).map(ZoneInfo) | st.just(timezone.utc) | st.just(timezone(timedelta(hours=-3, minutes=-30)))
times = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2100, 1, 1), timezones=zones)
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 0.5, 1 / 3, 1e-5,
                                                                                     12345.678951, 1e16]))
KINDS = {
    "text": awkward_text, "int": st.integers(-2**63, 2**63), "float": numbers, "time": times,
    "bool": st.booleans(), "naive": st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2037, 1, 1)),
}
anything = st.one_of(*KINDS.values(), st.none(), st.dates())


@st.composite
def sections(draw, index: int) -> Section:
    width = draw(st.integers(1, 5))
    columns, cells = [], []
    for c in range(width):
        kind = draw(st.sampled_from([*KINDS, "mixed"]))
        values = anything if kind == "mixed" else KINDS[kind]
        if draw(st.booleans()):
            values = st.none() | values
        unit = Unit.FRACTION if kind in ("int", "float") and draw(st.booleans()) else None
        columns.append(Column(f"field_{c}", f"Label, {c}", unit))
        cells.append(values)
    rows = draw(st.lists(st.tuples(*cells), max_size=25))
    fractions = any(c.unit is Unit.FRACTION for c in columns)
    if rows and not fractions and draw(st.integers(0, 4)) == 0:  # a row of another width (a totals row, say)
        rows.insert(draw(st.integers(0, len(rows))), tuple(draw(st.lists(anything, max_size=width + 2))))
    return Section(f"Section {index}", tuple(columns), lambda: iter(rows))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(*(sections(i) for i in range(n)))),
       st.sampled_from(ZONES), st.booleans(), st.lists(st.tuples(awkward_text, anything), max_size=3),
       st.sampled_from([1, 2, 3, 7, 5000]))
def test_batched_file_is_byte_for_byte_the_cell_by_cell_file(tmp_path_factory, drawn, tz, descriptive, preamble,
                                                             batch):
    directory = tmp_path_factory.mktemp("csv")
    written = write_csv(directory / "batched.csv", drawn, tz, descriptive, preamble=preamble, batch=batch)
    expected = oracle_csv(directory / "oracle.csv", drawn, tz, descriptive, preamble=preamble)
    assert written == expected
    assert (directory / "batched.csv").read_bytes() == (directory / "oracle.csv").read_bytes()


# -- the player events, read from PostgreSQL in batches --------------------------------------------

db_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10) | \
    st.sampled_from(["", ",", '"q"', "a\nb", "=HYPERLINK()", "-1", "@x", "\tx", "Ünï ☃", "\r\n"])


def short(size: int):
    return db_text.map(lambda s: s[:size])


event_rows = st.fixed_dictionaries({
    "event_type": st.sampled_from(["view", "play", "impression", "=cmd", "-x"]),
    "occurred_at": st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1),
                                timezones=st.just(timezone.utc)),
    "entry": st.integers(0, 2), "person": st.integers(0, 3),
    "position": st.none() | st.floats(allow_nan=False, allow_infinity=False, width=64),
    "seconds_viewed": st.none() | st.floats(0, 1e6),
    "playback_type": short(8), "device_type": short(16), "os": st.none() | short(64),
    "browser": st.none() | short(64), "country": st.none() | short(2), "region": st.none() | short(128),
    "city": st.none() | short(128), "domain": st.none() | short(255),
})


CLIENTS = itertools.count()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(event_rows, max_size=12), st.lists(st.one_of(st.none(), db_text), min_size=3, max_size=3),
       st.lists(st.one_of(st.none(), db_text), min_size=3, max_size=3), st.sampled_from(ZONES),
       st.integers(1, 4))
def test_player_events_file_is_byte_for_byte_the_cell_by_cell_file(db, tmp_path_factory, events, entry_names,
                                                                     person_names, tz, batch):
    registration = make_registration(f"events-{next(CLIENTS)}")
    entries = [MediaEntry(registration_id=registration.id, external_id=f"1_{i},\"e\"", name=name or "")
               for i, name in enumerate(entry_names)]
    people = [Person(registration_id=registration.id, subject=f"sub-{i}", name=name)
              for i, name in enumerate(person_names)]
    db.session.add_all(entries + people)
    db.session.flush()
    for i, e in enumerate(events):
        fields = {k: v for k, v in e.items() if k not in ("entry", "person")}
        db.session.add(PlayerEvent(registration_id=registration.id, event_key=f"k{i}", source="kava",
                                   entry_id=entries[e["entry"]].id,
                                   person_id=people[e["person"]].id if e["person"] < 3 else None, **fields))
    db.session.flush()
    scope = Scope(registration.id)

    def stored():  # the oracle's rows: ORM objects, names read from each row's own entry and person
        for event in db.session.scalars(select(PlayerEvent).where(PlayerEvent.registration_id == registration.id)
                                        .order_by(PlayerEvent.occurred_at, PlayerEvent.id)):
            entry, person = db.session.get(MediaEntry, event.entry_id), event.person_id
            yield (event.occurred_at, event.event_type, entry.external_id, entry.display_name,
                   db.session.get(Person, person).display_name if person else "Unknown", event.position,
                   event.seconds_viewed, event.playback_type, event.device_type, event.os, event.browser,
                   event.country, event.region, event.city, event.domain)

    directory = tmp_path_factory.mktemp("events")
    product = player_events_section(db.session, scope)
    small = Section(product.title, PLAYER_EVENTS, product.rows,
                    batches=lambda: player_event_batches(db.session, scope, size=batch))
    for name, section in (("product", product), ("small", small)):
        assert write_csv(directory / f"{name}.csv", [section], tz, True) == len(events)
    oracle_csv(directory / "oracle.csv", [Section("Player events", PLAYER_EVENTS, stored)], tz, True)
    expected = (directory / "oracle.csv").read_bytes()
    assert (directory / "product.csv").read_bytes() == expected
    assert (directory / "small.csv").read_bytes() == expected
