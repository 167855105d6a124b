"""The configuration as frozen dataclasses: what the daemon reads, with every default in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.config.values import FrozenMap, split_host_port
from monitor.state import Horizons

DAY = 86400.0
DEFAULT_STATE_DIR = Path("/var/lib/threads-token-monitor")


class ConfigError(Exception):
    """The configuration is unusable. `problems` holds every problem found, "KEY.PATH: message" each."""

    def __init__(self, problems: list[str], path: Path | None = None) -> None:
        self.problems = list(problems)
        self.path = path
        prefix = f"{path}: " if path is not None else ""
        super().__init__("\n".join(prefix + problem for problem in self.problems))


# ---------------------------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = f"sqlite:///{DEFAULT_STATE_DIR}/monitor.sqlite3"
    pool_size: int = 10


@dataclass(frozen=True)
class SecurityConfig:
    key_files: tuple[Path, ...] = (DEFAULT_STATE_DIR / "secret.key",)  # newest first


@dataclass(frozen=True)
class ThreadsConfig:
    """The API client's knobs; `base_url` and `api_version` are the old place of [platforms.threads] and
    always equal it once loaded (SPEC 16)."""

    base_url: str = "https://graph.threads.com"  # Meta's current docs; graph.threads.net is still accepted
    api_version: str = "v1.0"
    timeout: float = 10.0
    concurrency: int = 8
    max_calls_per_hour: int = 1000
    retries: int = 2


@dataclass(frozen=True)
class PlatformConfig:
    """Where one Meta platform's Graph API answers."""

    base_url: str
    api_version: str


PLATFORM_NAMES = ("threads", "facebook", "instagram")


@dataclass(frozen=True)
class PlatformsConfig:
    """[platforms.threads|facebook|instagram] (SPEC 16); Instagram is the API with Instagram Login."""

    threads: PlatformConfig = PlatformConfig("https://graph.threads.com", "v1.0")
    facebook: PlatformConfig = PlatformConfig("https://graph.facebook.com", "v25.0")
    instagram: PlatformConfig = PlatformConfig("https://graph.instagram.com", "v25.0")

    def get(self, name: str) -> PlatformConfig:
        """The host of platform `name` (one of PLATFORM_NAMES; KeyError otherwise)."""
        if name not in PLATFORM_NAMES:
            raise KeyError(name)
        return getattr(self, name)  # type: ignore[no-any-return]

    def hosts(self) -> dict[str, tuple[str, str]]:
        """{platform: (base_url, api_version)}, as GraphClient takes them."""
        return {name: (self.get(name).base_url, self.get(name).api_version) for name in PLATFORM_NAMES}


@dataclass(frozen=True)
class ScheduleConfig:
    sweep_interval: float = 30.0
    max_check_interval: float = 6 * 3600.0
    min_check_interval: float = 300.0
    retention: float = 400 * DAY
    lease: float = 300.0
    jitter: float = 0.1  # fraction of the check interval, 0..0.5


@dataclass(frozen=True)
class HttpConfig:
    listen: str = "127.0.0.1:9469"
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    basic_auth_username: str | None = None
    basic_auth_password: str | None = field(default=None, repr=False)
    external_url: str = ""

    @property
    def host(self) -> str:
        return split_host_port(self.listen)[0]

    @property
    def port(self) -> int:
        return split_host_port(self.listen)[1]


@dataclass(frozen=True)
class MetricsConfig:
    per_token: str = "all"  # all | problems | none
    scopes: bool = True
    labels: tuple[str, ...] = ()  # registry label keys exported on threads_token_labels (as label_KEY)


@dataclass(frozen=True)
class HeartbeatConfig:
    """[heartbeat] (SPEC 17): a push monitor's URL (Healthchecks, Uptime Kuma), pinged every `interval`."""

    url: str = field(repr=False)  # a secret: the URL is the credential
    interval: float = 60.0
    timeout: float = 10.0


@dataclass(frozen=True)
class RefreshConfig:
    enabled: bool = True
    before: float = 10 * DAY
    min_age: float = DAY


_DEFAULT = Horizons()


@dataclass(frozen=True)
class Thresholds:
    warning: float
    critical: float  # always shorter than warning


@dataclass(frozen=True)
class AlertsConfig:
    # One source for the default thresholds: the state rule's (monitor.state.Horizons).
    expiry: Thresholds = Thresholds(_DEFAULT.expiry_warning, _DEFAULT.expiry_critical)
    data_access: Thresholds = Thresholds(_DEFAULT.data_access_warning, _DEFAULT.data_access_critical)
    check_failing_after: float = 3600.0
    repeat_interval: float = DAY
    group_wait: float = 30.0
    notification_ttl: float = DAY


@dataclass(frozen=True)
class CallbacksConfig:
    """The [callbacks] listener (SPEC 11): Meta's deauthorize callback and, with api_token, recheck."""

    listen: str = "127.0.0.1:9470"
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    api_token: str | None = field(default=None, repr=False)  # None: POST /api/v1/recheck answers 404
    forward_url: str | None = None  # relay each accepted callback's body here ("{app}" -> the app's name)
    # The base of the data deletion status page's URL in the answers to Meta (what its users open: behind
    # a reverse proxy, the proxy's https URL); None: the listener's own URL (http(s)://listen).
    public_url: str | None = None
    # The listener faces the internet: bounds against slow, idle and greedy clients (monitor.httpd.Limits).
    max_connections: int = 64
    max_connections_per_client: int = 8
    header_timeout: float = 5.0
    request_timeout: float = 10.0
    idle_timeout: float = 5.0
    # Checks asked for at once (callbacks and the recheck API) spend at most this share of
    # [threads] max_calls_per_hour; one recheck request queues at most recheck_max_tokens tokens.
    recheck_share: float = 0.25
    recheck_max_tokens: int = 100

    @property
    def host(self) -> str:
        return split_host_port(self.listen)[0]

    @property
    def port(self) -> int:
        return split_host_port(self.listen)[1]


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"  # debug | info | warning | error


@dataclass(frozen=True)
class NotifierConfig:
    name: str
    type: str  # slack | webhook | email | alertmanager | console
    min_severity: str = "warning"
    match: Mapping[str, str] = FrozenMap()
    send_resolved: bool = True
    timeout: float = 10.0
    settings: Mapping[str, Any] = field(default=FrozenMap(), repr=False)  # type-specific, secrets resolved


@dataclass(frozen=True)
class SourceConfig:
    name: str
    url: str = field(repr=False)
    query: str
    app: str | None = None  # None: the query returns an `app` column
    sync_interval: float = 300.0
    on_refresh: str | None = None
    max_rows: int = 500_000  # a query returning more is refused: the registry is not a data warehouse


@dataclass(frozen=True)
class Config:
    database: DatabaseConfig = DatabaseConfig()
    security: SecurityConfig = SecurityConfig()
    threads: ThreadsConfig = ThreadsConfig()
    platforms: PlatformsConfig = PlatformsConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    http: HttpConfig = HttpConfig()
    metrics: MetricsConfig = MetricsConfig()
    refresh: RefreshConfig = RefreshConfig()
    alerts: AlertsConfig = AlertsConfig()
    log: LogConfig = LogConfig()
    callbacks: CallbacksConfig | None = None  # off unless the file has a [callbacks] section
    heartbeat: HeartbeatConfig | None = None  # off unless the file has a [heartbeat] section
    notifiers: tuple[NotifierConfig, ...] = ()
    sources: tuple[SourceConfig, ...] = ()
    path: Path | None = None
