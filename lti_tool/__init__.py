"""Media Analytics for Canvas: an LTI 1.3 tool. `create_app()` builds the app; nothing runs at import."""
from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, abort, g, render_template
from htmx_flask import request
from werkzeug.middleware.proxy_fix import ProxyFix

PACKAGE_DIR = Path(__file__).resolve().parent
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"


def create_app(config: dict | None = None) -> Flask:
    """Build the app. `config` overrides the settings class chosen by APP_ENV (or config["APP_ENV"])."""
    import config as settings

    from . import cli, jobs, replica, store
    from .extensions import db, htmx, migrate
    from .launch import bp as launch_bp
    from .launch import session
    from .embed_rules import RuleBook
    from .launch.roles import RolePolicy
    from .views import register_views

    config = dict(config or {})
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(settings.load(config.pop("APP_ENV", None)))
    app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY is not set")
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"][len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if app.config["PROXY_FIX"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    htmx.init_app(app)
    store.init_app(app)
    replica.init_app(app)
    jobs.init_app(app)
    session.init_app(app)
    app.extensions["role_policy"] = RolePolicy.load(app.config["ROLES_FILE"])
    app.extensions["embed_rules"] = RuleBook(app.config["EMBED_RULES_FILE"], app.config["EMBED_HOSTS"])

    app.register_blueprint(launch_bp)
    register_views(app)
    if app.config["DEV_PLATFORM_ENABLED"]:
        from .devplatform import bp as dev_bp

        app.register_blueprint(dev_bp)
    cli.init_app(app)
    _security_headers(app)
    _no_version_banner()
    _refuse_nul_in_addresses(app)
    _error_pages(app)
    logging.getLogger("lti_tool").setLevel(app.config["LOG_LEVEL"])
    from .gctune import settle

    settle(app.config)  # last: what the app holds from now on is out of the collector's walks
    return app


def _security_headers(app: Flask) -> None:
    @app.after_request
    def headers(response):
        hosts = g.get("frame_hosts")
        # Pages shown inside Canvas name the registered hosts; everything else may not be framed.
        ancestors = " ".join(["'self'", *hosts]) if hosts is not None else "'none'"
        frames = " ".join(["'self'", *g.get("frame_src", [])])
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            f"script-src 'self'; frame-src {frames}; frame-ancestors {ancestors}; "
            "form-action 'self' https: http:; base-uri 'none'"
        )
        response.headers.pop("X-Frame-Options", None)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        if request.htmx:
            response.vary.add("HX-Request")
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        # Over HTTPS only (behind the TLS proxy, ProxyFix makes the request secure): a browser that
        # reached the tool over plain HTTP must not be told to insist on HTTPS for it.
        if app.config["HSTS_SECONDS"] and request.is_secure:
            response.headers["Strict-Transport-Security"] = f"max-age={int(app.config['HSTS_SECONDS'])}"
        return response


def _no_version_banner() -> None:
    """Werkzeug's development server (`flask run`, the demo) sends `Server: Werkzeug/<version>
    Python/<version>` with every response, and an application cannot replace that header there: it says
    `Werkzeug` only. gunicorn (production) sends `Server: gunicorn`, without a version, since 20.1."""
    from werkzeug.serving import WSGIRequestHandler

    if getattr(WSGIRequestHandler.version_string, "unversioned", False):
        return

    def version_string(self) -> str:
        return self.server_version.split("/")[0]

    version_string.unversioned = True
    WSGIRequestHandler.version_string = version_string


def _refuse_nul_in_addresses(app: Flask) -> None:
    @app.before_request
    def refuse_nul():
        """No address or page form of ours holds a NUL character (%00), and no column can keep one: such
        a path, query argument or form field is refused here (400) instead of failing deep in a query.
        (The API reads its bodies itself, within its size limit, and refuses NUL there.)"""
        fields = request.args.items(multi=True)
        if not request.path.startswith(("/api/", "/api_v3/")) and request.mimetype in FORM_TYPES:
            fields = [*fields, *request.form.items(multi=True)]
        if "\x00" in request.path or any("\x00" in key or "\x00" in value for key, value in fields):
            abort(400, "the address or the form holds a NUL character (%00)")
        if not _is_utf8(request.environ.get("PATH_INFO", "").encode("latin-1", "replace"), percent=False) or \
                not _is_utf8(request.query_string):
            # Werkzeug would read such bytes as U+FFFD and an id would be stored mangled.
            abort(400, "the address holds bytes that are not UTF-8 text")


def _is_utf8(raw: bytes, percent: bool = True) -> bool:
    """Whether bytes (percent-decoded first when `percent`) are UTF-8 text."""
    from urllib.parse import unquote_to_bytes

    try:
        (unquote_to_bytes(raw) if percent else raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _error_pages(app: Flask) -> None:
    messages = {
        400: ("The request could not be understood", "Check the address or go back and try again."),
        401: ("Your session has ended", "Open the tool again from your course's navigation in Canvas."),
        403: ("You do not have access to this page", "Your role in this course does not include it. "
              "If you think it should, ask the course's teacher or your Canvas administrator."),
        404: ("Page not found", "The address may be mistyped, or the item no longer exists."),
        405: ("That action is not allowed here", "Go back and use the page's own buttons."),
        413: ("That request is too large", "Send less data at once."),
        500: ("Something went wrong on our side", "Try again in a moment. If it keeps happening, tell your administrator."),
    }

    def render(error):
        from .extensions import db

        code = getattr(error, "code", 500) or 500
        title, hint = messages.get(code, messages[500])
        if code >= 500:
            app.logger.exception("unhandled error on %s", request.path)
        # A failed statement leaves the transaction aborted, and the page reads the viewer from the database.
        db.session.rollback()
        if request.path.startswith(("/api/", "/api_v3/")):   # the API, and Kava's path at the root
            from .views.api import api_error

            return api_error(code, getattr(error, "description", None) or title)
        return render_template("errors/error.html", code=code, title=title, hint=hint), code

    for code in messages:
        app.register_error_handler(code, render)
