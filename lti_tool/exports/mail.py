"""Outgoing email over SMTP_URL, and the masked addresses the tool shows instead of real ones.

`send()` turns what can go wrong into sentences a person can read: `MailUnavailable` (the server did
not answer or said "try later": worth retrying) or `MailRefused` (the server refused the message or
the address: retrying changes nothing).
"""
from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from flask import current_app

from lti_tool.jobs import TransientError

SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
MASK = "*****"


class MailNotConfigured(RuntimeError):
    pass


class MailUnavailable(TransientError):
    """The mail server did not answer, or answered "try again later" (4xx)."""


class MailRefused(Exception):
    """The mail server refused the message for good (5xx), or the settings are wrong."""


def mask_email(address: str | None) -> str | None:
    """"jane.doe@school.edu" -> "j*****@*****.e": the first letter of the name and of the top-level
    domain, as the export dialog shows it. A fixed number of stars, so the length is not revealed."""
    if not address or "@" not in address:
        return None
    local, _, domain = address.strip().rpartition("@")
    first = local[:1] + MASK if local else MASK
    top_level = domain.rsplit(".", 1)[1] if "." in domain else ""
    return f"{first}@{MASK}" + (f".{top_level[:1]}" if top_level else "")


def is_configured() -> bool:
    return bool(current_app.config.get("SMTP_URL"))


def _settings() -> tuple[str, str, int, str | None, str | None]:
    url = current_app.config.get("SMTP_URL")
    if not url:
        raise MailNotConfigured("this server sends no email (SMTP_URL is not set)")
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise MailRefused("the mail settings are wrong (SMTP_URL must look like smtp://host:port); "
                          "tell your administrator")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.scheme, parts.hostname, parts.port or SCHEMES[parts.scheme], user, password


def send(to: str, subject: str, text: str, html: str | None = None) -> None:
    """Send one message (text, with an HTML alternative) to `to`. Raises MailUnavailable or MailRefused."""
    scheme, host, port, user, password = _settings()
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="media-analytics")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    timeout = current_app.config["SMTP_TIMEOUT"]
    try:
        if scheme == "smtps":
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        with client:
            if scheme == "smtp+starttls":
                client.starttls(context=ssl.create_default_context())
            if user:
                client.login(user, password or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailRefused("the mail server refused the address") from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise MailRefused("the mail server did not accept the tool's sign-in; tell your administrator") from exc
    except smtplib.SMTPResponseException as exc:
        what = f"the mail server answered {exc.smtp_code}"
        if 400 <= exc.smtp_code < 500:
            raise MailUnavailable(what + " (try again later)") from exc
        raise MailRefused(what + " and refused the message") from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise MailUnavailable("the mail server closed the connection") from exc
    except smtplib.SMTPException as exc:  # before OSError: SMTPException is one
        raise MailUnavailable(f"sending failed ({type(exc).__name__})") from exc
    except ssl.SSLError as exc:
        raise MailRefused("a secure connection to the mail server failed; tell your administrator") from exc
    except (socket.timeout, TimeoutError) as exc:
        raise MailUnavailable("the mail server did not answer (timed out)") from exc
    except ConnectionRefusedError as exc:
        raise MailUnavailable("the mail server did not answer (connection refused)") from exc
    except OSError as exc:  # unreachable host, name not found, reset
        raise MailUnavailable(f"the mail server could not be reached ({exc.strerror or type(exc).__name__})") from exc
