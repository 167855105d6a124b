"""monitor.check.outcome.check_write: what one check writes, as a pure function (no clock, no I/O)."""

from __future__ import annotations

from dataclasses import replace

from test_inspect import info, result

from monitor.check.observe import Cadence, observe
from monitor.check.store import Claimed
from monitor.graph.client import CheckResult, Verdict

NOW = 1_800_000_000.0
SCOPES = ("threads_basic", "threads_content_publish")


def answer(verdict: Verdict, scopes: tuple[str, ...] = SCOPES, **kw: object) -> CheckResult:
    token = info(NOW + 30 * 86400, scopes) if verdict == Verdict.VALID else None
    return result(verdict, token=token, **kw)


def claimed(previous: CheckResult | None = None, **kw: object) -> Claimed:
    obs = observe(None, previous, "fp") if previous is not None else None
    base: dict = dict(
        id=1,
        name="t",
        app_id=1,
        secret="x",
        fingerprint="fp",
        previous=obs,
        last_success_at=None,
        consecutive_failures=0,
        failing_since=None,
        expected_scopes=None,
    )
    base.update(kw)
    return Claimed(**base)


def test_first_valid_answer_sets_the_scope_baseline_and_a_snapshot() -> None:
    from monitor.check.outcome import check_write

    write = check_write(claimed(), answer(Verdict.VALID), Cadence(), NOW, 0.5)
    assert write.expected_scopes == "threads_basic threads_content_publish"
    assert write.scopes_lost is False and write.last_error is None and write.last_success_at == NOW
    assert write.changed and write.observation.result == "valid"


def test_a_lost_scope_and_an_unchanged_observation() -> None:
    from monitor.check.outcome import check_write

    prev = answer(Verdict.VALID)
    base = "threads_basic threads_content_publish"
    write = check_write(
        claimed(prev, expected_scopes=base), answer(Verdict.VALID, ("threads_basic",)), Cadence(), NOW, 0.5
    )
    assert write.scopes_lost is True and write.changed
    write = check_write(claimed(prev, expected_scopes=base), prev, Cadence(), NOW, 0.5)
    assert write.scopes_lost is False and not write.changed  # nothing changed: no history row


def test_a_failure_keeps_the_facts_counts_and_backs_off() -> None:
    from monitor.check.outcome import check_write

    failed = answer(Verdict.ERROR, reason="http_5xx", error_code=1, message="An unexpected error")
    c = claimed(
        answer(Verdict.VALID), consecutive_failures=2, failing_since=NOW - 600, last_success_at=NOW - 900
    )
    write = check_write(c, failed, Cadence(min_interval=300, jitter=0), NOW, 0.0)
    assert write.consecutive_failures == 3 and write.failing_since == NOW - 600
    assert write.last_success_at == NOW - 900 and write.observation.is_valid is True  # last known kept
    assert write.last_error == "http_5xx: code 1: An unexpected error"
    assert write.next_check_at == NOW + 300 * 4


def test_a_change_of_what_the_alert_rules_read_stamps_updated_at() -> None:
    """The incremental alert evaluation reads the tokens whose `updated_at` moved: a check stamps it when
    the observation changed or a failure began or ended, and leaves it alone otherwise."""
    from monitor.check.outcome import check_write

    prev = answer(Verdict.VALID)
    failed = answer(Verdict.ERROR, reason="http_5xx", error_code=1, message="An unexpected error")
    same = check_write(claimed(prev), prev, Cadence(), NOW, 0.5)
    revoked = check_write(claimed(prev), answer(Verdict.INVALID, reason="invalid"), Cadence(), NOW, 0.5)
    first_failure = check_write(claimed(prev), failed, Cadence(), NOW, 0.5)
    still_failing = check_write(claimed(failed, failing_since=NOW - 60), failed, Cadence(), NOW, 0.5)
    recovered = check_write(claimed(prev, failing_since=NOW - 60), prev, Cadence(), NOW, 0.5)
    assert [w.changed_at for w in (same, revoked, first_failure, still_failing, recovered)] == [
        None,
        NOW,
        NOW,
        None,
        NOW,
    ]


def test_a_healthy_first_answer_stamps_nothing_a_near_or_invalid_one_does() -> None:
    """Most of a fresh fleet's first sweep: a valid token far from both horizons gives the alert rules
    nothing to say, so its first answer leaves `updated_at` alone (time crossings are found by range)."""
    from monitor.check.outcome import check_write
    from monitor.state import Horizons

    h = Horizons()

    def valid(days_left: float) -> CheckResult:
        facts = replace(info(NOW + days_left * 86400, SCOPES), data_access_expires_at=NOW + 80 * 86400)
        return result(Verdict.VALID, token=facts)

    far, near = valid(30), valid(3)
    invalid = answer(Verdict.INVALID, reason="invalid")
    stamps = [
        check_write(claimed(), far, Cadence(), NOW, 0.5, h).changed_at,
        check_write(claimed(), near, Cadence(), NOW, 0.5, h).changed_at,
        check_write(claimed(), invalid, Cadence(), NOW, 0.5, h).changed_at,
        check_write(claimed(), far, Cadence(), NOW, 0.5).changed_at,  # thresholds unknown
    ]
    assert stamps == [None, NOW, NOW, NOW]
