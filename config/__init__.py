"""Settings classes. Only these read the environment; tests pass a mapping to create_app().

Every setting of `BaseConfig` (bar the few in NOT_FROM_ENVIRONMENT) is read from the environment
variable of the same name, in one place (`_read_environment`), typed by its default: whole numbers,
switches (on/off, true/false, yes/no, 1/0), lists of whole numbers comma-separated
(`JOB_RETRY_INTERVALS=15,60`) and per-queue numbers as `name=value` pairs over the defaults
(`JOB_TIMEOUTS=exports=3600,emails=60`). The database is `DATABASE_URL`; the embed hosts are
`EMBED_<KEY>_HOSTS` (see `_embed_hosts`).
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(__file__).resolve().parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


class BaseConfig:
    """Defaults shared by every environment. Values that are secrets have no default here."""

    SECRET_KEY: str | None = None
    # Passphrase that encrypts the tool's private signing keys at rest (PKCS#8, scrypt/AES).
    KEY_ENCRYPTION_SECRET: str | None = None
    SQLALCHEMY_DATABASE_URI = "sqlite:///" + str(ROOT / "instance" / "media-analytics.sqlite3")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    # A PostgreSQL streaming replica (hot standby) of that database: dashboards and the report API read
    # their numbers there; writes, and reads right after a viewer's own write, stay on the primary
    # (lti_tool/replica.py). None: everything uses DATABASE_URL.
    DATABASE_REPLICA_URL: str | None = None
    # Redis holds launch data, nonces and the platform key cache when set; otherwise the database does.
    REDIS_URL: str | None = None
    # "rq" sends jobs to Redis queues; "inline" runs the same job functions in-process.
    JOB_RUNNER = "inline"
    # Seconds a job may run, per queue, before it is stopped.
    JOB_TIMEOUTS = {"exports": 30 * 60, "emails": 2 * 60, "default": 10 * 60}
    # Seconds RQ keeps a finished job's result and a failed job's record.
    JOB_RESULT_TTL = 24 * 3600
    JOB_FAILURE_TTL = 7 * 24 * 3600
    # Seconds before each retry of a transient failure (a mail server down); two retries = three attempts.
    JOB_RETRY_INTERVALS = (15, 60)
    # A running export's job marks its row alive every JOB_HEARTBEAT_SECONDS; a row silent for
    # JOB_STALE_SECONDS whose job RQ does not hold for a retry is ended as failed (the worker died).
    JOB_HEARTBEAT_SECONDS = 15
    JOB_STALE_SECONDS = 60
    # How often each worker restarts its scheduler if it died, cleans RQ's registries (abandoned jobs)
    # and ends exports nobody is making any more.
    JOB_MAINTENANCE_SECONDS = 30
    # Where generated exports are kept, shared by web and worker processes. None: <instance folder>/exports.
    EXPORT_DIR: str | None = None
    # Seconds an emailed download link stays valid.
    EXPORT_LINK_MAX_AGE = 7 * 24 * 3600
    # Outgoing mail: smtp://[user:password@]host[:port], smtp+starttls://… or smtps://… (TLS). None: no email.
    SMTP_URL: str | None = None
    SMTP_TIMEOUT = 10
    # The sender of every email (MAIL_FROM="Media Analytics <media-analytics@school.edu>").
    MAIL_FROM = "Media Analytics <no-reply@localhost>"
    # The demo (dev platform on, no SMTP_URL) writes each email as an .eml file here, listed at /dev/mail.
    # None: <instance folder>/outbox.
    MAIL_OUTBOX_DIR: str | None = None
    # NRPS roster sync: a launch into a course whose roster is older than an hour starts one in the background.
    ROSTER_SYNC_ON_LAUNCH = True
    ROSTER_MAX_PAGES = 200
    ROSTER_MAX_PAGE_BYTES = 4 * 1024 * 1024
    ROLES_FILE = str(CONFIG_DIR / "roles.toml")
    # Embed-domain rules (reread when the file changes) and the institution hosts their patterns name.
    EMBED_RULES_FILE = str(CONFIG_DIR / "embed_domains.toml")
    EMBED_HOSTS: dict = {"lms": (), "other_lms": (), "mediaspace": (), "kaf": (), "institution": ()}
    TOOL_TITLE = "Media Analytics"
    TOOL_ID = "media-analytics"
    # Public origin of the tool as Canvas reaches it (https://tool.example.edu). Empty: from the request.
    PUBLIC_BASE_URL: str | None = None
    # Seconds of clock skew accepted on iat/exp of an id_token.
    LTI_JWT_LEEWAY = 60
    # Seconds a nonce / login state stays valid between /lti/login and /lti/launch.
    LTI_LOGIN_TTL = 600
    # Seconds a platform's JWKS is cached; a kid miss refetches once regardless.
    LTI_JWKS_CACHE_SECONDS = 3600
    LTI_JWKS_MAX_BYTES = 256 * 1024
    LTI_MAX_ID_TOKEN_BYTES = 64 * 1024
    # Seconds a tool session lives after a launch.
    SESSION_LIFETIME = 8 * 3600
    SESSION_COOKIE_NAME = "ma_session"
    COOKIE_SECURE = True
    DEFAULT_TIMEZONE = "UTC"
    DEV_PLATFORM_ENABLED = False
    MAX_CONTENT_LENGTH = 1024 * 1024
    # The JSON API: largest request body, and requests per minute per ingest token.
    INGEST_MAX_BYTES = 8 * 1024 * 1024
    INGEST_RATE_LIMIT_PER_MINUTE = 1200
    # Live rooms: per person and session, at most one counted reaction in this many seconds.
    REACTION_THROTTLE_SECONDS = 3
    # Kava beacons queued in Redis and stored by `flask ingest drain` (needs REDIS_URL).
    BEACON_QUEUE = False
    PROXY_FIX = False
    # Seconds browsers keep to HTTPS for this host (Strict-Transport-Security, sent on HTTPS responses
    # only); 0 sends none. Production: a year unless HSTS_SECONDS says otherwise.
    HSTS_SECONDS = 0
    TESTING = False
    # Path to a MaxMind GeoIP2/GeoLite2-City .mmdb file; without one, locations are country-only.
    GEOIP_CITY_DB: str | None = None
    # The level of the app's own loggers (and of `flask rq worker`): DEBUG, INFO, WARNING, ERROR.
    LOG_LEVEL = "INFO"
    # htmx's script to serve at /assets/htmx.min.js. None: the npm-installed copy in node_modules.
    HTMX_JS_PATH: str | None = None
    # Garbage collector (lti_tool/gctune.py): once the app is built, move every object alive then out
    # of the collector's sight (gc.freeze), so a full collection in a request walks only what requests
    # made; GC_FREEZE=off does not freeze. GC_THRESHOLDS: gc.set_threshold's
    # three numbers, comma-separated (empty: Python's 700,10,10). A page allocates some 10 000
    # containers: with Python's, a dozen young collections per page and a full one every ~70 000;
    # with these, under one young collection per page and no full one in 130 pages at 1 M events
    # (bench/dashboard.py --thresholds).
    GC_FREEZE = True
    GC_THRESHOLDS: tuple = (20000, 20, 100)


# Settings no variable of their own name sets: the test switch, engine options (code, not text), and
# the embed hosts (one variable per key, `_embed_hosts`).
NOT_FROM_ENVIRONMENT = frozenset({"TESTING", "SQLALCHEMY_ENGINE_OPTIONS", "EMBED_HOSTS", "REQUIRED"})
# Settings whose variable has another name than the setting.
ENVIRONMENT_NAMES = {"SQLALCHEMY_DATABASE_URI": "DATABASE_URL"}


# The hosts of the institution the demo data and the seeds describe (UMN); production sets its own.
EXAMPLE_EMBED_HOSTS = {"lms": ("canvas.umn.edu", "umn.instructure.com"), "other_lms": (),
                       "mediaspace": ("mediaspace.umn.edu",), "kaf": ("kaf.canvas.umn.edu",),
                       "institution": ("umn.edu",)}


class DevConfig(BaseConfig):
    """The embedded default: SQLite, jobs in-process, the dev platform with demo data; any setting
    may still come from the environment (e.g. DATABASE_URL, or REDIS_URL with JOB_RUNNER=rq)."""

    SECRET_KEY = "dev-only-secret-do-not-use-in-production"
    KEY_ENCRYPTION_SECRET = "dev-only-key-passphrase"
    DEV_PLATFORM_ENABLED = True
    EMBED_HOSTS = EXAMPLE_EMBED_HOSTS

    def __init__(self) -> None:
        _read_environment(self)


class TestConfig(BaseConfig):
    """Real PostgreSQL and Redis; tests override with a mapping. Only the two services come from the
    environment, so a developer's own settings never change what a test sees."""

    TESTING = True
    SECRET_KEY = "test-secret"
    KEY_ENCRYPTION_SECRET = "test-key-passphrase"
    LTI_JWKS_CACHE_SECONDS = 60
    # Hundreds of apps are built in one test process: frozen objects are never freed, so only the
    # tests of the freeze itself turn it on.
    GC_FREEZE = False
    GC_THRESHOLDS: tuple = ()
    SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    REDIS_URL = "redis://127.0.0.1:6379/15"
    EMBED_HOSTS = EXAMPLE_EMBED_HOSTS

    def __init__(self) -> None:
        _read_environment(self, only=("SQLALCHEMY_DATABASE_URI", "REDIS_URL"))


class ProdConfig(BaseConfig):
    """Production: everything from the environment; missing secrets stop the start."""

    JOB_RUNNER = "rq"
    BEACON_QUEUE = True
    PROXY_FIX = True
    HSTS_SECONDS = 365 * 24 * 3600
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REQUIRED = ("SECRET_KEY", "KEY_ENCRYPTION_SECRET", "SQLALCHEMY_DATABASE_URI")

    def __init__(self) -> None:
        _read_environment(self)
        missing = [ENVIRONMENT_NAMES.get(n, n) for n in self.REQUIRED if not getattr(self, n)]
        if missing:
            raise RuntimeError("missing required settings: " + ", ".join(missing))


def _embed_hosts(defaults: dict) -> dict:
    """EMBED_<KEY>_HOSTS (EMBED_INSTITUTION_DOMAINS for the web domain), comma-separated, over the defaults."""
    hosts = {}
    for key, default in defaults.items():
        name = "EMBED_INSTITUTION_DOMAINS" if key == "institution" else f"EMBED_{key.upper()}_HOSTS"
        raw = os.environ.get(name)
        hosts[key] = tuple(h.strip().lower() for h in raw.split(",") if h.strip()) if raw is not None else default
    return hosts


def _read_environment(config: BaseConfig, only: tuple[str, ...] | None = None) -> None:
    """Set each setting of `config` (or just those in `only`) that the environment names, then derive
    what depends on others: jobs and the beacon queue need Redis, and without it run in-process."""
    names = only or [n for n in dir(config) if n.isupper() and n not in NOT_FROM_ENVIRONMENT]
    for name in names:
        variable = ENVIRONMENT_NAMES.get(name, name)
        raw = _env(variable)
        if raw is not None:
            setattr(config, name, _parse(variable, raw, getattr(config, name)))
    config.SQLALCHEMY_DATABASE_URI = _normalise_db_url(config.SQLALCHEMY_DATABASE_URI)
    config.DATABASE_REPLICA_URL = _normalise_db_url(config.DATABASE_REPLICA_URL)
    config.EMBED_HOSTS = dict(config.EMBED_HOSTS) if only else _embed_hosts(config.EMBED_HOSTS)
    if config.JOB_RUNNER not in ("rq", "inline"):
        raise RuntimeError(f"JOB_RUNNER must be rq or inline, not {config.JOB_RUNNER!r}")
    if not config.REDIS_URL:
        config.JOB_RUNNER, config.BEACON_QUEUE = "inline", False


def _parse(variable: str, raw: str, default: object) -> object:
    """`raw` as the type of the setting's default; a value that is not one stops the start."""
    if isinstance(default, bool):
        return _switch(variable, raw)
    if isinstance(default, int):
        return _whole_number(variable, raw)
    if isinstance(default, tuple):
        return tuple(_whole_number(variable, part.strip()) for part in raw.split(",") if part.strip())
    if isinstance(default, dict):
        return {**default, **_pairs(variable, raw, default)}
    return raw


def _switch(variable: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise RuntimeError(f"{variable} must be on or off, not {raw!r}")


def _whole_number(variable: str, raw: str) -> int:
    if not raw.isascii() or not raw.isdigit():
        raise RuntimeError(f"{variable} must be a whole number, not {raw!r}")
    return int(raw)


def _pairs(variable: str, raw: str, default: dict) -> dict[str, int]:
    """"exports=3600,emails=60" -> {"exports": 3600, "emails": 60}; only the default's keys."""
    pairs = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key, _, value = part.partition("=")
        if key.strip() not in default:
            raise RuntimeError(f"{variable} takes {', '.join(default)}, not {key.strip()!r}")
        pairs[key.strip()] = _whole_number(variable, value.strip())
    return pairs


def _normalise_db_url(url: str | None) -> str | None:
    """Accept the postgres:// spelling hosting providers hand out and use psycopg 3."""
    if url and url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url and url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


CONFIGS = {"dev": DevConfig, "test": TestConfig, "prod": ProdConfig}


def load(name: str | None = None):
    """Instantiate the settings class named by `name` or APP_ENV (dev, test, prod)."""
    name = name or _env("APP_ENV", "dev")
    if name not in CONFIGS:
        raise RuntimeError(f"APP_ENV must be one of {', '.join(CONFIGS)}, not {name!r}")
    return CONFIGS[name]()
