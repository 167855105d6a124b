"""Screenshots of the status pages for the README: a mixed fleet's `/` and a refreshed token's page, each at
desktop (1280 px) and phone (390 px) width, taken by headless Chromium (Debian's `chromium`).

    .venv/bin/python -m bench.screenshots                  # writes docs/screenshots/*.png
    .venv/bin/python -m bench.screenshots --out /tmp/shots # anywhere else (tests/web_pages does this)

The fleet lives in a temporary SQLite database at a fixed moment, so the pictures only change with the
pages.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.db.migrate import upgrade  # noqa: E402
from monitor.db.models import App, Snapshot, Token  # noqa: E402
from monitor.db.session import make_engine, make_sessionmaker  # noqa: E402
from monitor.state import Horizons  # noqa: E402
from monitor.web.routes import fleet_response, token_response  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_796_126_400.0  # 2026-12-01T12:00:00Z
DAY = 86400.0
SCOPES = "threads_basic threads_content_publish threads_manage_insights"
REFRESHED = "growth-feed-ios"
WIDTHS = {"desktop": (1280, 1400), "phone": (390, 1700)}
# name, app, kind, days to expiry, days to data access expiry, labels
FLEET: list[tuple[str, str, str, float | None, float | None, dict[str, str]]] = [
    ("support-inbox", "growth", "invalid", None, None, {"team": "support"}),
    ("ads-reporting", "ads", "ok", 1.2, 40, {"team": "ads", "tier": "gold"}),
    ("search-indexer", "search", "ok", 5.5, 70, {"team": "search"}),
    ("ads-audience-sync", "ads", "ok", 31, 2.4, {"team": "ads"}),
    ("growth-referrals", "growth", "failing", 22, 80, {"team": "growth"}),
    ("ml-trends", "search", "unchecked", None, None, {"team": "ml"}),
    (REFRESHED, "growth", "ok", 57, 87, {"team": "growth", "platform": "ios"}),
    ("growth-feed-android", "growth", "ok", 44, 75, {"team": "growth", "platform": "android"}),
    ("payments-receipts", "ads", "ok", 18, 61, {"team": "payments"}),
    ("infra-status-bot", "search", "ok", 12, None, {"team": "infra"}),
    ("mobile-stories", "growth", "ok", 36, 66, {"team": "mobile"}),
    ("brand-campaigns", "ads", "ok", 27, 57, {"team": "ads", "tier": "gold"}),
]


def _token(
    i: int, name: str, app: int, kind: str, exp: float | None, dae: float | None, labels: dict[str, str]
) -> dict[str, Any]:  # noqa: E501
    checked = kind != "unchecked"
    return {
        "name": name, "app_id": app, "secret": "-", "fingerprint": f"{0x5EED0 + i:012x}", "labels": labels,
        "auto_refresh": name == REFRESHED, "source": "crm" if labels.get("team") == "ads" else None,
        "created_at": NOW - 400 * DAY, "updated_at": NOW - DAY, "secret_changed_at": NOW - 3 * DAY,
        "next_check_at": NOW + 3 * 3600, "consecutive_failures": 4 if kind == "failing" else 0,
        "refresh_failures": 0, "last_check_at": NOW - 600 - 97 * i if checked else None,
        "last_success_at": NOW - (5 * 3600 if kind == "failing" else 600 + 97 * i) if checked else None,
        "last_result": {"failing": "error", "invalid": "invalid", "unchecked": None}.get(kind, "valid"),
        "last_error": "HTTP 503 from debug_token" if kind == "failing" else None,
        "failing_since": NOW - 5 * 3600 if kind == "failing" else None,
        "observed_at": NOW - 3 * DAY if checked else None, "is_valid": kind != "invalid" if checked else None,
        "expires_at": NOW + exp * DAY if exp is not None else None,
        "data_access_expires_at": NOW + dae * DAY if dae is not None else None,
        "issued_at": NOW - 3 * DAY if checked else None, "scopes": SCOPES, "token_type": "USER",
        "application": "Threads app", "user_id": str(17841400000000000 + i),
        "invalid_reason": "revoked" if kind == "invalid" else None,
        "last_refresh_at": NOW - 3 * DAY if name == REFRESHED else None,
        "next_refresh_at": NOW + 47 * DAY if name == REFRESHED else None,
    }  # fmt: skip


def refresh_history(token_id: int) -> Iterator[dict[str, Any]]:
    """Refreshed about every 50 days for a year (each refresh: 60 more days), a failing stretch included."""
    for k in range(7, -1, -1):
        at = NOW - 3 * DAY - k * 50 * DAY
        yield {"token_id": token_id, "observed_at": at, "result": "valid", "fingerprint": f"{0xF00 + k:012x}",
               "is_valid": True, "expires_at": at + 60 * DAY, "data_access_expires_at": at + 90 * DAY,
               "issued_at": at, "scopes": SCOPES, "token_type": "USER",
               "application": "Threads app"}  # fmt: skip


def build(url: str) -> None:
    """Migrate `url` and fill it with FLEET and the refreshed token's history."""
    engine = make_engine(url)
    upgrade(engine)
    apps = {name: k for k, name in enumerate(("ads", "growth", "search"), start=1)}
    with engine.begin() as conn:
        conn.execute(insert(App), [
            {"id": k, "name": name, "inspector_kind": "user_token", "inspector_secret": "-",
             "inspector_fingerprint": "0" * 12, "inspector_state": "ok", "created_at": NOW - 400 * DAY}
            for name, k in apps.items()
        ])  # fmt: skip
        conn.execute(insert(Token), [_token(i, n, apps[a], *rest) for i, (n, a, *rest) in enumerate(FLEET)])
        refreshed = conn.scalar(select(Token.id).where(Token.name == REFRESHED))
        conn.execute(insert(Snapshot), list(refresh_history(int(refreshed or 0))))
    engine.dispose()


def pages(url: str, out: Path) -> dict[str, Path]:
    """Write the fleet page and the refreshed token's page as HTML files under `out`."""
    sessions = make_sessionmaker(make_engine(url))
    h = Horizons()
    written = {}
    for name, (_, _, body) in (
        ("fleet", fleet_response(sessions, "", NOW, h)),
        ("token", token_response(sessions, f"/tokens/{REFRESHED}", NOW, h)),
    ):
        written[name] = out / f"{name}.html"
        written[name].write_bytes(body)
    return written


def screenshot(chromium: str, html: Path, png: Path, width: int, height: int, profile: Path) -> None:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--force-device-scale-factor=1", f"--window-size={width},{height}",
             f"--user-data-dir={profile}"]  # fmt: skip
    done = subprocess.run([chromium, *flags, f"--screenshot={png}", html.as_uri()], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    if done.returncode != 0 or not png.exists():
        raise RuntimeError(f"chromium failed on {html.name}: {done.stderr[-800:]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ttm-shots") as tmp:
        url = f"sqlite:///{tmp}/shots.sqlite3"
        build(url)
        for name, html in pages(url, Path(tmp)).items():
            for device, (width, height) in WIDTHS.items():
                png = args.out / f"{name}-{device}.png"
                screenshot(chromium, html, png, width, height, Path(tmp) / f"profile-{device}")
                print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
