"""Embed-domain rules: what a domain where media was played means, read from config/embed_domains.toml.

A rule matches a domain by exact host, suffix or regular expression and names one of the fixed
CATEGORIES; it may add its own explanation and guidance and override whether embeds there need
action in a player upgrade. Patterns may name the institution's hosts as placeholders ({lms},
{other_lms}, {mediaspace}, {kaf}, {institution}), filled in from the EMBED_HOSTS setting. Rules are
tried top to bottom; the first match wins.

`RuleBook` keeps the rules of a running tool: it rereads the file when it changes and, when the new
text has an error, keeps the last good rules and remembers the error (with its line) for the admin
page.
"""
from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from threading import Lock

log = logging.getLogger(__name__)

NEEDS_ACTION = ("yes", "no", "n/a")
# How far the page URL tells where the embed is:
#   open:   the URL opens the page (the viewer may still lack access to it)
#   clues:  the URL cannot be opened, but its text names the folder and file
#   hidden: the URL names a host, not the survey, quiz, module or page holding the embed
#   none:   there is no page to find (a downloaded file, an unknown page)
PAGE_KINDS = ("open", "clues", "hidden", "none")


@dataclass(frozen=True)
class Category:
    id: str
    label: str
    needs_action: str        # the default of its rules: yes, no or n/a
    managed: bool            # handled by the upgrade itself (the LMS integration, the media portal)
    page: str                # one of PAGE_KINDS
    guidance: str            # the default guidance of its rules


CATEGORIES: dict[str, Category] = {c.id: c for c in (
    Category("lms_page", "LMS page", "yes", False, "open",
             "Open the page, find the player and replace its embed code with one made by the LMS integration."),
    Category("lms_file", "LMS file in user content", "yes", False, "clues",
             "The page URL cannot be opened, but its text holds clues about the folder and file name in the "
             "owner's LMS files. Update the embed code in that file and upload it again."),
    Category("lms_quiz", "LMS quiz", "yes", False, "hidden",
             "The analytics cannot show which quiz or question holds the embed. Check the quizzes of the "
             "courses where this media is used."),
    Category("scorm", "SCORM package", "yes", False, "hidden",
             "The analytics cannot show which SCORM module or page holds the embed. Update the package's "
             "source and upload it again."),
    Category("google_sites", "Google Sites", "yes", False, "hidden",
             "The analytics cannot show which Google Sites page holds the embed."),
    Category("survey", "Survey (Qualtrics)", "yes", False, "hidden",
             "The analytics cannot show which survey or question holds the embed."),
    Category("authoring_tool", "Authoring tool (Articulate)", "yes", False, "hidden",
             "The analytics cannot show which object in the authoring tool holds the embed."),
    Category("web_page", "Web page", "yes", False, "open",
             "Open the page and replace the embed code, or ask the page's owner to."),
    Category("kaf", "LMS tool integration (KAF)", "no", True, "open",
             "Media loaded through the LMS integration. No action needed: the upgrade handles it."),
    Category("media_portal", "Media portal (MediaSpace)", "no", True, "open",
             "Media loaded in the media portal itself. No action needed: the upgrade handles it."),
    Category("standalone", "Standalone player page", "no", False, "open",
             "Links to a standalone player page keep working, but this way of sharing is no longer supported. "
             "Share the media portal page of the entry instead."),
    Category("internal", "Internal / troubleshooting", "no", False, "hidden",
             "Loaded for internal troubleshooting or accessibility work. No action needed."),
    Category("legacy", "Legacy", "no", False, "hidden",
             "A site that no longer exists. No action needed."),
    Category("offline", "Downloaded / offline file", "n/a", False, "none",
             "Played from a page saved to a viewer's computer or device. A downloaded file cannot be updated."),
    Category("unknown", "Unknown", "n/a", False, "none",
             "The page the media was loaded from is unclear. No action possible."),
)}

HOST_KEYS = ("lms", "other_lms", "mediaspace", "kaf", "institution")
PATTERN_KEYS = ("exact", "suffix", "regex")
RULE_KEYS = frozenset({*PATTERN_KEYS, "category", "explanation", "guidance", "needs_action"})
MAX_RULES = 500
MAX_FILE_BYTES = 256 * 1024
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_RULE_HEADER = re.compile(r"^\s*\[\[\s*rule\s*\]\]\s*(#.*)?$")
_TABLE_HEADER = re.compile(r"^\s*\[")


class RulesError(ValueError):
    """A rules file that cannot be used; `line` is the line the problem is on (None: the whole file)."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        self.source, self.line, self.problem = source, line, problem
        where = f"{source} line {line}" if line else source
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Rule:
    line: int                        # where the rule starts in the file
    kind: str                        # exact, suffix or regex
    written: tuple[str, ...]         # the patterns as written (placeholders unfilled)
    patterns: tuple[str, ...]        # filled in and lower-cased; empty when its hosts are not set
    category: Category
    explanation: str
    guidance: str
    needs_action: str
    regex: re.Pattern | None = field(default=None, compare=False)

    @property
    def active(self) -> bool:
        return bool(self.patterns)

    def matches(self, domain: str) -> bool:
        if self.kind == "exact":
            return domain in self.patterns
        if self.kind == "suffix":
            return any(_ends_with(domain, suffix) for suffix in self.patterns)
        return self.regex is not None and self.regex.fullmatch(domain) is not None


def _ends_with(domain: str, suffix: str) -> bool:
    """`.x.com` and `-x.com` match as written; a bare `x.com` matches x.com itself and its subdomains."""
    if suffix[0] in ".-":
        return domain.endswith(suffix)
    return domain == suffix or domain.endswith("." + suffix)


@dataclass(frozen=True)
class Classification:
    """What a domain means: its category, the rule that said so, and what to do about embeds there."""
    domain: str | None
    category: str
    category_label: str
    explanation: str
    guidance: str
    needs_action: str                # yes, no or n/a
    managed: bool
    page: str                        # one of PAGE_KINDS
    rule_line: int | None            # None: no rule matched (or there was no domain)

    @property
    def page_identifiable(self) -> bool:
        """True when a page URL of this domain leads to the page holding the embed."""
        return self.page == "open"


def _fallback(domain: str | None, explanation: str) -> Classification:
    unknown = CATEGORIES["unknown"]
    return Classification(domain, unknown.id, unknown.label, explanation, unknown.guidance, unknown.needs_action,
                          unknown.managed, unknown.page, None)


@dataclass(frozen=True)
class Rules:
    rules: tuple[Rule, ...]
    hosts: dict = field(default_factory=dict, compare=False)

    def classify(self, domain: str | None) -> Classification:
        """The first rule matching the domain (case-insensitive); no domain or no match is "unknown"."""
        if not domain:
            return _fallback(None, "The page the media was loaded from is unclear (the player sent no page URL).")
        name = domain.strip().lower().rstrip(".")
        for rule in self.rules:
            if rule.matches(name):
                c = rule.category
                return Classification(domain, c.id, c.label, rule.explanation, rule.guidance, rule.needs_action,
                                      c.managed, c.page, rule.line)
        return _fallback(domain, "No rule describes this domain.")


def parse(text: str, hosts: dict, source: str = "embed_domains.toml") -> Rules:
    """Rules from the text of a rules file; RulesError (naming the line) when it cannot be used."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise RulesError(source, None, f"the file is larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+)", str(exc))
        raise RulesError(source, int(found.group(1)) if found else None,
                         f"not valid TOML ({re.sub(r' [(]at line .*', '', str(exc))})") from None
    lines = text.splitlines()
    for key in data:
        if key != "rule":
            raise RulesError(source, _top_level_line(lines, key), f"unknown setting {key!r}: the file holds "
                             "[[rule]] tables only (the institution's hosts are the EMBED_*_HOSTS settings)")
    entries = data.get("rule", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise RulesError(source, _top_level_line(lines, "rule"), "rules are written as [[rule]] tables")
    if len(entries) > MAX_RULES:
        raise RulesError(source, None, f"more than {MAX_RULES} rules")
    starts = [number for number, line in enumerate(lines, 1) if _RULE_HEADER.match(line)]
    filled = {key: tuple(h.strip().lower() for h in hosts.get(key, ()) if h.strip()) for key in HOST_KEYS}
    rules = [_rule(entry, _RuleLines(lines, starts, index), filled, source) for index, entry in enumerate(entries)]
    return Rules(tuple(rules), dict(filled))


@dataclass(frozen=True)
class _RuleLines:
    """Finds the line of a rule's key, for error messages."""
    lines: list[str]
    starts: list[int]
    index: int

    @property
    def start(self) -> int | None:
        return self.starts[self.index] if self.index < len(self.starts) else None

    def of(self, key: str) -> int | None:
        if self.start is None:
            return None
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(self.start + 1, len(self.lines) + 1):
            line = self.lines[number - 1]
            if _TABLE_HEADER.match(line):
                break
            if pattern.match(line):
                return number
        return self.start


def _top_level_line(lines: list[str], key: str) -> int | None:
    pattern = re.compile(rf"^\s*(\[+\s*{re.escape(key)}\b|{re.escape(key)}\s*=)")
    return next((n for n, line in enumerate(lines, 1) if pattern.match(line)), None)


def _rule(entry: dict, where: _RuleLines, hosts: dict, source: str) -> Rule:
    def fail(key: str | None, problem: str):
        raise RulesError(source, where.of(key) if key else where.start, problem)

    for key in entry:
        if key not in RULE_KEYS:
            fail(key, f"unknown key {key!r} (a rule has {', '.join(sorted(RULE_KEYS))})")
    kinds = [k for k in PATTERN_KEYS if k in entry]
    if len(kinds) != 1:
        fail(kinds[1] if len(kinds) > 1 else None, "a rule needs exactly one of exact, suffix or regex")
    kind = kinds[0]
    raw = entry[kind]
    written = (raw,) if isinstance(raw, str) else raw
    if not isinstance(written, list | tuple) or not written or not all(isinstance(p, str) and p.strip()
                                                                       for p in written):
        fail(kind, f"{kind} must be a pattern or a list of patterns (non-empty text)")
    if any(len(p) > 500 for p in written):
        fail(kind, "a pattern is longer than 500 characters")
    category_id = entry.get("category")
    if not isinstance(category_id, str) or category_id not in CATEGORIES:
        fail("category", f"unknown category {category_id!r} (use one of {', '.join(CATEGORIES)})")
    category = CATEGORIES[category_id]
    texts = {}
    for key in ("explanation", "guidance", "needs_action"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 2000):
            fail(key, f"{key} must be text of at most 2000 characters")
        texts[key] = value
    needs_action = texts["needs_action"] or category.needs_action
    if needs_action not in NEEDS_ACTION:
        fail("needs_action", f"needs_action must be one of {', '.join(NEEDS_ACTION)}")
    try:
        patterns = tuple(p for pattern in written for p in _fill(pattern.strip(), hosts, kind))
    except KeyError as exc:
        fail(kind, f"unknown placeholder {{{exc.args[0]}}} (use one of "
                   f"{', '.join('{' + k + '}' for k in HOST_KEYS)})")
    regex = None
    if kind == "regex" and patterns:
        try:
            regex = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
        except re.error as exc:
            fail(kind, f"bad regular expression: {exc}")
    else:
        patterns = tuple(p.lower() for p in patterns)
    return Rule(where.start or 0, kind, tuple(written), patterns, category, texts["explanation"] or "",
                texts["guidance"] or category.guidance, needs_action, regex)


def _fill(pattern: str, hosts: dict, kind: str) -> list[str]:
    """The pattern once per host its placeholder stands for (none when those hosts are not set)."""
    names = _PLACEHOLDER.findall(pattern)
    if not names:
        return [pattern]
    for name in names:
        if name not in hosts:
            raise KeyError(name)
    if kind == "regex":
        # In a regular expression a placeholder is an alternation of its hosts, escaped.
        if any(not hosts[name] for name in names):
            return []
        return [_PLACEHOLDER.sub(lambda m: "(?:" + "|".join(re.escape(h) for h in hosts[m.group(1)]) + ")",
                                 pattern)]
    results = [pattern]
    for name in dict.fromkeys(names):
        results = [r.replace("{" + name + "}", host) for r in results for host in hosts[name]]
    return results


def load(path: str | Path, hosts: dict) -> Rules:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(str(path), None, f"cannot be read ({exc.__class__.__name__}: {exc})") from None
    return parse(text, hosts, str(path))


class RuleBook:
    """The rules a running tool uses: reread when the file changes; on an error the last good rules stay."""

    def __init__(self, path: str | Path, hosts: dict) -> None:
        self.path, self.hosts = Path(path), {k: tuple(hosts.get(k, ())) for k in HOST_KEYS}
        self.error: RulesError | None = None
        self.loaded_at: datetime | None = None      # when the rules in force were read (UTC)
        self._rules = Rules(())
        self._seen: tuple | None = None
        self._lock = Lock()

    def current(self) -> Rules:
        """The rules in force, after rereading the file if it changed since the last look."""
        stamp = self._stamp()
        if stamp != self._seen:
            with self._lock:
                if stamp != self._seen:
                    self._reload(stamp)
        return self._rules

    def _stamp(self) -> tuple:
        try:
            info = self.path.stat()
        except OSError:
            return ("missing",)
        return (info.st_mtime_ns, info.st_size, info.st_ino)

    def _reload(self, stamp: tuple) -> None:
        try:
            self._rules = load(self.path, self.hosts)
            self.error, self.loaded_at = None, datetime.now(timezone.utc)
        except RulesError as exc:
            self.error = exc
            log.error("embed domain rules not loaded (%s): %s",
                      "the last good rules stay in force" if self._rules.rules else "no rules are in force", exc)
        self._seen = stamp


def current_rules() -> Rules:
    """The rules in force for the running app (reread when the file changed)."""
    from flask import current_app

    return current_app.extensions["embed_rules"].current()
