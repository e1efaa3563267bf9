"""Embed-domain rules: the shipped file classifies the seed's domain table; bad files name their line;
a running tool keeps its last good rules; `flask embeds check|classify`."""
from __future__ import annotations

import os

import pytest

from config import CONFIG_DIR, EXAMPLE_EMBED_HOSTS
from lti_tool.embed_rules import MAX_FILE_BYTES, RuleBook, RulesError, load, parse

SHIPPED = CONFIG_DIR / "embed_domains.toml"
# The seed leaves the College of Veterinary Medicine's Canvas host blank; this is a stand-in.
UMN = {**EXAMPLE_EMBED_HOSTS, "other_lms": ("canvas.cvm.umn.edu",)}


@pytest.fixture(scope="module")
def shipped():
    return load(SHIPPED, UMN)


# Every domain row of the seed's table ("Common Domains You May Encounter"): category, needs action, managed.
SEED_TABLE = [
    ("canvas.umn.edu", "lms_page", "yes", False),
    ("umn.instructure.com", "lms_page", "yes", False),
    ("umn.quiz-lti-iad-prod.instructure.com", "lms_quiz", "yes", False),
    ("a4356-36346120.cluster79.canvas-user-content.com", "lms_file", "yes", False),
    ("iad.scorm.canvaslms.com", "scorm", "yes", False),
    ("canvas.cvm.umn.edu", "lms_page", "yes", False),
    ("www.cvm.umn.edu", "web_page", "yes", False),
    ("1065223623-atari-embeds.googleusercontent.com", "google_sites", "yes", False),
    ("umn.qualtrics.com", "survey", "yes", False),
    ("umn.yul1.qualtrics.com", "survey", "yes", False),
    ("umnlms.ca1.qualtrics.com", "survey", "yes", False),
    ("articulateusercontent.com", "authoring_tool", "yes", False),
    ("kaf.canvas.umn.edu", "kaf", "no", True),
    ("mediaspace.umn.edu", "media_portal", "no", True),
    ("cdnapisec.kaltura.com", "standalone", "no", False),
    ("kmc.kaltura.com", "internal", "no", False),
    ("958321-2.kaf.kaltura.com", "kaf", "no", True),
    ("ay17.kaf.moodle.umn.edu", "legacy", "no", False),
    (None, "unknown", "n/a", False),
    ("C:", "offline", "n/a", False),
    ("D:", "offline", "n/a", False),
    ("E:", "offline", "n/a", False),
    ("Users", "offline", "n/a", False),
    ("localhost", "offline", "n/a", False),
    ("var", "offline", "n/a", False),
    ("com.google.android.gm", "offline", "n/a", False),
]


@pytest.mark.parametrize("domain, category, needs_action, managed", SEED_TABLE)
def test_seed_domains_are_classified_as_the_seed_says(shipped, domain, category, needs_action, managed):
    result = shipped.classify(domain)
    assert (result.category, result.needs_action, result.managed) == (category, needs_action, managed)
    assert result.rule_line is None if domain is None else result.rule_line is not None


def test_explanations_and_guidance_come_from_the_file(shipped):
    quiz = shipped.classify("umn.quiz-lti-iad-prod.instructure.com")
    assert "New Quizzes" in quiz.explanation and "cannot show which New Quiz" in quiz.guidance
    assert not quiz.page_identifiable
    page = shipped.classify("canvas.umn.edu")
    assert page.page_identifiable and page.category_label == "LMS page"
    assert "before August 10, 2020" in shipped.classify("958321-2.kaf.kaltura.com").explanation
    assert "outside the institution" in shipped.classify("example.org").explanation


def test_another_institution_reclassifies():
    hosts = {"lms": ("canvas.example.edu",), "other_lms": (), "mediaspace": ("media.example.edu",),
             "kaf": ("kaf.example.edu",), "institution": ("example.edu",)}
    rules = load(SHIPPED, hosts)
    assert rules.classify("canvas.example.edu").category == "lms_page"
    assert rules.classify("kaf.example.edu").category == "kaf"
    assert rules.classify("media.example.edu").category == "media_portal"
    assert rules.classify("x.kaf.moodle.example.edu").category == "legacy"
    # UMN's hosts are now just someone else's web pages.
    assert rules.classify("kaf.canvas.umn.edu").category == "web_page"
    assert rules.classify("mediaspace.umn.edu").needs_action == "yes"
    assert "outside the institution" in rules.classify("www.umn.edu").explanation


def test_a_rule_whose_hosts_are_not_set_is_inactive():
    rules = load(SHIPPED, {**EXAMPLE_EMBED_HOSTS, "kaf": ()})
    kaf_rule = next(rule for rule in rules.rules if rule.written == ("{kaf}",))
    assert not kaf_rule.active and kaf_rule.patterns == ()
    # The KAF host then falls through to the institution's web pages.
    assert rules.classify("kaf.canvas.umn.edu").category == "web_page"
    other = next(rule for rule in load(SHIPPED, EXAMPLE_EMBED_HOSTS).rules if rule.written == ("{other_lms}",))
    assert not other.active


GOOD = """\
[[rule]]
exact = "{lms}"
category = "lms_page"

[[rule]]
suffix = "example.org"
category = "web_page"
"""

BAD_FILES = [
    # (text, line, words in the problem)
    ('[[rule]]\ncategory = "web_page"\nregex = "[a-z"\n', 3, "bad regular expression"),
    ('[[rule]]\nexact = "x.edu"\ncategory = "lms_page"\n\n[[rule]]\nexact = "y.edu"\ncategory = "lms_pages"\n', 7,
     "unknown category 'lms_pages'"),
    ('[[rule]]\nexact = "x.edu"\ncategory = "web_page"\nexplain = "typo"\n', 4, "unknown key 'explain'"),
    ('[[rule]]\nsuffix = ".{campus}"\ncategory = "web_page"\n', 2, "unknown placeholder {campus}"),
    ('[[rule]]\nexact = "x.edu"\nregex = "x"\ncategory = "web_page"\n', 3, "exactly one of exact, suffix or regex"),
    ('[[rule]]\nexact = "x.edu"\ncategory = "web_page"\nneeds_action = "maybe"\n', 4, "needs_action must be one of"),
    ('[[rule]]\nexact = "x.edu"\ncategory = "web_page\n', 3, "not valid TOML"),
    ('lms = "canvas.example.edu"\n\n[[rule]]\nexact = "{lms}"\ncategory = "lms_page"\n', 1, "unknown setting 'lms'"),
]


@pytest.mark.parametrize("text, line, problem", BAD_FILES)
def test_a_bad_rules_file_names_its_line(text, line, problem):
    with pytest.raises(RulesError) as caught:
        parse(text, EXAMPLE_EMBED_HOSTS, "rules.toml")
    assert caught.value.line == line
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"rules.toml line {line}: ")


def test_a_missing_or_oversized_file_is_a_clear_error(tmp_path):
    with pytest.raises(RulesError, match="cannot be read") as caught:
        load(tmp_path / "missing.toml", EXAMPLE_EMBED_HOSTS)
    assert caught.value.line is None and "missing.toml" in str(caught.value)
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(RulesError, match="larger than 256 KiB"):
        load(big, EXAMPLE_EMBED_HOSTS)
    book = RuleBook(tmp_path / "missing.toml", EXAMPLE_EMBED_HOSTS)
    assert book.current().rules == () and "cannot be read" in str(book.error)
    assert book.current().classify("canvas.umn.edu").category == "unknown"


def rewrite(path, text):
    """Write a new version of the file, with a later modification time whatever the clock's resolution."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    later = before + 2_000_000_000
    os.utime(path, ns=(later, later))


def test_rule_book_keeps_the_last_good_rules_after_a_bad_edit(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(GOOD)
    book = RuleBook(path, EXAMPLE_EMBED_HOSTS)
    assert book.current().classify("canvas.umn.edu").category == "lms_page" and book.error is None

    rewrite(path, GOOD.replace('category = "web_page"', 'category = "web_pages"'))
    rules = book.current()
    assert rules.classify("canvas.umn.edu").category == "lms_page"
    assert rules.classify("www.example.org").category == "web_page"
    assert book.error.line == 7 and "unknown category 'web_pages'" in book.error.problem
    assert str(book.error).startswith(f"{path} line 7: ")

    rewrite(path, GOOD.replace('suffix = "example.org"', 'suffix = "example.net"'))
    rules = book.current()
    assert book.error is None
    assert rules.classify("www.example.net").category == "web_page"
    assert rules.classify("www.example.org").category == "unknown"


# ── flask embeds ─────────────────────────────────────────────────────────────────────────────────


def test_check_the_shipped_file(runner):
    result = runner.invoke(args=["embeds", "check"])
    assert result.exit_code == 0, result.output
    # EXAMPLE_EMBED_HOSTS leaves other_lms empty, so its rule matches nothing.
    count = SHIPPED.read_text().count("[[rule]]\n")
    assert f"{count} rules OK (1 inactive: their hosts are not set)" in result.output


def test_check_a_bad_file_names_the_line(runner, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(GOOD.replace('suffix = "example.org"', 'regex = "(example"'))
    result = runner.invoke(args=["embeds", "check", "--file", str(path)])
    assert result.exit_code == 1
    assert f"{path} line 6: bad regular expression" in result.output
    path.write_text(GOOD)
    assert "2 rules OK" in runner.invoke(args=["embeds", "check", "--file", str(path)]).output


def test_classify_urls(runner):
    result = runner.invoke(args=["embeds", "classify", "https://umn.quiz-lti-iad-prod.instructure.com/lti/x",
                                 "file:///C:/Users/x/page.html"])
    assert result.exit_code == 0, result.output
    quiz, offline = result.output.splitlines()
    assert quiz.split("\t")[:3] == ["umn.quiz-lti-iad-prod.instructure.com", "LMS quiz", "needs action: yes"]
    assert quiz.split("\t")[3].startswith("line ")
    assert offline.split("\t")[:3] == ["C:", "Downloaded / offline file", "needs action: n/a"]


def test_classify_an_unreadable_url_fails(runner):
    result = runner.invoke(args=["embeds", "classify", "https://canvas.umn.edu/courses/1", "not a url"])
    assert result.exit_code == 1
    assert "canvas.umn.edu\tLMS page\tneeds action: yes" in result.output
    assert "not a url: not a page URL or local path that can be read" in result.output
