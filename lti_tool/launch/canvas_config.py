"""The Canvas developer key JSON (Developer Keys → + LTI Key → Enter URL / Paste JSON)."""
from __future__ import annotations

from urllib.parse import urlsplit

NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"

CUSTOM_FIELDS = {
    "canvas_course_id": "$Canvas.course.id",
    "canvas_user_id": "$Canvas.user.id",
    "canvas_login_id": "$Canvas.user.loginId",
    "canvas_api_domain": "$Canvas.api.domain",
    "user_timezone": "$Person.address.timezone",
}


def developer_key_json(base_url: str, title: str, tool_id: str) -> dict:
    base = base_url.rstrip("/")
    launch_url = f"{base}/lti/launch"
    icon = f"{base}/static/icon.svg"
    return {
        "title": title,
        "description": "Media Gallery, live room and embed-domain analytics for your course, "
                       "with exact counts and a link to the course roster.",
        "oidc_initiation_url": f"{base}/lti/login",
        "target_link_uri": launch_url,
        "public_jwk_url": f"{base}/lti/jwks",
        "scopes": [NRPS_SCOPE],
        "extensions": [
            {
                "platform": "canvas.instructure.com",
                "domain": urlsplit(base).hostname,
                "tool_id": tool_id,
                "privacy_level": "public",
                "settings": {
                    "text": title,
                    "icon_url": icon,
                    "placements": [
                        {
                            "placement": "course_navigation",
                            "message_type": "LtiResourceLinkRequest",
                            "target_link_uri": f"{launch_url}?placement=course_navigation",
                            "text": title,
                            "icon_url": icon,
                            "enabled": True,
                            "default": "enabled",
                            "visibility": "admins",
                            "display_type": "full_width_in_context",
                        }
                    ],
                },
            }
        ],
        "custom_fields": dict(CUSTOM_FIELDS),
    }
