"""Real receivers on 127.0.0.1 port 0 for notifier tests: an HTTP server and an SMTP server.

Both record what they receive and answer from a programmable queue of responses. Waiting is event
driven (a Condition), never a sleep.
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HttpResponse = tuple[int, dict[str, str], bytes]


@dataclass
class Recorder:
    """A thread-safe list that can be waited on."""

    items: list[Any] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, item: Any) -> None:
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Any]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"expected {count} deliveries, got {len(self.items)} within {timeout}s")
            return list(self.items)


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class HttpReceiver:
    """ThreadingHTTPServer in a thread. `respond(...)` queues answers; the default is 200 "ok"."""

    def __init__(self) -> None:
        self.requests = Recorder()
        self.responses: deque[HttpResponse] = deque()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self._handle()

            def do_GET(self) -> None:  # noqa: N802
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver.requests.add(HttpRequest(self.command, self.path, dict(self.headers.items()), body))
                status, headers, payload = receiver.next_response()
                lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
                lines += [f"{k}: {v}" for k, v in {"Content-Length": str(len(payload)), **headers}.items()]
                # One write per response: separate header/body writes stall on delayed ACKs.
                self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        # A short poll interval keeps shutdown() quick; serving itself is event driven.
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def respond(self, status: int, headers: dict[str, str] | None = None, body: bytes | str = b"") -> None:
        """Queue one answer for the next request."""
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self.responses.append((status, headers or {}, data))

    def next_response(self) -> HttpResponse:
        with self._lock:
            return (
                self.responses.popleft() if self.responses else (200, {"Content-Type": "text/plain"}, b"ok")
            )

    def wait_for(self, count: int, timeout: float = 30.0) -> list[HttpRequest]:
        return self.requests.wait_for(count, timeout)

    def __enter__(self) -> HttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class TricklingReceiver(HttpReceiver):
    """Records each request, then answers one byte per `every` seconds until stopped: a receiver that
    accepts a notification and never quite finishes answering (a per-read timeout never fires on it)."""

    def __init__(self, every: float = 1.0) -> None:
        super().__init__()
        stop = self.stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver.requests.add(HttpRequest(self.command, self.path, dict(self.headers.items()), body))
                answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000
                for byte in answer:
                    if stop.wait(every):
                        return
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up: what a bounded client does

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        self.server.server_close()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        super().__exit__(*exc)


def make_self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for `host` (also usable as its own CA): returns (cert, key) paths."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@dataclass(frozen=True)
class SmtpDelivery:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        failure = self.receiver.next_failure()
        if failure:
            return failure
        raw = envelope.original_content or b""
        self.receiver.messages.add(SmtpDelivery(str(envelope.mail_from), list(envelope.rcpt_tos), raw))
        return "250 2.0.0 OK"


class _PortZeroController(Controller):
    """aiosmtpd's Controller binds port 0 fine but then probes the port it was given; read the real one."""

    def _trigger_server(self) -> None:
        server = cast(asyncio.Server, self.server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1 port 0. mode: "none", "starttls" (STARTTLS required) or "ssl" (implicit TLS).

    With `auth=(user, password)`, AUTH PLAIN/LOGIN is required and checked. `fail(reply)` queues an
    SMTP reply such as "451 4.3.0 try later" for the next DATA command.
    """

    def __init__(self, tmp_path: Path, mode: str = "none", auth: tuple[str, str] | None = None) -> None:
        self.messages = Recorder()
        self.failures: deque[str] = deque()
        self.logins: list[str] = []
        self.mode = mode
        self.cert_file: Path | None = None
        kwargs: dict[str, Any] = {}
        if mode in ("starttls", "ssl"):
            self.cert_file, key_file = make_self_signed(tmp_path)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_file, key_file)
            if mode == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs["ssl_context"] = context
        if auth:
            kwargs.update(authenticator=self._authenticator(auth), auth_required=True)
            # Without STARTTLS (plain and implicit-TLS modes) aiosmtpd must be told AUTH is acceptable.
            kwargs["auth_require_tls"] = mode == "starttls"
        self.controller = _PortZeroController(_Handler(self), hostname="127.0.0.1", port=0, **kwargs)

    def _authenticator(self, expected: tuple[str, str]) -> Callable[..., AuthResult]:
        def check(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == expected
            if ok:
                self.logins.append(mechanism)
            return AuthResult(success=ok, handled=False)

        return check

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def fail(self, *replies: str) -> None:
        self.failures.extend(replies)

    def next_failure(self) -> str | None:
        return self.failures.popleft() if self.failures else None

    def wait_for(self, count: int, timeout: float = 30.0) -> list[SmtpDelivery]:
        return self.messages.wait_for(count, timeout)

    def __enter__(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def all_text(parts: Iterable[bytes | str]) -> str:
    """Everything a receiver saw, decoded, for "the secret never appears" assertions."""
    return "\n".join(p.decode("utf-8", "replace") if isinstance(p, bytes) else p for p in parts)
