"""monitor.redact: the one redaction and the one log-safe error line, used by every module that shows text."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from monitor.redact import REDACTED, error_line, redact, redact_url, url_secrets

TOKEN = "THAAB1234567890abcdefSECRETTOKEN"


def test_whole_encoded_and_app_token_secrets_are_replaced() -> None:
    shown = redact(f"a {TOKEN} b TH%7C42%7Csecret99 c secret99", [TOKEN, "TH|42|secret99"])
    assert TOKEN not in shown and "secret99" not in shown
    assert shown.count(REDACTED) == 3


def test_a_prefix_echoed_back_cut_short_is_replaced() -> None:
    """A peer that repeats the first 20 characters of a token ("Invalid token THAAB1234567890abcde...")."""
    echoed = f"Invalid OAuth access token {TOKEN[:20]}... (truncated)"
    shown = redact(echoed, [TOKEN])
    assert TOKEN[:12] not in shown
    assert shown == f"Invalid OAuth access token {REDACTED}... (truncated)"


def test_short_values_and_short_common_prefixes_are_left_alone() -> None:
    assert redact("id 42 is fine", ["42"]) == "id 42 is fine"
    assert redact(f"{TOKEN[:8]} is not enough", [TOKEN]) == f"{TOKEN[:8]} is not enough"


def test_error_line_keeps_the_driver_line_and_drops_the_statement() -> None:
    engine = create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT * FROM missing WHERE token = :t"), {"t": TOKEN})
    except OperationalError as exc:
        line = error_line(exc, [TOKEN])
    assert line == "OperationalError: no such table: missing"
    assert TOKEN not in line and "SELECT" not in line


def test_error_line_is_one_capped_redacted_line() -> None:
    line = error_line(ValueError(f"bad {TOKEN}\nsecond line " + "x" * 500), [TOKEN])
    assert "\n" not in line and len(line) <= 300 and TOKEN not in line
    assert line.startswith("ValueError: bad [redacted]")


def test_urls_lose_path_query_and_password() -> None:
    url = "https://user:pa55word@hooks.example.test:8443/services/T000/B000/XXXX?key=1"
    assert redact_url(url) == f"https://hooks.example.test:8443/{REDACTED}"
    shown = redact(f"posting to {url} failed; server said pa55word", url_secrets(url))
    assert "pa55word" not in shown and "services" not in shown
