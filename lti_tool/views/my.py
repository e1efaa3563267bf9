"""A person's own viewing data in the course: the page students and observers land on."""
from __future__ import annotations

from flask import Blueprint, g, render_template

from lti_tool.launch.session import require

bp = Blueprint("my", __name__, url_prefix="/courses/<int:course_id>/my")


@bp.get("/")
@require("my")
def viewing(course_id: int):
    return render_template("my/viewing.html", person=g.viewer.session.person)
