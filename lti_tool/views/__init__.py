"""One blueprint per surface; `register_views` adds those that exist."""
from __future__ import annotations

from flask import Flask, g, url_for
from htmx_flask import request

from lti_tool.extensions import db
from lti_tool.render import localtime


# (endpoint, label, capability): the shell shows only what the viewer's level may open.
NAVIGATION = (
    ("gallery.page", "Media Gallery", "gallery"),
    ("rooms.index", "Rooms", "rooms"),
    ("embeds.audit", "Embed audit", "domains"),
    ("course.home", "People", "course.view"),
    ("my.viewing", "My viewing", "my"),
    ("my.analytics", "My Analytics", "my"),
    ("course.settings", "Course settings", "course.settings"),
    ("admin.courses", "All courses", "tenant.courses"),
    ("admin.tool", "Tool settings", "tool.settings"),
    ("admin.embed_rules", "Embed rules", "tool.settings"),
    ("admin.beacon_queue_page", "Beacon queue", "tool.settings"),
)


LEVEL_NAMES = {"owner": "Owner", "co-editor": "Co-editor", "viewer": "Viewer", "admin": "Admin", "none": "No access"}


def level_name(level: str) -> str:
    return LEVEL_NAMES.get(level, level)


def wants_fragment(target_id: str) -> bool:
    """True when htmx asks to swap only the element `target_id`; boosted navigation gets whole pages."""
    return bool(request.htmx) and not request.htmx.boosted and request.htmx.target == target_id


def _owns_media(viewer) -> bool:
    """My Analytics is offered to people who own or co-edit some media."""
    from lti_tool.analytics.scopes import owns_any

    if "owns_media" not in g:
        g.owns_media = owns_any(db.session, viewer.session.registration_id, viewer.session.person_id)
    return g.owns_media


def register_views(app: Flask) -> None:
    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .api.kava import root_bp as kava_root_bp
    from .assets import bp as assets_bp
    from .course import bp as course_bp
    from .embeds import bp as embeds_bp
    from .entry import bp as entry_bp
    from .exports import bp as exports_bp
    from .gallery import bp as gallery_bp
    from .my import bp as my_bp
    from .rooms import bp as rooms_bp

    for bp in (assets_bp, course_bp, gallery_bp, entry_bp, rooms_bp, embeds_bp, my_bp, admin_bp, api_bp, kava_root_bp, exports_bp):
        app.register_blueprint(bp)
    app.add_template_filter(localtime)
    app.add_template_filter(level_name)
    from . import templating

    templating.register(app)

    @app.template_global()
    def entry_url(external_id: str) -> str:
        return url_for("entry.page", course_id=g.course.id, external_id=external_id)

    @app.context_processor
    def shell():
        viewer = g.get("viewer")  # set by the guard; error pages outside a session have none
        if viewer is None:
            return {"viewer": None, "navigation": []}
        course = g.get("course") or viewer.session.course
        items = [
            (label, url_for(endpoint, course_id=course.id), endpoint)
            for endpoint, label, capability in NAVIGATION
            if viewer.can(capability) and (endpoint != "my.analytics" or _owns_media(viewer))
        ]
        # A course's own time zone setting wins over each person's Canvas time zone.
        timezone = course.timezone or viewer.session.timezone
        return {"viewer": viewer, "course": course, "navigation": items, "timezone": timezone,
                "owns_media": lambda: _owns_media(viewer)}
