"""monitor.callbacks.signed: Meta's signed_request, verified without a clock, a server or a database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.callbacks.signed import (
    FORM_TYPE,
    MAX_AGE,
    MAX_SKEW,
    Deauthorization,
    SignedRequestError,
    parse_form_body,
    sign_request,
    verify_callback,
    verify_signed_request,
)

SECRET = "app-secret-0123456789abcdef"
DROP = object()
NOW = 1_750_000_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(payload: object, secret: str = SECRET, raw: bytes | None = None) -> str:
    """A signed_request over any payload (signed correctly, so only the payload can be at fault)."""
    part = b64(raw if raw is not None else json.dumps(payload).encode())
    sig = hmac.new(secret.encode(), part.encode(), hashlib.sha256).digest()
    return f"{b64(sig)}.{part}"


def fields(**changes: object) -> str:
    """A correctly signed request whose payload has `changes` (a value of DROP removes the field)."""
    payload = {"algorithm": "HMAC-SHA256", "issued_at": NOW, "user_id": "1", **changes}
    return signed({k: v for k, v in payload.items() if v is not DROP})


def refusal(signed_request: str, now: float = NOW) -> str:
    with pytest.raises(SignedRequestError) as caught:
        verify_signed_request(signed_request, SECRET, now)
    if len(signed_request) > 3:
        assert signed_request not in str(caught.value) and SECRET not in str(caught.value)
    return caught.value.reason


def test_round_trip() -> None:
    request = sign_request("17841400000000001", NOW - 60, SECRET)
    assert verify_signed_request(request, SECRET, NOW) == Deauthorization("17841400000000001", NOW - 60)
    body = urlencode({"signed_request": request}).encode()
    assert verify_callback(body, f"{FORM_TYPE}; charset=UTF-8", SECRET, NOW).user_id == "17841400000000001"


def test_meta_shaped_example() -> None:
    # Built by hand the way Meta's documentation describes it, independently of sign_request.
    payload = {"algorithm": "HMAC-SHA256", "issued_at": NOW, "user_id": "1234"}
    assert verify_signed_request(signed(payload), SECRET, NOW) == Deauthorization("1234", NOW)
    assert verify_signed_request(signed({**payload, "user_id": 1234}), SECRET, NOW).user_id == "1234"
    assert (
        verify_signed_request(signed({**payload, "algorithm": "hmac-sha256"}), SECRET, NOW).issued_at == NOW
    )


def test_padding_is_optional_but_only_base64url_is_read() -> None:
    sig, payload = sign_request("1", NOW, SECRET).split(".")
    padded = f"{sig}{'=' * (-len(sig) % 4)}.{payload}"
    assert verify_signed_request(padded, SECRET, NOW).user_id == "1"
    standard = base64.b64encode(base64.urlsafe_b64decode(sig + "==")).decode()
    if standard.rstrip("=") != sig:  # the signature has a + or / in standard base64: refused
        assert refusal(f"{standard}.{payload}") == "bad_request"
    assert refusal(f"{sig}!.{payload}") == "bad_request"
    assert refusal(f"{sig}.{payload} ") == "bad_request"
    assert refusal(f"{sig[:-1]}{'B' if sig[-1] != 'B' else 'C'}.{payload}") in (
        "bad_request",
        "bad_signature",
    )


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: sign_request("1", NOW, "another-secret"), "bad_signature"),
        (lambda: sign_request("1", NOW, SECRET, algorithm="HMAC-SHA1"), "bad_signature"),
        (lambda: sign_request("1", NOW, SECRET, algorithm="none"), "bad_signature"),
        (lambda: fields(algorithm=DROP), "bad_signature"),
        (lambda: sign_request("1", NOW - MAX_AGE - 1, SECRET), "stale"),
        (lambda: sign_request("1", NOW + MAX_SKEW + 1, SECRET), "stale"),
        (lambda: sign_request("1", NOW + 3600, SECRET), "stale"),
        (lambda: fields(issued_at=float(NOW)), "bad_request"),
        (lambda: fields(issued_at=str(NOW)), "bad_request"),
        (lambda: fields(issued_at=True), "bad_request"),
        (lambda: fields(issued_at=DROP), "bad_request"),
        (lambda: fields(user_id=DROP), "bad_request"),
        (lambda: fields(user_id="12a"), "bad_request"),
        (lambda: fields(user_id=-1), "bad_request"),
        (lambda: fields(user_id=["1"]), "bad_request"),
        (lambda: fields(user_id=""), "bad_request"),
        (lambda: signed(["HMAC-SHA256", NOW, "1"]), "bad_request"),
        (lambda: signed(None, raw=b"{not json"), "bad_request"),
        (lambda: signed(None, raw=b"\xff\xfe"), "bad_request"),
        (lambda: "no-dot-at-all", "bad_request"),
        (lambda: "", "bad_request"),
        (lambda: ".", "bad_request"),
    ],
    ids=[
        "forged", "sha1", "none", "no-algorithm", "old", "future", "far-future", "float", "string-time",
        "bool-time", "no-time", "no-user", "letters", "negative", "list-user", "empty-user", "not-object",
        "not-json", "not-utf8", "no-dot", "empty", "only-dot",
    ],
)  # fmt: skip
def test_refusals(make: Callable[[], str], reason: str) -> None:
    assert refusal(make()) == reason


def test_the_edges_of_the_window() -> None:
    assert (
        verify_signed_request(sign_request("1", NOW - MAX_AGE, SECRET), SECRET, NOW).issued_at
        == NOW - MAX_AGE
    )
    assert (
        verify_signed_request(sign_request("1", NOW + MAX_SKEW, SECRET), SECRET, NOW).issued_at
        == NOW + MAX_SKEW
    )


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"signed_request=a.b", "application/json"),
        (b"signed_request=a.b", None),
        (b"other=1", FORM_TYPE),
        (b"", FORM_TYPE),
        (b"signed_request=a.b&signed_request=c.d", FORM_TYPE),
        (b"signed_request", FORM_TYPE),
        (b"signed_request=\xff", FORM_TYPE),
        (b"signed_request=" + b"a" * 8192, FORM_TYPE),
        (b"&".join(b"f%d=1" % i for i in range(20)) + b"&signed_request=a.b", FORM_TYPE),
    ],
    ids=["json", "no-type", "no-field", "empty", "twice", "no-value", "not-ascii", "too-big", "many-fields"],
)
def test_form_body_refusals(body: bytes, content_type: str | None) -> None:
    with pytest.raises(SignedRequestError) as caught:
        parse_form_body(body, content_type)
    assert caught.value.reason == "bad_request"


def test_form_body_reads_the_one_field() -> None:
    assert parse_form_body(b"signed_request=abc.def", "Application/X-WWW-Form-Urlencoded") == "abc.def"
    assert parse_form_body(b"signed_request=abc%2Edef&extra=1", FORM_TYPE) == "abc.def"


@given(st.text(max_size=300))
def test_garbage_strings_only_ever_raise_the_typed_refusal(text: str) -> None:
    try:
        verify_signed_request(text, SECRET, NOW)
    except SignedRequestError as exc:
        assert exc.reason in ("bad_signature", "stale", "bad_request")


@given(st.binary(max_size=600), st.sampled_from([FORM_TYPE, "text/plain", "", None]))
def test_garbage_bodies_only_ever_raise_the_typed_refusal(body: bytes, content_type: str | None) -> None:
    try:
        verify_callback(body, content_type, SECRET, NOW)
    except SignedRequestError as exc:
        assert exc.reason in ("bad_signature", "stale", "bad_request")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "algorithm": st.sampled_from(["HMAC-SHA256", "hmac-sha256", "HMAC-SHA1"]) | JSON,
        "issued_at": st.integers(NOW - 2 * MAX_AGE, NOW + 2 * MAX_AGE) | JSON,
        "user_id": st.from_regex(r"[0-9]{1,20}", fullmatch=True) | st.integers() | JSON,
    },
)


@given(FIELDS | JSON)
def test_correctly_signed_garbage_payloads_are_verified_or_refused(payload: object) -> None:
    try:
        result = verify_signed_request(signed(payload), SECRET, NOW)
    except SignedRequestError as exc:
        assert exc.reason in ("bad_signature", "stale", "bad_request")
    else:
        assert isinstance(payload, dict) and str(payload["algorithm"]).upper() == "HMAC-SHA256"
        assert result.user_id.isdigit() and NOW - MAX_AGE <= result.issued_at <= NOW + MAX_SKEW
