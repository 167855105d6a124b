"""Email over SMTP: one message per group, plain text and HTML, Alertmanager-style subject."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from monitor.net import shutdown_at
from monitor.notify.base import Message, Notifier, NotifyError
from monitor.notify.bodies import render_html, render_text, title
from monitor.redact import credential_forms

log = logging.getLogger(__name__)
DEFAULT_PORTS: Mapping[str, int] = {"starttls": 587, "ssl": 465, "none": 25}


def build_email(message: Message, now: float, sender: str, recipients: list[str]) -> EmailMessage:
    """The MIME message: multipart/alternative, Message-ID derived from the delivery id."""
    email = EmailMessage()
    email["Subject"] = title(message)
    email["From"] = sender
    email["To"] = ", ".join(recipients)
    email["Date"] = formatdate(now, usegmt=True)
    domain = sender.rpartition("@")[2] or "threads-token-monitor"
    # The same id on every retry lets mail systems (and people) recognise a duplicate.
    email["Message-ID"] = f"<{message.delivery_id}@{domain}>"
    email["X-Threads-Monitor-Delivery"] = message.delivery_id
    email.set_content(render_text(message, now))
    email.add_alternative(render_html(message, now), subtype="html")
    return email


def _classify_code(code: int, text: str) -> NotifyError:
    return NotifyError(f"SMTP {code}: {text}", permanent=500 <= code < 600)


class EmailNotifier(Notifier):
    """Settings: smtp_host, smtp_port, security (starttls|ssl|none), username, password, from, to, and
    `ca_file` (optional: a CA bundle to trust instead of the system's, e.g. a private relay or tests)."""

    type = "email"

    @classmethod
    def secrets_of(cls, settings: Mapping[str, Any]) -> list[str]:
        # Sent as SMTP AUTH (PLAIN: base64 of NUL user NUL password; LOGIN: base64 of each).
        return credential_forms(settings.get("username"), settings.get("password"))

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.settings.get("ca_file") or None)

    def _connect(self) -> smtplib.SMTP:
        """An open, secured and authenticated connection."""
        settings = self.config.settings
        security = str(settings.get("security") or "starttls")
        host = str(self.setting("smtp_host"))
        port = int(settings.get("smtp_port") or DEFAULT_PORTS.get(security, 25))
        if security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=self.config.timeout, context=self._context()
            )
        else:
            client = smtplib.SMTP(host, port, timeout=self.config.timeout)
        try:
            if security == "starttls":
                client.starttls(context=self._context())
            if settings.get("username"):
                client.login(str(settings["username"]), str(settings.get("password") or ""))
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message: Message) -> None:
        recipients = [str(r) for r in self.setting("to")]
        email = build_email(message, self.clock(), str(self.setting("from")), recipients)
        holder: list[smtplib.SMTP] = []
        try:
            # One TOTAL deadline for connect, TLS, login and the message: smtplib's timeout is per read.
            with shutdown_at(self.config.timeout, lambda: holder[0].sock if holder else None) as fired:
                holder.append(self._connect())
                try:
                    refused = holder[0].send_message(email, to_addrs=recipients)
                finally:
                    holder[0].close()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise NotifyError(
                f"SMTP: all {len(codes)} recipients refused (codes {sorted(set(codes))})",
                permanent=all(500 <= code < 600 for code in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise self._redacted(_classify_code(exc.smtp_code, text)) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise NotifyError(f"SMTP: server does not support {exc}", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, TLS failure
            if fired.is_set():
                raise NotifyError(f"SMTP: no complete exchange within {self.config.timeout:g} s") from None
            raise self._redacted(NotifyError(f"SMTP {type(exc).__name__}: {exc}")) from None
        if refused:
            # Delivered to the others: a retry would duplicate it for them, so this is not an error.
            log.warning("notifier %s: %d of %d recipients refused", self.name, len(refused), len(recipients))

    def _redacted(self, error: NotifyError) -> NotifyError:
        return NotifyError(
            self.redact(error.message), permanent=error.permanent, retry_after=error.retry_after
        )
