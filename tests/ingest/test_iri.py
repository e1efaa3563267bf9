"""lti_tool.ingest.iri.is_iri: absolute IRIs as RFC 3987 defines them, and nothing else."""
from __future__ import annotations

import ipaddress
import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lti_tool.ingest.iri import MAX_IRI, is_iri

ACCEPTED = [
    "https://example.edu/users/554433",
    "urn:uuid:956b4a02-8de0-4991-b8c5-b6eebb6b4cab",
    "urn:instructure:canvas:user:21070000000000042",
    "mailto:jane@example.edu",
    "http://purl.imsglobal.org/caliper/Person",
    "https://example.com/#/texts/imscaliperimplguide/cfi/6/10!/4/2/2/2@0:0",   # a Caliper fixture's Frame
    "http://localhost:18000/xblock/block-v1:edX+DemoX+Demo_Course+type@video+block@0b9e39477cf34507a7a48f74be381fdd",
    "http://r\u00e9sum\u00e9.example.org",                                     # RFC 3987's own example
    "http://example.org/\u4e2d\u6587?\ue000#\u00e9",                          # ucschar, iprivate in the query
    "http://example.org/%E2%82%AC",
    "http://[2001:db8::7]:8080/c=GB?objectClass?one",
    "http://[v7.fe80::a+en1]/",
    "ftp://user:pass@ftp.example.org:21/file.txt",
    "tag:example.edu,2026:viewer/1",
    "news:comp.infosystems.www.servers.unix",
    "urn:x",
    "http:",                                                                  # scheme ":" ipath-empty
]
REFUSED = [
    "", "This is not an object or IRI", "IRIs should not have spaces", "example.org", "//example.org/x",
    "/relative/path", "1http://example.org", ":no-scheme", "ht tp://example.org", "http://exa mple.org",
    "http://example.org/a b", "http://example.org/\t", "http://example.org/\n", "http://example.org/\x00",
    "http://example.org/\x7f", "http://example.org/\x85", "http://example.org/%", "http://example.org/%4",
    "http://example.org/%zz", "http://example.org/<a>", 'http://example.org/"', "http://example.org/{x}",
    "http://example.org/a|b", "http://example.org/a\\b", "http://example.org/^", "http://example.org/`",
    "http://example.org/#a#b", "http://example.org/\u200e", "http://example.org/\u202e", "http://example.org/\ud800",
    "http://example.org/\ufffe", "http://example.org/\U0001fffe", "http://[::1%25eth0]/", "http://[1::2::3]/",
    "http://[example.org]/", "http://ex[am]ple.org/", "https://example.edu/" + "a" * MAX_IRI,
    None, 42, ["https://example.edu"], {"id": "https://example.edu"},
]


@pytest.mark.parametrize("value", ACCEPTED)
def test_iris_are_accepted(value):
    assert is_iri(value)


@pytest.mark.parametrize("value", REFUSED)
def test_what_is_not_an_absolute_iri_is_refused(value):
    assert not is_iri(value)


# An IRI built from RFC 3987's grammar, written here independently of the module's pattern.
UCS_LETTERS = "\u00e9\u00fc\u00df\u4e2d\u6587\u0416\U0001f600"
UNRESERVED = string.ascii_letters + string.digits + "-._~" + UCS_LETTERS
SUB_DELIMS = "!$&'()*+,;="
pct_encoded = st.builds(lambda b: f"%{b:02X}", st.integers(0, 255))
scheme = st.from_regex(r"[A-Za-z][A-Za-z0-9+.\-]{0,9}", fullmatch=True)
pchars = st.lists(st.one_of(st.sampled_from(UNRESERVED + SUB_DELIMS + ":@"), pct_encoded), max_size=12).map("".join)
segment_nz = st.lists(st.one_of(st.sampled_from(UNRESERVED + SUB_DELIMS + ":@"), pct_encoded),
                      min_size=1, max_size=12).map("".join)
reg_name = st.lists(st.one_of(st.sampled_from(UNRESERVED + SUB_DELIMS), pct_encoded), max_size=20).map("".join)
ipv4 = st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(0, 2**32 - 1))
ipv6 = st.builds(lambda n: f"[{ipaddress.IPv6Address(n).compressed}]", st.integers(0, 2**128 - 1))
host = st.one_of(reg_name, ipv4, ipv6)
authority = st.builds(lambda user, h, port: f"{user}{h}{port}",
                      st.one_of(st.just(""), pchars.map(lambda u: u.replace("@", "") + "@")), host,
                      st.one_of(st.just(""), st.integers(0, 65535).map(lambda p: f":{p}")))
path_abempty = st.lists(pchars, max_size=4).map(lambda segments: "".join("/" + s for s in segments))
hier_part = st.one_of(
    st.builds(lambda a, p: f"//{a}{p}", authority, path_abempty),
    st.builds(lambda first, rest: f"/{first}{rest}", segment_nz, path_abempty),
    st.builds(lambda first, rest: f"{first}{rest}", segment_nz, path_abempty),
    st.just(""),
)
query = st.lists(st.one_of(pchars, st.sampled_from("/?\ue000")), max_size=4).map("".join)
fragment = st.lists(st.one_of(pchars, st.sampled_from("/?")), max_size=4).map("".join)
iris = st.builds(lambda s, h, q, f: f"{s}:{h}{q}{f}", scheme, hier_part,
                 st.one_of(st.just(""), query.map(lambda q: "?" + q)),
                 st.one_of(st.just(""), fragment.map(lambda f: "#" + f)))

# Characters RFC 3987 allows nowhere in an IRI (outside an IP literal's brackets).
FORBIDDEN = [" ", "\t", "\n", "\r", "\x00", "\x1f", "\x7f", "\x9f", "<", ">", '"', "{", "}", "|", "\\", "^", "`",
             "\u200e", "\u200f", "\u202a", "\u202e", "\ud800", "\udfff", "\ufdd0", "\ufffe", "\uffff"]


@settings(max_examples=400, deadline=None)
@given(iris)
def test_every_iri_of_the_grammar_is_accepted(value):
    assert is_iri(value) == (len(value) <= MAX_IRI)


@settings(max_examples=400, deadline=None)
@given(iris, st.sampled_from(FORBIDDEN), st.data())
def test_a_forbidden_character_anywhere_refuses_it(value, bad, data):
    at = data.draw(st.integers(0, len(value)))
    assert not is_iri(value[:at] + bad + value[at:])


@settings(max_examples=200, deadline=None)
@given(iris)
@example("//example.org/a")
def test_without_its_scheme_it_is_refused(value):
    rest = value.split(":", 1)[1] if ":" in value else value
    if ":" not in rest:
        assert not is_iri(rest)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_any_text_gets_an_answer_and_accepted_text_has_a_scheme_and_no_forbidden_character(value):
    if is_iri(value):
        scheme_part, sep, _rest = value.partition(":")
        assert sep and scheme_part[:1].isascii() and scheme_part[:1].isalpha()
        assert not set(value) & set(FORBIDDEN)
