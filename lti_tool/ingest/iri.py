"""Absolute IRIs as RFC 3987 defines them (`IRI = scheme ":" ihier-part [ "?" iquery ] [ "#" ifragment ]`).

Caliper identifies every entity by an IRI and references an entity by its IRI alone; xAPI names
activities, verbs and extensions by IRIs. `is_iri` says whether a string is one: it needs a scheme,
and refuses spaces, control characters, lone surrogates, the bidirectional formatting characters
RFC 3987 §4.1 forbids, stray `%` and anything else outside the grammar. It checks syntax only:
nothing is resolved or fetched.
"""
from __future__ import annotations

import ipaddress
import re

# Longest IRI accepted; identifiers that long are abuse, not data (Caliper's own schema caps ids at 2048).
MAX_IRI = 2048

_ALPHA_DIGIT = "A-Za-z0-9"
_UNRESERVED = _ALPHA_DIGIT + r"\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
# ucschar (RFC 3987 §2.2) less the bidi formatting characters of §4.1 (LRM, RLM, LRE..RLO).
_UCSCHAR = ("\u00a0-\u200d\u2010-\u2029\u202f-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
            "\U00010000-\U0001fffd\U00020000-\U0002fffd\U00030000-\U0003fffd\U00040000-\U0004fffd"
            "\U00050000-\U0005fffd\U00060000-\U0006fffd\U00070000-\U0007fffd\U00080000-\U0008fffd"
            "\U00090000-\U0009fffd\U000a0000-\U000afffd\U000b0000-\U000bfffd\U000c0000-\U000cfffd"
            "\U000d0000-\U000dfffd\U000e1000-\U000efffd")
_IPRIVATE = "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
_PCT = "%[0-9A-Fa-f]{2}"
_IUNRESERVED = _UNRESERVED + _UCSCHAR

_IPCHAR = rf"(?:[{_IUNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_IUSERINFO = rf"(?:[{_IUNRESERVED}{_SUB_DELIMS}:]|{_PCT})*"
_IREG_NAME = rf"(?:[{_IUNRESERVED}{_SUB_DELIMS}]|{_PCT})*"
_IP_LITERAL = r"\[[^\[\]/?#@\s]*\]"  # its content is checked by _ip_literal
_ISEGMENT = rf"{_IPCHAR}*"
_ISEGMENT_NZ = rf"{_IPCHAR}+"

IRI_PATTERN = re.compile(
    rf"(?P<scheme>[A-Za-z][A-Za-z0-9+\-.]*):"
    rf"(?:"
    # "//" iauthority ipath-abempty
    rf"//(?:{_IUSERINFO}@)?(?P<host>{_IP_LITERAL}|{_IREG_NAME})(?::[0-9]*)?(?:/{_ISEGMENT})*"
    rf"|/(?:{_ISEGMENT_NZ}(?:/{_ISEGMENT})*)?"                                               # ipath-absolute
    rf"|{_ISEGMENT_NZ}(?:/{_ISEGMENT})*"                                                      # ipath-rootless
    rf"|"                                                                                      # ipath-empty
    rf")"
    rf"(?:\?(?:{_IPCHAR}|[{_IPRIVATE}/?])*)?"
    rf"(?:#(?:{_IPCHAR}|[/?])*)?"
)
_IPV_FUTURE = re.compile(rf"v[0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+")


def is_iri(value) -> bool:
    """True for a string that is an absolute IRI (RFC 3987: scheme ":" ihier-part, optional query and fragment)."""
    if not isinstance(value, str) or not value or len(value) > MAX_IRI:
        return False
    match = IRI_PATTERN.fullmatch(value)
    if match is None:
        return False
    host = match.group("host")
    return not (host and host.startswith("[")) or _ip_literal(host[1:-1])


def _ip_literal(content: str) -> bool:
    """An IP-literal's content: an IPv6 address (no zone) or an IPvFuture."""
    if _IPV_FUTURE.fullmatch(content):
        return True
    if "%" in content:
        return False  # zone ids are not part of the RFC 3986/3987 grammar
    try:
        ipaddress.IPv6Address(content)
    except ValueError:
        return False
    return True
