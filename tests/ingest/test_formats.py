"""The format registry drives every place that names ingest formats: the importer, the CLI's
--format choices, the API's ingest routes and /api/v1/openapi.json. A format left out of one fails here."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from lti_tool.cli import import_command
from lti_tool.ingest import formats
from lti_tool.ingest.formats import FORMATS, Format, Http
from lti_tool.ingest.importer import ImportFailed, guess_format, run_import
from lti_tool.ingest.schema import load_json, native_event
from lti_tool.models import PlayerEvent

LINE = '{"id": "e-1", "type": "impression", "time": "2026-10-05T10:00:00Z", "entry_id": "1_abc"}'


def test_the_cli_offers_exactly_the_registry():
    (option,) = [p for p in import_command.params if p.name == "fmt"]
    assert list(option.type.choices) == list(FORMATS)
    for fmt in FORMATS.values():
        assert f"{fmt.name}: {fmt.help}" in import_command.help


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_suffix_names_its_format(name):
    fmt = FORMATS[name]
    for suffix in fmt.suffixes:
        assert guess_format(Path(f"feed.{suffix}.jsonl")) == name
    for extension in fmt.extensions:
        assert guess_format(Path(f"feed.{extension}")) == name
    assert fmt.suffixes or fmt.extensions, "a format the importer cannot guess from a file name"


def test_every_format_reads_files_and_http_formats_have_a_parser():
    for fmt in FORMATS.values():
        assert (fmt.parse_line is None) != (fmt.parse_file is None), fmt.name
        assert (fmt.http is None) == (fmt.parse_http is None), fmt.name


def test_formats_of_one_source_take_the_same_step_after_accept():
    for fmt in FORMATS.values():
        if fmt.source is not None:
            assert formats.after_accept(fmt.source) in (fmt.after_accept, None)
            if fmt.after_accept:
                assert formats.after_accept(fmt.source) is fmt.after_accept


def test_every_http_format_has_its_route_and_description(app, client):
    routes = {(rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods}
    doc = client.get("/api/v1/openapi.json").get_json()
    for fmt in formats.with_http():
        assert (f"/api/v1{fmt.http.path}", "POST") in routes
        operation = doc["paths"][fmt.http.path]["post"]
        assert operation["summary"] == fmt.http.summary
        for name in fmt.http.schemas:
            assert name in doc["components"]["schemas"]


def test_a_format_added_to_the_registry_is_imported_and_described(app, client, db, registration, tmp_path,
                                                                  monkeypatch):
    """What a new format gets from its registry line alone (its route is registered when the API loads)."""
    def renamed_line(registration_id: int, text: str):
        raw = load_json(text)
        raw["entry_id"] = raw.pop("media")
        return [native_event(raw)], 0

    added = Format("renamed", "native", ("renamed",), renamed_line, help="native events with media for entry_id",
                   http=Http("/renamed-events", "Native events naming the entry media"),
                   parse_http=lambda registration_id, body: ([], 0))
    monkeypatch.setitem(FORMATS, added.name, added)
    path = tmp_path / "feed.renamed.jsonl"
    path.write_text(LINE.replace('"entry_id"', '"media"') + "\n")
    assert guess_format(path) == "renamed"
    summary = run_import(path, registration.id)
    assert (summary.accepted, summary.rejected) == (1, 0)
    assert db.session.scalar(select(func.count()).select_from(PlayerEvent)) == 1
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["paths"]["/renamed-events"]["post"]["summary"] == "Native events naming the entry media"
    with pytest.raises(ImportFailed, match="renamed"):
        run_import(path, registration.id, "unknown")
