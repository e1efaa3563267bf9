"""Hypothesis strategies for input no sender should send: structured-but-wrong values (huge and tiny
numbers, far dates, NUL, lone surrogates and other characters that are not text, wrong types, long
strings), random JSON, JSON nested far too deep, and mutations of a valid document."""
from __future__ import annotations

import copy
import json
import os
import re
from urllib.parse import quote

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

# Every fuzz test: bounded examples, no deadline (a request's time is not the property), no example
# database written into the checkout.
FUZZ = settings(deadline=None, database=None, print_blob=True,
                phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])



def examples(count: int) -> int:
    """A test's example count, times FUZZ_SCALE (default 1) for a longer campaign: FUZZ_SCALE=20 pytest ..."""
    return count * max(1, int(os.environ.get("FUZZ_SCALE", "1")))


ODD_CHARACTERS = ("\x00", "\ud800", "\udbff", "\udc00", "\x07", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff",
                  "\U0001F600", "\t", "\n", "\r", "%00", "\\u0000", "'", '"', "<", "&", "/", "..", ":")
FAR_TIMES = ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59Z",
             "1969-12-31T23:59:59Z", "2200-01-01T00:00:00Z", "2199-12-31T23:59:59+14:00",
             "1970-01-01T00:00:00-14:00", "2026-10-05T10:00:00", "2026-02-30T10:00:00Z", "2026-10-05")
FAR_DATES = ("9990-01-01", "9999-12-31", "0001-01-01", "1969-12-31", "2199-12-31", "2200-01-01", "2000-01-01",
             "1999-12-31", "2026-02-29", "2026-13-01", "20261005", "+2026-10-05", "2026-10-05T00:00:00")
EXTREME_NUMBERS = (0, -1, 1, 2**31 - 1, 2**31, 2**40, 2**53 + 1, 2**63, -(2**63), 10**400, -(10**400), 1e308,
                   -1e308, 5e-324, 0.1, 864000, 864001, 7258118399, 7258118400, -0.0, 1e20, 111111111111,
                   99999999999999999999)
# A JSON string "<CONSTANT>NaN" becomes a bare NaN (or Infinity) in the body: JSON has no such value,
# Python's reader takes it.
CONSTANT = "<CONSTANT>"

texts = st.one_of(
    st.text(max_size=12),
    st.tuples(st.text(max_size=6), st.sampled_from(ODD_CHARACTERS), st.text(max_size=6)).map("".join),
    st.tuples(st.integers(200, 6000), st.sampled_from(("x", "é", "\U0001F600"))).map(lambda t: t[1] * t[0]),
    st.sampled_from(FAR_TIMES + FAR_DATES + ("", " ", "sub:", "sub:x", "nobody", "https://", "urn:uuid:x",
                                              "1e999", "-1", "NaN", "PT99999999999S", "0.000[.]-1.000")),
)
numbers = st.one_of(st.sampled_from(EXTREME_NUMBERS), st.integers(), st.floats(allow_nan=False, allow_infinity=False))
constants = st.sampled_from(("NaN", "Infinity", "-Infinity")).map(lambda name: CONSTANT + name)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts, constants)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                           max_leaves=8)
# Raw bodies: nested far deeper than anything is read, or not JSON at all.
deep_documents = st.tuples(st.integers(60, 5000), st.sampled_from(("[", '{"a":', '{"events":['))).map(
    lambda t: t[1] * t[0] + "1" + ("]" if t[1] == "[" else "}" if t[1] == '{"a":' else "]}") * t[0])
garbage = st.one_of(st.binary(max_size=40), st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass")))


def dumps(value) -> str:
    """JSON text of a generated value, its CONSTANT strings written as bare NaN / Infinity."""
    text = json.dumps(value)
    return re.sub(rf'"{re.escape(CONSTANT)}(NaN|Infinity|-Infinity)"', r"\1", text)


def url_part(value: str) -> str:
    """A generated string percent-encoded for a path or query (lone surrogates as the bytes they would be)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


# -- mutations of a valid document ------------------------------------------------------------------

mutations = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(("set", "set", "delete", "add")), json_values,
                               texts), max_size=3)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, member in value.items():
            yield from _paths(member, prefix + (key,))
    elif isinstance(value, list):
        for index, member in enumerate(value):
            yield from _paths(member, prefix + (index,))


def mutate(document, changes) -> object:
    """The document with each change applied at one of its paths: set a value, delete it, or add a key."""
    document = copy.deepcopy(document)
    for choice, action, value, key in changes:
        paths = list(_paths(document))
        path = paths[choice % len(paths)]
        if not path:
            document = value if action == "set" else document
            continue
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if action == "set":
            parent[last] = value
        elif action == "delete":
            del parent[last]
        elif isinstance(parent[last], dict):
            parent[last][key] = value
        elif isinstance(parent[last], list):
            parent[last].append(value)
    return document


def documents(template) -> st.SearchStrategy[str]:
    """JSON bodies around a valid template: mutated (mostly), random JSON, far too deep, or not JSON."""
    return st.one_of(
        mutations.map(lambda changes: dumps(mutate(template, changes))),
        mutations.map(lambda changes: dumps(mutate(template, changes))),
        mutations.map(lambda changes: dumps(mutate(template, changes))),
        json_values.map(dumps),
        deep_documents,
        garbage,
    )
