"""Outgoing email over SMTP_URL (or, in the demo, into a local outbox), and the masked addresses the
tool shows instead of real ones.

The demo has no mail server: with the dev platform on and no SMTP_URL, each message is written as an
.eml file into the outbox (MAIL_OUTBOX_DIR, by default <instance folder>/outbox), which the dev
platform lists at /dev/mail.

`send()` turns what can go wrong into sentences a person can read: `MailUnavailable` (the server did
not answer or said "try later": worth retrying) or `MailRefused` (the server refused the message or
the address: retrying changes nothing).
"""
from __future__ import annotations

import re
import smtplib
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
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
    """Whether email can be sent: over SMTP_URL, or into the demo's outbox."""
    return bool(current_app.config.get("SMTP_URL")) or outbox_dir() is not None


def outbox_dir() -> Path | None:
    """The demo's outbox folder when mail goes there (dev platform on, no SMTP_URL); None otherwise."""
    if current_app.config.get("SMTP_URL") or not current_app.config.get("DEV_PLATFORM_ENABLED"):
        return None
    configured = current_app.config.get("MAIL_OUTBOX_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "outbox"


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
    message = _compose(to, subject, text, html)
    outbox = outbox_dir()
    if outbox is not None:
        _write_outbox(outbox, message)
        return
    _send_smtp(message)


def _compose(to: str, subject: str, text: str, html: str | None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    # RFC 5322 requires a Date, and not every server adds one; UTC, as +0000 (-0000 would mean "zone unknown").
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Message-ID"] = make_msgid(domain="media-analytics")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    return message


def _send_smtp(message: EmailMessage) -> None:
    scheme, host, port, user, password = _settings()
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


# -- the demo's outbox -----------------------------------------------------------------------------

OUTBOX_NAME = re.compile(r"^[0-9]{13}-[0-9a-f]{32}\.eml$")


@dataclass(frozen=True)
class OutboxMessage:
    """One message in the demo's outbox, as /dev/mail lists and shows it."""

    name: str                     # the file name, e.g. 1767225600000-<hex>.eml
    sender: str
    to: str
    subject: str
    date: str                     # the Date header as sent
    text: str                     # the plain-text part


def _write_outbox(outbox: Path, message: EmailMessage) -> None:
    """Write the message as <milliseconds>-<random>.eml (names sort by time); written then renamed, so
    a reader never sees half a message."""
    try:
        outbox.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns() // 1_000_000:013d}-{uuid.uuid4().hex}.eml"
        partial = outbox / (name + ".part")
        partial.write_bytes(message.as_bytes(policy=policy.SMTP))
        partial.replace(outbox / name)
    except OSError as exc:
        raise MailRefused(f"the demo outbox {outbox} could not be written ({exc.strerror or type(exc).__name__})") from exc


def outbox_messages() -> list[OutboxMessage]:
    """The outbox's messages, newest first (empty when there is no outbox)."""
    outbox = outbox_dir()
    if outbox is None or not outbox.is_dir():
        return []
    names = sorted((p.name for p in outbox.iterdir() if OUTBOX_NAME.match(p.name)), reverse=True)
    return [message for message in map(outbox_message, names) if message is not None]


def outbox_path(name: str) -> Path | None:
    """The file of the outbox message `name`; None for a name that is not one (no other file is served)."""
    outbox = outbox_dir()
    if outbox is None or not OUTBOX_NAME.match(name) or not (outbox / name).is_file():
        return None
    return outbox / name


def outbox_message(name: str) -> OutboxMessage | None:
    path = outbox_path(name)
    if path is None:
        return None
    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    body = parsed.get_body(("plain",))
    return OutboxMessage(name, str(parsed["From"] or ""), str(parsed["To"] or ""), str(parsed["Subject"] or ""),
                         str(parsed["Date"] or ""), body.get_content() if body is not None else "")
