"""What every dashboard view shares: filters from the URL, the period in the viewer's zone, and
rendering either the whole page or only the block an HTMX request swaps."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import current_app, g, render_template, request
from jinja2.runtime import Macro
from werkzeug.datastructures import MultiDict

from lti_tool.analytics import filters as filter_rules, metrics
from lti_tool.analytics.blocks import Block
from lti_tool.analytics.context import Context, Subject, build_context, timezone_of
from lti_tool.analytics.dashboard import filter_options
from lti_tool.analytics.filters import FilterError
from lti_tool.models.types import utcnow
from lti_tool.replica import reading


def display_timezone() -> str:
    """The zone this viewer sees: the course's own setting, else their Canvas time zone (UTC when
    neither names a zone)."""
    try:
        return timezone_of(course=g.get("course"), person=g.viewer.session.timezone)
    except FilterError:
        return "UTC"


def dashboard_context(subject: Subject, defaults: dict | None = None) -> Context | None:
    """The Context of this request, or None when the URL's filters are invalid (g.filter_error says why).
    `defaults` are URL arguments the page assumes when the URL does not give them (the audit's range).
    Its analytics read the replica when there is one (`replica.reading`); the subject came from the primary."""
    source = reading()
    try:
        return build_context(source.session, subject, request.args, display_timezone(), utcnow(), defaults,
                             replayed_at=source.replayed_at)
    except FilterError as exc:
        g.filter_error = str(exc)
        return None


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


def render_dashboard(template_name: str, blocks: dict[str, Block], ctx: Context, **page):
    """The page, or for an HTMX request aimed at one block (HX-Target = the block's id) that block only."""
    target = request.htmx.target if request.htmx else None
    boosted = bool(request.htmx) and request.htmx.boosted
    common = {"ctx": ctx, "filters": ctx.filters, "period": ctx.period, "presets": filter_rules.PRESETS,
              "compares": filter_rules.COMPARES, "contexts": filter_rules.CONTEXTS,
              "media_types": filter_rules.MEDIA_TYPES, "device_types": filter_rules.DEVICES, **page}
    if target in blocks and not boosted:
        with metrics.sharing(ctx.session):
            return render_block(template_name, target, **common, **{target: blocks[target].fn(ctx)})
    with metrics.sharing(ctx.session, ctx.scope):   # the page's blocks share one pass over the rollups
        data = {name: block.fn(ctx) for name, block in blocks.items()}
        # A page without a "dashboard" block (the embed audit) answers an HX-Target naming one with the whole page.
        if target == "dashboard" and not boosted and "dashboard" in current_app.jinja_env.get_template(template_name).blocks:
            return render_block(template_name, "dashboard", **common, **data)
        return render_template(template_name, **common, **data, options=filter_options(ctx))
