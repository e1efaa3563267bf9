"""Where media is embedded: domains with what they mean, their page URLs with the entries shown on each,
and the embed audit (every page URL x entry on the domains that need action in a player upgrade).

The numbers are `reports.breakdown`'s (one definition per metric); what a domain means comes from
the embed rules (`lti_tool.embed_rules`), passed in so these functions stay pure.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lti_tool.embed_rules import Classification, Rules
from lti_tool.models import MediaEntry, Play, PlayerLoad, PlayRollup

from . import reports
from .metrics import UNKNOWN_DOMAIN, Scope, reads_rollups

__all__ = ["UNKNOWN_DOMAIN", "Audit", "AuditGroup", "AuditRow", "DomainRow", "PageEntry", "PageRow", "audit",
           "domain_key", "domain_rows", "needs_audit", "page_rows", "with_meaning"]

# What an audit row says when its page URL does not lead to the page holding the embed.
PAGE_NOTES = {
    "clues": "Page cannot be opened: the URL holds clues to the folder and file",
    "hidden": "Page cannot be identified: the URL names the site, not the page",
    "none": "Page cannot be identified",
}
NO_URL_NOTE = "Page unknown: the player sent no page URL"


@dataclass(frozen=True)
class DomainRow:
    domain: str | None                 # None: plays and loads without a page URL ("Unknown")
    key: str                           # the domain, or UNKNOWN_DOMAIN: how URLs and filters name it
    classification: Classification
    impressions: int
    plays: int
    unique_viewers: int
    minutes_viewed: float
    avg_completion_rate: float | None  # percent 0-100
    played_entries: int
    last_seen_at: datetime | None


def domain_key(domain: str | None) -> str:
    return domain if domain else UNKNOWN_DOMAIN


def domain_rows(session: Session, scope: Scope, rules: Rules) -> list[DomainRow]:
    """Every domain in scope with its metrics and meaning, ranked by plays (then impressions)."""
    return with_meaning(reports.breakdown(session, scope, "domain"), rules)


def with_meaning(breakdown: list[reports.BreakdownRow], rules: Rules) -> list[DomainRow]:
    """Rows of reports.breakdown(..., "domain"), in their order, with what each domain means."""
    return [DomainRow(r.value, domain_key(r.value), rules.classify(r.value), r.impressions, r.plays,
                      r.unique_viewers, r.minutes_viewed, r.avg_completion_rate, r.played_entries, r.last_seen_at)
            for r in breakdown]


@dataclass(frozen=True)
class PageEntry:
    entry_id: str                      # the entry's id as the player shows it (external id)
    name: str
    plays: int
    impressions: int
    last_seen_at: datetime | None


@dataclass(frozen=True)
class PageRow:
    url: str | None                    # None: no page URL
    openable: bool                     # a web address whose page can be opened in a browser tab
    impressions: int
    plays: int
    unique_viewers: int
    minutes_viewed: float
    avg_completion_rate: float | None  # percent 0-100
    last_seen_at: datetime | None
    entries: tuple[PageEntry, ...]     # the entries shown on the page, by plays


def page_rows(session: Session, scope: Scope, key: str, rules: Rules) -> list[PageRow]:
    """The page URLs of one domain (`key` as DomainRow.key names it), each with the entries shown on it."""
    narrowed = replace(scope, domains=(key,))
    opens = rules.classify(None if key == UNKNOWN_DOMAIN else key).page_identifiable
    entries = _page_entries(session, narrowed)
    rows = [PageRow(r.value, opens and _is_web(r.value), r.impressions, r.plays, r.unique_viewers, r.minutes_viewed,
                    r.avg_completion_rate, r.last_seen_at, tuple(entries.get((key, r.value), ())))
            for r in reports.breakdown(session, narrowed, "url")]
    return rows


def _is_web(url: str | None) -> bool:
    return bool(url) and url.startswith(("https://", "http://"))


def _page_entries(session: Session, scope: Scope) -> dict[tuple[str, str | None], list[PageEntry]]:
    """(domain key, page URL) -> the entries played or loaded there, by plays, then impressions, then id."""
    if reads_rollups(session, scope):
        r = PlayRollup
        plays, loads = {}, {}
        for d, u, e, n, last, shown, loaded in session.execute(
                select(r.domain, r.url, r.entry_id, func.sum(r.plays), func.max(r.last_played_at),
                       func.sum(r.impressions), func.max(r.last_loaded_at))
                .where(*scope.rollup_where()).group_by(r.domain, r.url, r.entry_id)):
            if n:
                plays[(d, u, e)] = (n, last)
            if shown:
                loads[(d, u, e)] = (shown, loaded)
        return _pages(session, plays, loads)
    plays = {(d, u, e): (n, last) for d, u, e, n, last in session.execute(
        select(Play.domain, Play.url, Play.entry_id, func.count(Play.id), func.max(Play.started_at))
        .where(*scope.where(Play, Play.started_at)).group_by(Play.domain, Play.url, Play.entry_id))}
    loads = {(d, u, e): (n, last) for d, u, e, n, last in session.execute(
        select(PlayerLoad.domain, PlayerLoad.url, PlayerLoad.entry_id, func.count(PlayerLoad.id),
               func.max(PlayerLoad.occurred_at))
        .where(*scope.where(PlayerLoad, PlayerLoad.occurred_at))
        .group_by(PlayerLoad.domain, PlayerLoad.url, PlayerLoad.entry_id))}
    return _pages(session, plays, loads)


def _pages(session: Session, plays: dict, loads: dict) -> dict[tuple[str, str | None], list[PageEntry]]:
    ids = {e for _d, _u, e in (*plays, *loads)}
    names = _entry_names(session, ids)
    pages: dict[tuple[str, str | None], list[PageEntry]] = {}
    for domain, url, entry_id in set(plays) | set(loads):
        n, last_play = plays.get((domain, url, entry_id), (0, None))
        shown, last_load = loads.get((domain, url, entry_id), (0, None))
        external_id, name = names[entry_id]
        last = max([t for t in (last_play, last_load) if t is not None], default=None)
        pages.setdefault((domain_key(domain), url), []).append(PageEntry(external_id, name, n, shown, last))
    for items in pages.values():
        items.sort(key=lambda e: (-e.plays, -e.impressions, e.entry_id))
    return pages


def _entry_names(session: Session, ids: set[int]) -> dict[int, tuple[str, str]]:
    return {e.id: (e.external_id, e.display_name)
            for e in session.scalars(select(MediaEntry).where(MediaEntry.id.in_(ids or {-1})))}


# -- the embed audit ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AuditRow:
    domain: str | None
    category: str                      # the category's label
    needs_action: str                  # yes, no or n/a
    page_url: str | None
    page_identifiable: bool            # the URL leads to the page holding the embed
    note: str                          # why it does not ("" when it does)
    entry_id: str
    entry_name: str
    plays: int
    impressions: int
    last_seen_at: datetime | None


@dataclass(frozen=True)
class AuditGroup:
    domain: DomainRow
    rows: tuple[AuditRow, ...]         # page URL x entry, by page URL then plays

    @property
    def pages(self) -> int:
        return len({r.page_url for r in self.rows})

    @property
    def entries(self) -> int:
        return len({r.entry_id for r in self.rows})


@dataclass(frozen=True)
class Audit:
    domains: tuple[DomainRow, ...]     # every domain in scope, whatever is selected
    selected: tuple[str, ...]          # domain keys in the inventory
    default_selection: bool            # True: nobody chose, the needs-action domains are selected
    groups: tuple[AuditGroup, ...]     # one per selected domain with data, ranked by plays

    @property
    def rows(self) -> int:
        return sum(len(g.rows) for g in self.groups)


def needs_audit(row: DomainRow) -> bool:
    """Selected by default: every domain whose embeds need action or whose need is unknown, except the
    managed ones (the LMS integration and the media portal, which the upgrade handles itself)."""
    return not row.classification.managed and row.classification.needs_action != "no"


def audit(session: Session, scope: Scope, rules: Rules) -> Audit:
    """The inventory of embeds to check: with the scope's domain filter those domains, else the default
    selection (needs_audit). The scope's other filters (period, media type, location, device) apply."""
    chosen = scope.domains
    every = tuple(domain_rows(session, replace(scope, domains=()), rules))
    selected = tuple(chosen) if chosen else tuple(r.key for r in every if needs_audit(r))
    if not selected:
        return Audit(every, (), not chosen, ())
    pages = _page_entries(session, replace(scope, domains=selected))
    groups = []
    for row in every:
        if row.key not in selected:
            continue
        c = row.classification
        items = []
        for (key, url), entries in sorted(((k, v) for k, v in pages.items() if k[0] == row.key),
                                          key=lambda item: (item[0][1] is None, item[0][1] or "")):
            identifiable = url is not None and c.page_identifiable
            note = "" if identifiable else (NO_URL_NOTE if url is None else PAGE_NOTES.get(c.page, PAGE_NOTES["none"]))
            items.extend(AuditRow(row.domain, c.category_label, c.needs_action, url, identifiable, note, e.entry_id,
                                  e.name, e.plays, e.impressions, e.last_seen_at) for e in entries)
        groups.append(AuditGroup(row, tuple(items)))
    return Audit(every, selected, not chosen, tuple(groups))
