"""Test clients that send what a browser running htmx sends: the LTI session's header, and HX-* headers.

A page hands htmx its session as the `X-Session-Token` header (lti_tool/launch/session.py); htmx adds
`HX-Request: true` to every request it makes, `HX-Target` with the id of the element it swaps, and
`HX-Boosted: true` for a boosted link or form (a whole page, not a block).
"""
from __future__ import annotations

import copy
import re
from html import unescape

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from lti_tool.models import Course


def htmx_headers(target: str | None = None, *, boosted: bool = False) -> dict[str, str]:
    """The headers htmx sends for a request that swaps the element with id `target` (none: no HX-Target)."""
    headers = {"HX-Request": "true"}
    if target is not None:
        headers["HX-Target"] = target
    if boosted:
        headers["HX-Boosted"] = "true"
    return headers


def session_token(page_html: str) -> str:
    """The session token a page hands to htmx in its `hx-headers`."""
    match = re.search(r'hx-headers=\'([^\']+)\'', page_html)
    assert match, "page carries no session header for htmx"
    return re.search(r'"X-Session-Token": "([^"]+)"', unescape(match.group(1))).group(1)


class Requests:
    """A Flask test client whose every request carries the same extra headers (a request's own
    `headers=` are added on top)."""

    def __init__(self, client: FlaskClient, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.fixed = dict(headers or {})

    def open(self, path: str, method: str = "GET", headers: dict | None = None, **kwargs) -> TestResponse:
        return self.client.open(path, method=method, headers={**self.fixed, **(headers or {})}, **kwargs)

    def get(self, path: str, **kwargs) -> TestResponse:
        return self.open(path, "GET", **kwargs)

    def post(self, path: str, **kwargs) -> TestResponse:
        return self.open(path, "POST", **kwargs)

    def htmx(self, target: str | None = None, *, boosted: bool = False) -> "Requests":
        """The same client as htmx drives it for the element with id `target` (a copy: this one stays as it is)."""
        aimed = copy.copy(self)
        aimed.fixed = {**self.fixed, **htmx_headers(target, boosted=boosted)}
        return aimed


class Viewer(Requests):
    """A person signed in through a real LTI launch: the page the launch landed on, and a client whose
    requests carry the session token that page hands to htmx."""

    def __init__(self, client: FlaskClient, page: TestResponse, person: str, course: Course) -> None:
        self.page, self.person, self.course = page, person, course
        self.token = session_token(page.text)
        super().__init__(client, {"X-Session-Token": self.token})
