"""erase_user on every backend, with the real alert evaluation: a firing alert of an erased token ends as
"deleted on request" (never "valid again"), another user's alert is untouched, and nothing is erased for an
app that is gone or a user who has nothing here."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.alerting.job import evaluate, exclusive
from monitor.callbacks import mentions_user
from monitor.config.load import AlertsConfig
from monitor.crypto import Vault
from monitor.db.migrate import upgrade
from monitor.db.models import AlertEventRow, Token
from monitor.db.session import make_engine, make_sessionmaker, transaction
from monitor.registry import Erased, NewToken, add_app, add_tokens, erase_user

T0 = 1_800_000_000.0


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    vault = Vault.from_keys([Fernet.generate_key()])
    with transaction(factory) as s:
        add_app(s, vault, "growth", "INSPECTOR-1", kind="user_token", threads_app_id="1", now=T0)
        add_app(s, vault, "ads", "INSPECTOR-2", kind="user_token", threads_app_id="2", now=T0)
        tokens = [NewToken("a1", "growth", "THQW-1"), NewToken("b1", "growth", "THQW-2")]
        add_tokens(s, vault, [*tokens, NewToken("a-other-app", "ads", "THQW-3")], now=T0)
        s.execute(update(Token).values(is_valid=False, last_result="invalid", invalid_reason="revoked",
                                       updated_at=T0, user_id="111"))  # fmt: skip
        s.execute(update(Token).where(Token.name == "b1").values(user_id="222"))
    yield factory
    engine.dispose()


def events(sessions: sessionmaker[Session], now: float) -> list[tuple[str, str, str | None]]:
    with exclusive(sessions, "alerts") as s:
        evaluate(s, AlertsConfig(), now)
    with transaction(sessions) as s:
        rows = [json.loads(p) for p in s.scalars(select(AlertEventRow.payload))]
        s.execute(delete(AlertEventRow))
    return sorted((e["labels"]["token"], e["kind"], e.get("reason")) for e in rows)


def erase(sessions: sessionmaker[Session], app: str, user: str, now: float) -> Erased:
    with transaction(sessions) as s:
        return erase_user(s, app, user, now=now, mentions=mentions_user(user))


def test_an_erased_tokens_alert_ends_as_deleted_on_request(sessions: sessionmaker[Session]) -> None:
    assert [kind for _, kind, _ in events(sessions, T0)] == ["fire"] * 3
    erased = erase(sessions, "growth", "111", T0 + 60)
    assert (erased.tokens, erased.alerts_ended, erased.alerts) == (1, 1, 0)
    assert events(sessions, T0 + 120) == [("a1", "resolve", "deleted on request")]
    with sessions() as s:  # the other app's token of the same id, and the other user's, stay
        assert sorted(s.scalars(select(Token.name))) == ["a-other-app", "b1"]


def test_nothing_held_nothing_erased_and_a_gone_app_erases_nothing(sessions: sessionmaker[Session]) -> None:
    assert erase(sessions, "growth", "999", T0) == Erased()
    with pytest.raises(LookupError), transaction(sessions) as s:
        erase_user(s, "gone", "111", now=T0, mentions=mentions_user("111"))
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Token)) == 3


def test_mentions_are_whole_ids_or_relayed_bodies() -> None:
    mentions = mentions_user("111")
    assert mentions('{"user": "111"}') and mentions("user 111.")
    assert not mentions("user 1111") and not mentions("21110") and not mentions("not json")


def test_an_alert_naming_a_longer_number_is_not_the_users(sessions: sessionmaker[Session]) -> None:
    from sqlalchemy import insert

    from monitor.db.models import Alert

    with transaction(sessions) as s:
        for key, owner in (("mine", "111"), ("theirs", "11123")):
            s.execute(insert(Alert).values(
                key=key, alertname="TokenInvalid", subject=key, status="resolved", severity="critical",
                labels={"owner": owner}, annotations={}, fingerprint=key, started_at=T0, updated_at=T0,
            ))  # fmt: skip
    assert erase(sessions, "growth", "111", T0).alerts == 1
    with sessions() as s:
        assert list(s.scalars(select(Alert.key))) == ["theirs"]
