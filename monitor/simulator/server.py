"""`Simulator`: a `MetaApi` served over HTTP on a background thread (handler.py answers the requests), which
also sends Meta's signed callbacks (callbacks.py): deauthorize when a token is revoked, data deletion when
asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from monitor.simulator.api import PLATFORMS, MetaApi
from monitor.simulator.callbacks import DATA_DELETION, DEAUTHORIZE, Callbacks
from monitor.simulator.handler import SimHandler, SimServer


class Simulator(MetaApi):
    """A `MetaApi` served over HTTP on a background thread (`Simulator().start()`, or `with`), which sends
    Meta's signed callbacks: deauthorize when a token is revoked, data deletion when asked."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        callback_url: str | None = None,
        data_deletion_url: str | None = None,
        default_platform: str | None = None,
    ) -> None:
        super().__init__(clock, default_platform)
        self.host, self.port = host, port
        self.callbacks = Callbacks(clock)
        self.callback_url, self.data_deletion_url = callback_url, data_deletion_url
        self._server: SimServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def callback_url(self) -> str | None:
        """Where deauthorize callbacks of apps without their own URL go ("{app}", "{platform}", "{kind}")."""
        return self.callbacks.templates[DEAUTHORIZE]

    @callback_url.setter
    def callback_url(self, template: str | None) -> None:
        self.callbacks.templates[DEAUTHORIZE] = template

    @property
    def data_deletion_url(self) -> str | None:
        """Where data deletion request callbacks of apps without their own URL go (a template, as above)."""
        return self.callbacks.templates[DATA_DELETION]

    @data_deletion_url.setter
    def data_deletion_url(self, template: str | None) -> None:
        self.callbacks.templates[DATA_DELETION] = template

    def start(self) -> Simulator:
        """Bind and serve on a background thread; returns self so `Simulator().start()` chains."""
        self._server = SimServer((self.host, self.port), SimHandler)
        self._server.sim = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="threads-sim", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._server = None

    def revoke(self, token: str) -> tuple[str, str, str | None]:
        """Revoke `token`; when its app has a deauthorize URL (its own or the simulator's) and a secret, POST
        Meta's signed deauthorize callback for its user (or Page), as Meta does when a user removes the app
        (returns at once; the POST runs aside and is recorded in `callbacks_sent()`)."""
        revoked = super().revoke(token)
        self._deauthorize_aside(token)
        return revoked

    def _deauthorize_aside(self, token: str) -> None:
        record = self.registry.token(token)
        app = self.registry.app(record["app_id"]) if record else None
        if app is not None and record is not None and self.callbacks.ready(DEAUTHORIZE, app):
            self.callbacks.send_aside(DEAUTHORIZE, app, record)

    def request_data_deletion(self, token: str, *, revoke: bool = False) -> dict[str, Any]:
        """The user of `token` (or its Page) asks for their data to be deleted: POST Meta's signed data
        deletion request callback now and return its record (`answer`: the JSON the app gave back, normally
        `{"url", "confirmation_code"}`). `revoke`: the user removed the app too, so the token is revoked
        before the request goes out, and the deauthorize callback (if set up) follows it, aside.
        KeyError for an unknown token; CallbackError when the app has no URL or secret for it."""
        record = self.registry.token(token)
        if record is None:
            raise KeyError(token)
        app = self.registry.app(record["app_id"]) or {"app_id": record["app_id"], "platform": "threads"}
        if revoke:
            MetaApi.revoke(self, token)
        sent = self.callbacks.send(DATA_DELETION, app, record)
        if revoke:
            self._deauthorize_aside(token)
        return sent

    def callbacks_sent(self) -> list[dict[str, Any]]:
        """Every callback the simulator sent, oldest first: kind, platform, app_id, subject, id, url, status,
        answer."""
        return self.callbacks.sent()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("simulator not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def base_url(self, platform: str) -> str:
        """The base URL that speaks `platform` only (`[platforms.<name>] base_url` of a product's config)."""
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}")
        return f"{self.url}/{platform}"
