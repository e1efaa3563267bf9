"""Launch failures a person can act on. Each has a code (logged), a title and what to do next."""
from __future__ import annotations

from pylti1p3.exception import LtiException

RELAUNCH = "Open the tool again from your course's navigation in Canvas."
ASK_ADMIN = "Ask your Canvas administrator to check the tool's installation."


class LaunchError(LtiException):
    status = 400
    title = "The launch could not be completed"
    hint = RELAUNCH

    def __init__(self, code: str, detail: str, *, title: str | None = None, hint: str | None = None,
                 status: int | None = None, admin_command: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.title = title or self.title
        self.hint = hint or self.hint
        self.status = status or self.status
        self.admin_command = admin_command


class InvalidToken(LaunchError):
    """The id_token failed a security check: nothing is saved."""

    title = "This launch could not be verified"
    status = 401


class UnknownPlatform(LaunchError):
    title = "This Canvas installation is not registered with the tool"
    hint = ASK_ADMIN
    status = 403


class UnknownDeployment(LaunchError):
    title = "This deployment of the tool is not registered"
    hint = ASK_ADMIN
    status = 403


class CookiesBlocked(LaunchError):
    title = "Your browser blocked the tool's sign-in cookie"
    hint = "Open the tool in a new tab to continue."
    status = 400
