"""The admin "Embed rules" page: the rules in force, the hosts, the file's errors, and "Test a URL"."""
from __future__ import annotations

import base64
import os

import pytest

from config import EXAMPLE_EMBED_HOSTS
from lti_tool.embed_rules import RuleBook
from lti_tool.render import localtime



@pytest.fixture
def open_as(launch_as):
    """A getter for the embed rules page in the session of `person`; get(url, target) asks "Test a URL"
    about `url`, as htmx for the element whose id is `target`."""
    def session(person):
        viewer = launch_as(person)

        def get(url=None, target=None):
            query = {"url": url} if url is not None else None
            return (viewer.htmx(target) if target else viewer).get(f"/courses/{viewer.course.id}/admin/embed-rules",
                                                                   query_string=query)
        return get
    return session


@pytest.fixture
def admin(open_as):
    return open_as("admin")


def test_admin_sees_the_shipped_rules(admin):
    response = admin()
    assert response.status_code == 200
    html = response.text
    assert "<h1>Embed rules</h1>" in html and "embed_domains.toml" in html
    assert "loaded, 18 rules" in html
    # Hosts, with the setting that sets each, and the one UMN leaves empty.
    assert "<code>EMBED_KAF_HOSTS</code>" in html and "<code>kaf.canvas.umn.edu</code>" in html
    assert "<code>EMBED_OTHER_LMS_HOSTS</code></td>\n          <td><span class=\"muted\">not set</span>" in html
    # Rules in order, written and filled in; the other-LMS rule matches nothing.
    order = [html.index(f"<code>{pattern}</code>") for pattern in ("{kaf}", ".kaf.kaltura.com", ".+")]
    assert order == sorted(order)
    assert "filled in: <code>canvas.umn.edu</code>, <code>umn.instructure.com</code>" in html
    assert html.count("inactive: host not set") == 1
    assert "Media was loaded from within the MediaSpace user interface." in html
    # The categories table.
    assert "<code>authoring_tool</code>" in html and "Authoring tool (Articulate)" in html
    assert 'href="/courses/' in html and "/admin/embed-rules\"" in html  # in the navigation
    assert 'id="url-test"' in html and "role=\"alert\"" not in html


@pytest.mark.parametrize("person", ["teacher", "ta", "student"])
def test_others_may_not_open_it(open_as, person):
    response = open_as(person)()
    assert response.status_code == 403
    assert "You do not have access to this page" in response.text


def facts(html):
    import re

    return dict(re.findall(r"<dt>([^<]+)</dt><dd>(.*?)</dd>", html))


def test_a_quiz_url_is_classified(admin):
    response = admin("https://umn.quiz-lti-iad-prod.instructure.com/lti/x?fbclid=1#top")
    assert response.status_code == 200
    found = facts(response.text)
    assert found["Canonical URL"] == "<code>https://umn.quiz-lti-iad-prod.instructure.com/lti/x</code>"
    assert found["Domain"] == "<code>umn.quiz-lti-iad-prod.instructure.com</code>"
    assert found["Category"] == "LMS quiz (<code>lms_quiz</code>)"
    assert found["Needs action"] == "yes" and found["Managed by the upgrade"] == "no"
    assert found["Matching rule"].startswith("line ")
    assert found["Page identifiable"].startswith("no: the URL names a host")
    assert found["Explanation"] == "MediaSpace embed code was pasted into New Quizzes in Canvas."
    assert "Check the New Quizzes" in found["Guidance"]


def test_encoded_and_local_urls_are_read(admin):
    encoded = base64.b64encode(b"https://canvas.umn.edu/courses/1/pages/x").decode()
    found = facts(admin(encoded).text)
    assert found["Domain"] == "<code>canvas.umn.edu</code>"
    assert found["Category"] == "LMS page (<code>lms_page</code>)" and found["Page identifiable"].startswith("yes")
    found = facts(admin("file:///C:/Users/x.html").text)
    assert found["Canonical URL"] == "<code>file:///C:/Users/x.html</code>"
    assert found["Domain"].startswith("<code>C:</code>")
    assert found["Category"] == "Downloaded / offline file (<code>offline</code>)" and found["Needs action"] == "n/a"


@pytest.mark.parametrize("url, message", [
    ("https://canvas.umn.edu/" + "a" * 3000, "longer than 2000 characters"),
    ("not a url at all", "not a page URL the tool can read"),
    ("https://", "not a page URL the tool can read"),
])
def test_bad_input_is_a_clear_422(admin, url, message):
    response = admin(url)
    assert response.status_code == 422
    assert message in response.text and "Canonical URL" not in response.text
    assert "<h1>Embed rules</h1>" in response.text  # without JS the whole page comes back


def test_empty_input_shows_no_result(admin):
    response = admin("  ")
    assert response.status_code == 200 and "Canonical URL" not in response.text and 'role="alert"' not in response.text


def test_htmx_gets_only_the_result(admin):
    response = admin("https://kaf.canvas.umn.edu/browseandembed", target="url-test")
    assert response.status_code == 200
    assert response.text.strip().startswith('<div id="url-test"') and "<h1>" not in response.text
    assert facts(response.text)["Category"] == "LMS tool integration (KAF) (<code>kaf</code>)"
    assert facts(response.text)["Managed by the upgrade"] == "yes"
    bad = admin("garbage in", target="url-test")
    assert bad.status_code == 422 and bad.text.strip().startswith('<div id="url-test"')
    assert "not a page URL the tool can read" in bad.text


def test_a_broken_rules_file_is_named_with_its_line(admin, app, monkeypatch, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[[rule]]\nexact = "{lms}"\ncategory = "lms_page"\n')
    book = RuleBook(path, EXAMPLE_EMBED_HOSTS)
    book.current()
    path.write_text('[[rule]]\nexact = "{lms}"\ncategory = "lms_page"\nneeds_action = "sometimes"\n')
    later = path.stat().st_mtime_ns + 2_000_000_000
    os.utime(path, ns=(later, later))
    monkeypatch.setitem(app.extensions, "embed_rules", book)

    html = admin().text
    assert "The rules file has an error — line 4: needs_action must be one of yes, no, n/a" in html
    loaded = localtime(book.loaded_at, "America/Chicago")       # the admin's zone in these tests
    assert f"The tool keeps using the last good rules (1 rule, loaded {loaded}; the file changed" in html
    assert "not loaded: it has an error" in html
    # The last good rules still classify.
    assert facts(admin("https://canvas.umn.edu/x").text)["Category"] == "LMS page (<code>lms_page</code>)"
