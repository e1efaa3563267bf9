"""Course rosters from the platform: LTI Advantage Names and Role Provisioning Services (NRPS 2.0).

`sync_roster(course_id)` is a job function: it takes an id, reloads, fetches every page of the
course's memberships, then writes people, aliases and enrollments in one transaction. Everything is
fetched and checked before anything is written, so a failed sync changes nothing. Running it twice
is safe: the second run finds nothing to add.

What a sync removes: only enrollments it alone made (source "roster") that were never used for a
launch, when their member is reported Inactive or Deleted, or is missing from a complete roster
(Canvas lists active memberships only, so a dropped student simply disappears). People, their
aliases, their viewing, and enrollments made by launches or the demo seed are never deleted; a
sync refreshes their roles and level from the roster.

Hooks: after a launch has committed, `if roster_is_stale(course, now): request_sync(course.id)`; the
teacher's "Sync roster now" calls `request_sync(course.id)`. `request_sync` enqueues the job
`sync_roster_job` at most once a minute per course; `flask roster sync --course ID` runs `sync_roster`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit

import jwt
import requests
from flask import current_app
from sqlalchemy import select

from lti_tool.extensions import db
from lti_tool.ingest.people import resolve
from lti_tool.ingest.pipeline import _insert
from lti_tool.launch import keys
from lti_tool.launch.records import LTI, _record_aliases, _text
from lti_tool.models import Course, Enrollment, Person, Registration
from lti_tool.models.types import utcnow
from lti_tool.store import get_store

log = logging.getLogger(__name__)

NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEMBERSHIP_MEDIA_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CANVAS_USER_ID = "https://www.instructure.com/canvas_user_id"
STATUSES = {"active": "Active", "inactive": "Inactive", "deleted": "Deleted"}

STALE_AFTER = timedelta(hours=1)
# After a failed sync, launches do not enqueue another one for this many seconds (a developer key
# without the NRPS scope would otherwise cost a token request on every launch).
RETRY_FAILED_AFTER = 15 * 60
# A second "sync now" (or launch) within this many seconds of a requested sync does not enqueue another.
REQUEST_DEBOUNCE = 60
ASSERTION_LIFETIME = 300          # seconds the client assertion is valid
TOKEN_EXPIRY_MARGIN = 60          # seconds before expires_in at which a cached token is dropped
TOKEN_DEFAULT_LIFETIME = 300      # seconds a token is cached when the platform sends no expires_in
TOKEN_MAX_BYTES = 64 * 1024
TIMEOUT = (5, 30)                 # seconds: connect, read
# Overridable in the app config (a mapping passed to create_app):
DEFAULT_MAX_PAGES = 200           # Canvas pages hold at most 50 members: 10 000 members
DEFAULT_MAX_PAGE_BYTES = 4 * 1024 * 1024

LINK = re.compile(r"<([^>]*)>([^<]*)")
LINK_REL = re.compile(r';\s*rel\s*=\s*"?([^";]*)"?', re.IGNORECASE)


class RosterError(Exception):
    """A sync that cannot be done; the message is for a person (teacher, admin, job status)."""

    def __init__(self, message: str, status: int | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.status = status
        # Worth trying again later: the platform could not be reached or answered 429/5xx.
        self.transient = transient or (status is not None and (status == 429 or status >= 500))


@dataclass(frozen=True)
class Member:
    """One membership of the container, as far as the tool keeps it."""

    user_id: str                  # the LTI sub
    status: str                   # Active, Inactive or Deleted
    roles: tuple[str, ...]
    name: str | None
    given_name: str | None
    family_name: str | None
    email: str | None
    sourcedid: str | None         # lis_person_sourcedid: the SIS id
    lti11_user_id: str | None
    canvas_user_id: str | None    # only in `message`, which Canvas sends when asked with rlid
    login_id: str | None


@dataclass(frozen=True)
class Roster:
    members: tuple[Member, ...]
    pages: int
    complete: bool                # False when the page limit stopped the paging


@dataclass(frozen=True)
class RosterResult:
    course_id: int
    members: int                  # active members the platform listed
    added: int                    # enrollments created
    updated: int                  # enrollments whose roles, level or person details changed
    removed: int                  # roster-made enrollments removed
    pages: int
    complete: bool

    def line(self) -> str:
        text = (f"course {self.course_id}: {self.members} members in {self.pages} page(s); "
                f"{self.added} added, {self.updated} updated, {self.removed} removed")
        if not self.complete:
            text += " (page limit reached: the rest of the roster was not read, nobody was removed for being absent)"
        return text


@dataclass(frozen=True)
class _Credentials:
    """What a token request needs, read from the database before any network call."""

    client_id: str
    token_url: str
    audience: str
    kid: str
    private_pem: str = field(repr=False)  # never in a traceback or a log line

    @classmethod
    def of(cls, registration: Registration) -> "_Credentials":
        key = keys.signing_key()
        if key is None:
            raise RosterError("the tool has no signing key; run `flask lti keygen`")
        # Canvas wants aud = https://<its host>/login/oauth2/token, which is the token URL; a
        # registration may name another audience, as pylti1p3's auth_audience does.
        return cls(registration.client_id, registration.auth_token_url,
                   registration.auth_audience or registration.auth_token_url, key.kid, key.private_pem)

    def cache_key(self, scopes: list[str]) -> str:
        # Per client id *and* token URL: every Canvas Cloud tenant shares one issuer.
        ident = json.dumps([self.client_id, self.token_url, scopes])
        return "lti-service-token:" + hashlib.sha256(ident.encode()).hexdigest()


# -- access tokens (OAuth 2 client_credentials with a signed JWT assertion) ------------------------

def access_token(registration: Registration, scopes: list[str]) -> str:
    """A bearer token for the platform's services, cached until shortly before it expires."""
    with _http() as http:
        return _access_token(http, _Credentials.of(registration), scopes)


def _access_token(http: requests.Session, credentials: _Credentials, scopes: list[str]) -> str:
    scopes = sorted(set(scopes))
    store = get_store()
    cache_key = credentials.cache_key(scopes)
    cached = store.get(cache_key)
    if cached:
        return cached
    token, lifetime = _request_token(http, credentials, scopes)
    if lifetime - TOKEN_EXPIRY_MARGIN > 0:
        store.set(cache_key, token, lifetime - TOKEN_EXPIRY_MARGIN)
    return token


def _drop_token(credentials: _Credentials, scopes: list[str]) -> None:
    get_store().delete(credentials.cache_key(sorted(set(scopes))))


def _request_token(http: requests.Session, credentials: _Credentials, scopes: list[str]) -> tuple[str, int]:
    now = int(time.time())
    claims = {
        "iss": credentials.client_id, "sub": credentials.client_id, "aud": credentials.audience,
        # A few seconds back: a platform whose clock is slightly behind would refuse a future iat.
        "iat": now - 5, "exp": now + ASSERTION_LIFETIME, "jti": str(uuid.uuid4()),
    }
    assertion = jwt.encode(claims, credentials.private_pem, algorithm="RS256", headers={"kid": credentials.kid})
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion, "scope": " ".join(scopes)}
    url = credentials.token_url
    try:
        with http.post(url, data=form, headers={"Accept": "application/json"}, timeout=TIMEOUT, stream=True) as resp:
            raw = resp.raw.read(TOKEN_MAX_BYTES + 1, decode_content=True)
            status = resp.status_code
    except requests.RequestException as exc:
        raise RosterError(f"the platform's token endpoint {url} could not be reached: {exc}", transient=True) from exc
    if len(raw) > TOKEN_MAX_BYTES:
        raise RosterError(f"the token endpoint {url} answered with more than {TOKEN_MAX_BYTES} bytes", status)
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if status != 200:
        reason = ""
        if isinstance(body, dict) and body.get("error"):
            reason = f": {str(body['error'])[:100]}"
            if body.get("error_description"):
                reason += f" ({str(body['error_description'])[:300]})"
        raise RosterError(f"the platform refused the token request (HTTP {status}{reason}); check that the "
                          f"developer key is on and includes the Names and Role scope", status)
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise RosterError(f"the token endpoint {url} sent no access_token", status)
    if str(body.get("token_type", "Bearer")).lower() != "bearer":
        raise RosterError(f"the token endpoint {url} sent a {body['token_type']!r} token, not a bearer token", status)
    granted = body.get("scope")
    if isinstance(granted, str) and not set(scopes) <= set(granted.split()):
        raise RosterError(f"the platform granted the scopes {granted!r}, not {' '.join(scopes)!r}; add the "
                          "Names and Role scope to the developer key", status)
    try:
        lifetime = int(body.get("expires_in", TOKEN_DEFAULT_LIFETIME))
    except (TypeError, ValueError):
        lifetime = TOKEN_DEFAULT_LIFETIME
    return body["access_token"], lifetime


# -- fetching the membership container -------------------------------------------------------------

def _fetch(credentials: _Credentials, url: str) -> Roster:
    max_pages = int(current_app.config.get("ROSTER_MAX_PAGES", DEFAULT_MAX_PAGES))
    origin = _origin(url)
    members: dict[str, Member] = {}
    seen: set[str] = set()
    pages = 0
    next_url: str | None = url
    with _http() as http:
        while next_url and pages < max_pages:
            seen.add(next_url)
            body, link = _get_page(http, credentials, next_url)
            pages += 1
            for member in _parse_members(body, next_url):
                members[member.user_id] = member  # a member listed twice (the roster moved while paging): last wins
            following = _next_link(link)
            if following is not None:
                # Resolved against the page, never lower-cased or re-encoded: Canvas paging URLs are case-sensitive.
                following = urljoin(next_url, following)
                if _origin(following) != origin:
                    raise RosterError(f"the roster's next page {following} is on another host than {url}; "
                                      "the access token is not sent there")
                if following in seen:
                    raise RosterError(f"the roster's pages link back to {following}")
            next_url = following
    return Roster(tuple(members.values()), pages, complete=next_url is None)


def _get_page(http: requests.Session, credentials: _Credentials, url: str) -> tuple[bytes, str]:
    max_bytes = int(current_app.config.get("ROSTER_MAX_PAGE_BYTES", DEFAULT_MAX_PAGE_BYTES))
    scopes = [NRPS_SCOPE]
    for attempt in (1, 2):
        token = _access_token(http, credentials, scopes)
        headers = {"Authorization": f"Bearer {token}", "Accept": MEMBERSHIP_MEDIA_TYPE}
        try:
            with http.get(url, headers=headers, timeout=TIMEOUT, stream=True) as resp:
                status, link = resp.status_code, resp.headers.get("Link", "")
                declared = resp.headers.get("Content-Length", "")
                if status == 200 and declared.isdigit() and int(declared) > max_bytes:
                    raise RosterError(f"the roster page {url} is larger than {max_bytes} bytes", status)
                raw = resp.raw.read(max_bytes + 1, decode_content=True) if status == 200 else b""
        except requests.RequestException as exc:
            raise RosterError(f"the roster service {url} could not be reached: {exc}", transient=True) from exc
        if status == 401 and attempt == 1:
            # The token may have been revoked or expired early: one fresh token, one retry of this page.
            _drop_token(credentials, scopes)
            continue
        if status != 200:
            raise RosterError(f"the roster service answered HTTP {status} for {url}", status)
        if len(raw) > max_bytes:
            raise RosterError(f"the roster page {url} is larger than {max_bytes} bytes", status)
        return raw, link
    raise AssertionError("unreachable")


def _next_link(header: str) -> str | None:
    for target, params in LINK.findall(header or ""):
        rel = LINK_REL.search(params)
        if rel and "next" in rel.group(1).lower().split():
            return target.strip() or None
    return None


def _parse_members(raw: bytes, url: str) -> list[Member]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RosterError(f"the roster page {url} is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("members"), list):
        raise RosterError(f"the roster page {url} is not a membership container (no members list)")
    members = []
    for position, item in enumerate(data["members"], start=1):
        user_id = item.get("user_id") if isinstance(item, dict) else None
        if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 255:
            raise RosterError(f"member {position} on the roster page {url} has no usable user_id")
        status = STATUSES.get(str(item.get("status", "Active")).lower())
        roles = item.get("roles", [])
        if status is None or not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise RosterError(f"member {position} on the roster page {url} has an unknown status or malformed roles")
        messages = item.get("message") or []
        messages = [m for m in (messages if isinstance(messages, list) else [messages]) if isinstance(m, dict)]
        custom = {}
        canvas_user_id = None
        for message in messages:
            custom.update(message.get(LTI + "custom") or {})
            if message.get(CANVAS_USER_ID) is not None:
                canvas_user_id = str(message[CANVAS_USER_ID])
        legacy = item.get("lti11_legacy_user_id") or next(
            (m.get(LTI + "lti11_legacy_user_id") for m in messages if m.get(LTI + "lti11_legacy_user_id")), None)
        members.append(Member(
            user_id=user_id.strip(), status=status, roles=tuple(roles[:50]),
            name=_text(item.get("name")), given_name=_text(item.get("given_name")),
            family_name=_text(item.get("family_name")), email=_text(item.get("email")),
            sourcedid=_text(item.get("lis_person_sourcedid")), lti11_user_id=_text(legacy),
            canvas_user_id=_text(canvas_user_id or custom.get("canvas_user_id")),
            login_id=_text(custom.get("canvas_login_id")),
        ))
    return members


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _http() -> requests.Session:
    http = requests.Session()
    http.headers["User-Agent"] = "media-analytics-lti roster"
    return http


# -- the job ---------------------------------------------------------------------------------------

def sync_roster(course_id: int) -> RosterResult:
    """Fetch the course's roster through NRPS and record it; raises RosterError with nothing changed."""
    course = db.session.get(Course, course_id)
    if course is None:
        raise RosterError(f"there is no course {course_id}")
    if not course.nrps_url:
        raise RosterError(f"course {course_id} ({course.title}) has no roster service URL: no launch has "
                          "carried the Names and Role claim (is the NRPS scope on the developer key?)")
    url, registration_id = course.nrps_url, course.registration_id
    try:
        credentials = _Credentials.of(course.registration)
        # End the read transaction: no database connection is held while the platform answers.
        db.session.commit()
        roster = _fetch(credentials, url)
    except RosterError as exc:
        get_store().set(_failure_key(course_id), str(exc), RETRY_FAILED_AFTER)
        raise
    try:
        course = db.session.get(Course, course_id)
        if course is None:
            raise RosterError(f"course {course_id} was removed while its roster was being fetched")
        result = _record(course_id, registration_id, roster)
        course.roster_synced_at = utcnow()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    get_store().delete(_failure_key(course_id))
    log.info("roster synced: %s", result.line())
    return result


def roster_is_stale(course: Course, now: datetime) -> bool:
    """Whether a launch should enqueue `sync_roster`: the course has a roster service, its roster was
    never synced or more than an hour ago, and no sync failed in the last 15 minutes."""
    if not course.nrps_url:
        return False
    if course.roster_synced_at is not None and now - course.roster_synced_at < STALE_AFTER:
        return False
    return get_store().get(_failure_key(course.id)) is None


@dataclass(frozen=True)
class RosterStatus:
    available: bool               # the platform sent a roster service URL for this course
    synced_at: datetime | None
    last_error: str | None        # why the last sync failed (for 15 minutes after it did)
    requested: bool               # a sync was requested less than a minute ago


def roster_status(course: Course) -> RosterStatus:
    store = get_store()
    return RosterStatus(bool(course.nrps_url), course.roster_synced_at, store.get(_failure_key(course.id)),
                        store.get(_requested_key(course.id)) is not None)


def request_sync(course_id: int) -> bool:
    """Enqueue `sync_roster_job` unless one was requested in the last minute; True when enqueued.
    jobs.Unavailable when it could not be queued (then a new request may follow at once)."""
    from lti_tool.jobs import Unavailable, enqueue

    if not get_store().add(_requested_key(course_id), 1, REQUEST_DEBOUNCE):
        return False
    try:
        enqueue(sync_roster_job, course_id, queue="default")
    except Unavailable:
        get_store().delete(_requested_key(course_id))
        raise
    return True


def sync_roster_job(course_id: int) -> None:
    """The background job. A failure is kept for the settings page (see `roster_status`); only one
    worth retrying (platform unreachable, 429, 5xx) is raised, as a TransientError."""
    from lti_tool.jobs import TransientError

    try:
        sync_roster(course_id)
    except RosterError as exc:
        if exc.transient:
            raise TransientError(f"The roster could not be fetched from Canvas: {exc}") from exc
        log.warning("roster sync of course %s failed: %s", course_id, exc)
    finally:
        get_store().delete(_requested_key(course_id))


def _failure_key(course_id: int) -> str:
    return f"roster-failed:{course_id}"


def _requested_key(course_id: int) -> str:
    return f"roster-requested:{course_id}"


def _record(course_id: int, registration_id: int, roster: Roster) -> RosterResult:
    registration = db.session.get(Registration, registration_id)
    policy = current_app.extensions["role_policy"]
    active = [m for m in roster.members if m.status == "Active"]
    left = [m.user_id for m in roster.members if m.status != "Active"]

    # Get-or-create by sub the way every feed does (concurrent launches creating the same person are fine).
    person_ids = resolve(registration_id, {f"sub:{m.user_id}" for m in active}) if active else {}
    people = {p.id: p for p in _in_chunks(select(Person), Person.id, list(person_ids.values()))}
    left_ids = {p.id for p in _in_chunks(select(Person).where(Person.registration_id == registration_id),
                                         Person.subject, left)}
    enrollments = {e.person_id: e for e in db.session.scalars(
        select(Enrollment).where(Enrollment.course_id == course_id))}

    added_rows, updated = [], 0
    for member in active:
        person = people[person_ids[f"sub:{member.user_id}"]]
        person_changed = _update_person(person, member)
        _record_aliases(registration, person, *_alias_claims(member))
        decision = policy.decide(list(member.roles))
        roles = list(member.roles)
        enrollment = enrollments.get(person.id)
        if enrollment is None:
            added_rows.append({"course_id": course_id, "person_id": person.id, "roles": roles,
                               "level": decision.course_level, "role_label": decision.label,
                               "source": "roster", "launch_count": 0, "last_launch_at": None})
        elif (enrollment.roles, enrollment.level, enrollment.role_label) != (
                roles, decision.course_level, decision.label):
            enrollment.roles, enrollment.level, enrollment.role_label = roles, decision.course_level, decision.label
            updated += 1
        elif person_changed:
            updated += 1

    added = 0
    if added_rows:
        # ON CONFLICT: a launch may have enrolled the same person since we looked.
        statement = _insert(Enrollment).on_conflict_do_nothing(
            index_elements=["course_id", "person_id"]).returning(Enrollment.id)
        added = len(db.session.scalars(statement, added_rows).all())

    active_ids = set(person_ids.values())
    removed = 0
    for enrollment in enrollments.values():
        if enrollment.source != "roster" or enrollment.launch_count:
            continue  # launch-made, seeded, or used for a launch: never removed by a sync
        gone = enrollment.person_id in left_ids or (roster.complete and enrollment.person_id not in active_ids)
        if gone:
            db.session.delete(enrollment)
            removed += 1
    db.session.flush()
    return RosterResult(course_id, len(active), added, updated, removed, roster.pages, roster.complete)


def _update_person(person: Person, member: Member) -> bool:
    """Copy what the roster sends (as the privacy level allows); an absent value keeps the old one."""
    changed = False
    for field in ("name", "given_name", "family_name", "email"):
        value = getattr(member, field)
        if value and getattr(person, field) != value:
            setattr(person, field, value)
            changed = True
    return changed


def _alias_claims(member: Member) -> tuple[dict, dict]:
    """The member in the shape of launch claims, so aliases are recorded exactly as a launch records them."""
    claims = {"email": member.email, LTI + "lis": {"person_sourcedid": member.sourcedid},
              LTI + "lti11_legacy_user_id": member.lti11_user_id}
    custom = {"canvas_user_id": member.canvas_user_id, "canvas_login_id": member.login_id}
    return claims, custom


def _in_chunks(query, column, values: list, size: int = 1000) -> list:
    rows = []
    for start in range(0, len(values), size):
        rows.extend(db.session.scalars(query.where(column.in_(values[start:start + size]))))
    return rows
