"""What every dashboard view shares: filters from the URL, the period in the viewer's zone, and
rendering either the whole page or only the block an HTMX request swaps."""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from flask import current_app, g, render_template, request
from jinja2.runtime import Macro
from werkzeug.datastructures import MultiDict

from lti_tool.analytics import filters as filter_rules
from lti_tool.analytics.dashboard import Context, filter_options
from lti_tool.embed_rules import current_rules
from lti_tool.extensions import db
from lti_tool.models.types import utcnow


def display_timezone() -> str:
    course = g.get("course")
    return (course.timezone if course is not None and course.timezone else None) or g.viewer.session.timezone


def dashboard_context(make_scope, since: datetime | None, course_id: int | None = None,
                      hidden_options: dict | None = None, defaults: dict | None = None,
                      every_viewer: bool = False) -> Context | None:
    """The Context of this request, or None when the URL's filters are invalid (g.filter_error says why).
    `defaults` are URL arguments the page assumes when the URL does not give them (the audit's range);
    `every_viewer`: the viewer owns or co-edits the media, so every viewer is named."""
    args = MultiDict(request.args)
    for key, value in (defaults or {}).items():
        args.setdefault(key, value)
    try:
        filters = filter_rules.parse(args)
    except filter_rules.FilterError as exc:
        g.filter_error = str(exc)
        return None
    tz = display_timezone()
    period = filter_rules.period(filters, tz, utcnow(), since=since)
    compare = make_scope(filters, period, True) if period.compare else None
    # Options starting with "_" are the view's own (access decisions); the URL can never set them.
    options = {k: v for k, v in args.items() if not k.startswith("_")}
    options.update(hidden_options or {})
    return Context(db.session, make_scope(filters, period, False), compare, period, tz, filters, course_id,
                   options=options, rules=current_rules(), every_viewer=every_viewer)


def filter_error_page():
    return render_template("errors/error.html", code=400, title="These filters cannot be used",
                           hint=g.filter_error + ". Reset the filters and try again."), 400


# Macro files the dashboard templates import at their top: a block rendered alone needs them too.
MACRO_FILES = ("_partials/dashboard.html", "_partials/datetime.html")


def render_block(template_name: str, block_name: str, **context) -> str:
    """Render one named block of a template (an HTMX fragment), with the app's template context."""
    env = current_app.jinja_env
    template = env.get_template(template_name)
    current_app.update_template_context(context)
    for name in MACRO_FILES:
        module = env.get_template(name).module
        context.update({k: v for k, v in vars(module).items() if isinstance(v, Macro)})
    return "".join(template.blocks[block_name](template.new_context(context)))


def url_with(**changes) -> str:
    """This page's URL with some query arguments changed (None removes one); filters stay as they are."""
    args = MultiDict(request.args)
    args.pop("handoff", None)
    for key, value in changes.items():
        args.pop(key, None)
        if value is None:
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            args.add(key, item)
    query = urlencode(list(args.items(multi=True)))
    return request.path + ("?" + query if query else "")


def render_dashboard(template_name: str, blocks: dict, ctx: Context, **page):
    """The page, or for an HTMX request aimed at one block (HX-Target = the block's id) that block only."""
    target = request.headers.get("HX-Target") if request.headers.get("HX-Request") == "true" else None
    boosted = request.headers.get("HX-Boosted") == "true"
    common = {"ctx": ctx, "filters": ctx.filters, "period": ctx.period, "presets": filter_rules.PRESETS,
              "compares": filter_rules.COMPARES, "contexts": filter_rules.CONTEXTS, **page}
    if target in blocks and not boosted:
        return render_block(template_name, target, **common, **{target: blocks[target](ctx)})
    data = {name: block(ctx) for name, block in blocks.items()}
    # A page without a "dashboard" block (the embed audit) answers an HX-Target naming one with the whole page.
    if target == "dashboard" and not boosted and "dashboard" in current_app.jinja_env.get_template(template_name).blocks:
        return render_block(template_name, "dashboard", **common, **data)
    return render_template(template_name, **common, **data, options=filter_options(ctx))
