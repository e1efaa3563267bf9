"""Enrichment of media player events at ingest: page, device and location, as pure functions.

Everything here is offline and never raises on what a player sends: a value that cannot be read
becomes None. The viewer's IP address is only looked up, never returned, logged or stored.
"""
from __future__ import annotations

import base64
import functools
import ipaddress
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, unquote_plus, urlsplit

import geoip2.database
import maxminddb
import ua_parser
from geoip2.errors import AddressNotFoundError

log = logging.getLogger(__name__)


# ── Page ────────────────────────────────────────────────────────────────────────────────────────

MAX_URL_CHARS = 1000
# The longest name DNS allows; a longer host or local label is not a page.
MAX_DOMAIN_CHARS = 253
# Characters of a raw value that are read at all; no real page URL or referrer is longer.
MAX_RAW_CHARS = 16 * 1024
# A referrer may be URI-encoded twice and base64 on top; more layers than this are not a URL.
_DECODE_ROUNDS = 4

_TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "twclid",
    "ttclid", "li_fat_id", "mc_eid", "mc_cid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok",
    "oly_enc_id", "oly_anon_id", "vero_id", "s_kwcid", "epik", "srsltid",
})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
# Schemes of pages inside an installed app or a downloaded copy, never a web server.
_APP_SCHEMES = frozenset({
    "android-app", "capacitor", "ionic", "app", "content", "ms-appx", "ms-appx-web",
})
# Characters left as they are in a canonical path or query ('%' keeps existing escapes).
_URL_SAFE = "!$%&'()*+,/:;=?@[]~"

# Control characters, and lone surrogates (which no encoder accepts) from a bad decode upstream.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_SCHEME_URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_DRIVE_PATH = re.compile(r"[a-z]:[\\/]", re.IGNORECASE)
_DRIVE = re.compile(r"[a-z]:", re.IGNORECASE)
# Bare absolute paths of saved pages on macOS, iOS, Linux and Android.
_LOCAL_PATH = re.compile(r"/(?:Users|var|home|private|Volumes|storage|sdcard|tmp)/")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")
_HOST = re.compile(r"\w[\w.-]*|[0-9a-f:.]*:[0-9a-f:.]*")
_PARTIAL_ESCAPE = re.compile(r"%[0-9A-Fa-f]?$")


@dataclass(frozen=True)
class PageInfo:
    """Where a player was embedded.

    url: canonical page URL (lower-case scheme and host, no fragment, no tracking parameters, no
    default port), at most 1000 characters; None when there is no URL.
    domain: the host as Kaltura analytics shows it ("canvas.umn.edu"), or for a downloaded page
    the label Kaltura shows ("C:", "Users", "var", "localhost", "com.google.android.gm"); None when
    there is no URL.
    offline: True when the page was a local file or ran inside an app.
    """

    url: str | None
    domain: str | None
    offline: bool


NO_PAGE = PageInfo(url=None, domain=None, offline=False)


def page_info(raw: str | None) -> PageInfo:
    """Read a page URL or referrer sent plain, URI-encoded or as base64; NO_PAGE when it is none."""
    text = _decode(raw)
    if text is None:
        return NO_PAGE
    try:
        info = _parse_page(text)
    except ValueError:  # urlsplit's verdict on bad brackets, ports or NFKC host tricks
        return NO_PAGE
    return info if info is not None and len(info.domain) <= MAX_DOMAIN_CHARS else NO_PAGE


def _decode(raw: object) -> str | None:
    """Peel URI-encoding and base64 layers until a URL or local path shows; None if none does."""
    if not isinstance(raw, str):
        return None
    text = raw[:MAX_RAW_CHARS]
    for _ in range(_DECODE_ROUNDS):
        text = _UNPRINTABLE.sub("", text).strip()
        if _SCHEME_URL.match(text) or _DRIVE_PATH.match(text) or _LOCAL_PATH.match(text):
            return text
        if "%" in text:
            text = unquote(text)
        elif _BASE64.fullmatch(text):
            text = _from_base64(text)
        else:
            return None
    return None


def _from_base64(text: str) -> str:
    """Decode standard or URL-safe base64, padding optional; "" when it is not base64."""
    padded = text.rstrip("=").replace("-", "+").replace("_", "/")
    padded += "=" * (-len(padded) % 4)
    try:
        return base64.b64decode(padded, validate=True).decode("utf-8", errors="replace")
    except ValueError:
        return ""


def _parse_page(text: str) -> PageInfo | None:
    """Canonicalise a decoded URL or bare local path; None when it names no host or file."""
    if _DRIVE_PATH.match(text) or _LOCAL_PATH.match(text):
        text = "file:///" + text.replace("\\", "/").lstrip("/")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return _file_page(parts.netloc + "/" + parts.path, parts.query)
    host = (parts.hostname or "").rstrip(".")
    if not _HOST.fullmatch(host):
        return None
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{parts.port}"
    url = f"{scheme}://{netloc}{_quote(parts.path or '/')}{_query_suffix(parts.query)}"
    offline = scheme in _APP_SCHEMES or _is_loopback(host)
    return PageInfo(url=_clip(url), domain=host, offline=offline)


def _file_page(location: str, query: str) -> PageInfo | None:
    """A saved page: its domain is the first path segment, as Kaltura shows it ("C:", "Users")."""
    segments = [segment for segment in re.split(r"[\\/]+", location) if segment]
    if segments and segments[0].lower() == "localhost":
        segments = segments[1:]
    if not segments:
        return None
    if _DRIVE.fullmatch(segments[0]):
        segments[0] = segments[0].upper()
    url = "file:///" + _quote("/".join(segments)) + _query_suffix(query)
    return PageInfo(url=_clip(url), domain=segments[0], offline=True)


def _query_suffix(query: str) -> str:
    """The query with tracking parameters and empty pairs removed, the rest kept in order."""
    kept = [pair for pair in query.split("&") if pair and not _is_tracking(pair.split("=", 1)[0])]
    return "?" + _quote("&".join(kept)) if kept else ""


def _is_tracking(key: str) -> bool:
    key = unquote_plus(key).lower()
    return key.startswith("utm_") or key in _TRACKING_PARAMS


def _quote(text: str) -> str:
    """Percent-encode spaces and non-ASCII characters, leaving existing escapes alone."""
    return quote(text, safe=_URL_SAFE)


def _is_loopback(host: str) -> bool:
    """True for a page served from the viewer's own machine (a saved course opened locally)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _clip(url: str) -> str:
    """At most MAX_URL_CHARS characters, never ending inside a %XX escape."""
    if len(url) <= MAX_URL_CHARS:
        return url
    return _PARTIAL_ESCAPE.sub("", url[:MAX_URL_CHARS])


# ── Device ──────────────────────────────────────────────────────────────────────────────────────

# Characters of a user agent that are parsed; real ones are far shorter.
MAX_USER_AGENT_CHARS = 2048
# OS and browser families are cut to this, the width they are stored in.
MAX_FAMILY_CHARS = 64

_NOT_A_VIEWER_DEVICE = re.compile(
    r"SmartTV|Smart-TV|SMART-TV|GoogleTV|Android TV|AppleTV|CrKey|\bAFT[A-Z]|BRAVIA|Web0S|webOS\.TV"
    r"|HbbTV|Roku|PlayStation|Xbox|Nintendo|HeadlessChrome"
)
_TABLET = re.compile(r"iPad|Kindle|Silk/|PlayBook|[(;] ?Tablet;")
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Opera Mini|BlackBerry|BB10|Windows Phone")
_DESKTOP = re.compile(r"Windows NT|Windows 9|Macintosh|X11|CrOS")


@dataclass(frozen=True)
class DeviceInfo:
    """What played the media.

    device_type: "desktop", "mobile", "tablet" or "other" (bots, TVs, consoles, unknown or missing
    user agent). An iPad that sends the desktop Safari user agent counts as desktop.
    os: OS family as ua-parser names it ("Windows", "Mac OS X", "iOS", "Android", "Chrome OS").
    browser: browser family as ua-parser names it ("Chrome", "Safari", "Mobile Safari", "Edge").
    """

    device_type: str
    os: str | None
    browser: str | None


UNKNOWN_DEVICE = DeviceInfo(device_type="other", os=None, browser=None)


def device_info(user_agent: str | None) -> DeviceInfo:
    """Classify a user agent; UNKNOWN_DEVICE when there is none."""
    if not isinstance(user_agent, str) or not user_agent.strip():
        return UNKNOWN_DEVICE
    return _parse_user_agent(user_agent[:MAX_USER_AGENT_CHARS])


@functools.lru_cache(maxsize=8192)
def _parse_user_agent(user_agent: str) -> DeviceInfo:
    """Parsing takes about a millisecond; a course's viewers share a few hundred user agents."""
    result = ua_parser.parse(user_agent)
    is_spider = result.device is not None and result.device.family == "Spider"
    return DeviceInfo(
        device_type="other" if is_spider else _device_type(user_agent),
        os=_family(result.os),
        browser=_family(result.user_agent),
    )


def _device_type(user_agent: str) -> str:
    """desktop, mobile, tablet or other, from the user agent's own tokens (bots are out already)."""
    if _NOT_A_VIEWER_DEVICE.search(user_agent):
        return "other"
    # Android tablets are the Android user agents without "Mobile" (Google's own convention).
    if _TABLET.search(user_agent) or ("Android" in user_agent and "Mobile" not in user_agent):
        return "tablet"
    if _MOBILE.search(user_agent):
        return "mobile"
    if _DESKTOP.search(user_agent):
        return "desktop"
    return "other"


def _family(part: ua_parser.OS | ua_parser.UserAgent | None) -> str | None:
    """ua-parser's family name, None for its "Other"."""
    if part is None or part.family == "Other":
        return None
    return part.family[:MAX_FAMILY_CHARS]


# ── Location ────────────────────────────────────────────────────────────────────────────────────

# geoip2fast's IPv4 + IPv6 country data, shipped inside the package.
_COUNTRY_DATA_FILE = "geoip2fast-ipv6.dat.gz"
# Importing geoip2fast sets these for every child process; they are put back as they were.
_GEOIP2FAST_ENVIRONMENT = ("PYTHONWARNINGS", "PYTHONIOENCODING")
_load_lock = threading.Lock()


@dataclass(frozen=True)
class Location:
    """Where a viewer was, from their IP address (which is not kept).

    country: ISO 3166-1 alpha-2 code ("US").
    region: most specific subdivision name ("Minnesota"); only with a city database.
    city: city name ("Minneapolis"); only with a city database.
    """

    country: str | None
    region: str | None
    city: str | None


NOWHERE = Location(country=None, region=None, city=None)


def locate(ip: str | None, city_db: str | None = None) -> Location:
    """Look an IP address up offline: country from geoip2fast, or all three from `city_db`.

    `city_db` is the path of a MaxMind GeoIP2/GeoLite2-City .mmdb file (GEOIP_CITY_DB). Private,
    loopback, link-local, reserved, malformed or missing addresses give NOWHERE.
    """
    address = _public_address(ip)
    if address is None:
        return NOWHERE
    if city_db:
        with _load_lock:
            reader = _city_reader(city_db)
        if reader is not None and (location := _city_location(reader, address)):
            return location
    return _country_location(address)


def _public_address(ip: object) -> str | None:
    """The address in canonical form when it is a routable public one, else None."""
    if not isinstance(ip, str):
        return None
    try:
        address = ipaddress.ip_address(ip.strip().strip("[]"))
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    if not address.is_global or address.is_multicast or address.is_reserved:
        return None
    return str(address)


def _country_location(address: str) -> Location:
    with _load_lock:
        countries = _country_database()
    if countries is None:
        return NOWHERE
    code = countries.lookup(address).country_code
    # geoip2fast answers "--" for reserved or unknown networks and "" for errors.
    if len(code) != 2 or code == "--":
        return NOWHERE
    return Location(country=code, region=None, city=None)


@functools.cache
def _country_database():
    """geoip2fast with its shipped data, loaded once per process (about 0.1 s); None if missing."""
    saved = {name: os.environ.get(name) for name in _GEOIP2FAST_ENVIRONMENT}
    import geoip2fast
    from geoip2fast.geoip2fast import GeoIPError

    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        data_file = Path(geoip2fast.__file__).with_name(_COUNTRY_DATA_FILE)
        return geoip2fast.GeoIP2Fast(geoip2fast_data_file=str(data_file))
    except GeoIPError as error:
        log.error("geoip2fast country data cannot be loaded (%s); countries stay empty", error)
        return None


@functools.cache
def _city_reader(path: str) -> geoip2.database.Reader | None:
    """One reader per database path for the life of the process; None if it is not a City one."""
    try:
        reader = geoip2.database.Reader(path)
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
        log.error("GEOIP_CITY_DB %s cannot be opened (%s); locations are country-only", path, error)
        return None
    database_type = reader.metadata().database_type
    if "City" not in database_type:
        log.error("GEOIP_CITY_DB %s is a %s database, not a City one; locations are country-only",
                  path, database_type)
        reader.close()
        return None
    return reader


def _city_location(reader: geoip2.database.Reader, address: str) -> Location | None:
    """Country, region and city from the City database; None when it does not know the address."""
    try:
        found = reader.city(address)
    except (AddressNotFoundError, ValueError, maxminddb.InvalidDatabaseError):
        # ValueError: an IPv6 address asked of an IPv4-only database.
        return None
    if found.country.iso_code is None:
        return None
    return Location(
        country=found.country.iso_code,
        region=found.subdivisions.most_specific.name,
        city=found.city.name,
    )
