"""The `state` parameter: signed, single use, expiring, bound to connector, connection and redirect URI."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from engine.oauth import OAuthStateError, OAuthStates, complete

from .test_oauth_support import ENV, Clock, Control, code_spec, control_at, sqlite_control

CALLBACK = "https://app.example.com/oauth/xero/callback"


@pytest.fixture
def control(tmp_path: Path) -> Iterator[Control]:
    yield from sqlite_control(tmp_path)


def test_a_state_round_trips_to_what_it_was_bound_to(control: Control) -> None:
    state = control.states.issue("xero", "acme", CALLBACK, owner_id="u1", code_verifier="v" * 64)
    pending = control.states.consume(state, connector="xero", redirect_uri=CALLBACK)
    assert (pending.connector, pending.connection_id, pending.redirect_uri, pending.owner_id) == (
        "xero",
        "acme",
        CALLBACK,
        "u1",
    )
    assert pending.code_verifier == "v" * 64
    assert "v" * 64 not in repr(pending)


def test_the_verifier_is_encrypted_at_rest_and_the_state_reveals_nothing(control: Control) -> None:
    state = control.states.issue("xero", "acme-ltd", CALLBACK, code_verifier="VERIFIER-" + "x" * 50)
    assert "VERIFIER-" not in control.raw_rows()
    assert "acme-ltd" not in state and "xero" not in state


def tamper(state: str, part: int) -> str:
    pieces = state.split(".")
    text = pieces[part]
    pieces[part] = text[:-1] + ("A" if text[-1] != "A" else "B") if part != 1 else str(int(text) + 3600)
    return ".".join(pieces)


@pytest.mark.parametrize("part", [0, 1, 2], ids=["nonce", "expiry", "signature"])
def test_a_tampered_state_is_refused(control: Control, part: int) -> None:
    state = control.states.issue("xero", "acme", CALLBACK)
    with pytest.raises(OAuthStateError):
        control.states.consume(tamper(state, part), connector="xero")
    # the genuine state still works: refusing a forgery does not burn it
    assert control.states.consume(state, connector="xero").connection_id == "acme"


@pytest.mark.parametrize("state", ["", "abc", "a.b.c", "x" * 300, "../../etc.1.2"])
def test_garbage_is_refused(control: Control, state: str) -> None:
    with pytest.raises(OAuthStateError, match="malformed"):
        control.states.consume(state, connector="xero")


def test_a_state_is_single_use(control: Control) -> None:
    state = control.states.issue("xero", "acme", CALLBACK)
    control.states.consume(state, connector="xero")
    with pytest.raises(OAuthStateError, match="used already"):
        control.states.consume(state, connector="xero")


def test_racing_callbacks_with_one_state_only_one_wins(control: Control) -> None:
    state = control.states.issue("xero", "acme", CALLBACK)
    results: list[str] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        own = control_at(control.db.url, control.key)  # its own connection, as another process has
        barrier.wait()
        try:
            own.states.consume(state, connector="xero")
            results.append("ok")
        except OAuthStateError:
            results.append("refused")
        finally:
            own.db.close()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok"] + ["refused"] * 7


def test_a_state_expires_after_ten_minutes(control: Control) -> None:
    clock = Clock()
    states = OAuthStates(control.db, control.vault, clock=clock)
    fresh, stale = states.issue("xero", "a", CALLBACK), states.issue("xero", "b", CALLBACK)
    clock.advance(9 * 60)
    assert states.consume(fresh, connector="xero").connection_id == "a"
    clock.advance(61 + 1)
    with pytest.raises(OAuthStateError, match="expired"):
        states.consume(stale, connector="xero")


def test_a_state_is_bound_to_its_connector_and_redirect_uri(control: Control) -> None:
    state = control.states.issue("xero", "acme", CALLBACK)
    with pytest.raises(OAuthStateError, match="another connector"):
        control.states.consume(state, connector="google_calendar")
    with pytest.raises(OAuthStateError, match="redirect URI"):
        control.states.consume(state, connector="xero", redirect_uri="https://evil.example/cb")
    assert control.states.consume(state, connector="xero", redirect_uri=CALLBACK).connection_id == "acme"


def test_another_process_on_the_same_store_verifies_the_state(control: Control, tmp_path: Path) -> None:
    """The web service may have several replicas: the signing key lives in the control store."""
    state = control.states.issue("xero", "acme", CALLBACK)
    other = control_at(f"sqlite:///{tmp_path}/control.db", control.key)
    assert other.states.consume(state, connector="xero").connection_id == "acme"


def test_a_state_from_another_store_is_refused(control: Control, tmp_path: Path) -> None:
    elsewhere = control_at(f"sqlite:///{tmp_path}/elsewhere.db")
    state = elsewhere.states.issue("xero", "acme", CALLBACK)
    with pytest.raises(OAuthStateError):
        control.states.consume(state, connector="xero")


def test_old_states_are_purged(control: Control) -> None:
    clock = Clock()
    states = OAuthStates(control.db, control.vault, clock=clock)
    states.issue("xero", "a", CALLBACK)
    clock.advance(timedelta(days=2).total_seconds())
    states.issue("xero", "b", CALLBACK)
    assert [r["connection_id"] for r in control.db.query("SELECT connection_id FROM oauth_states")] == ["b"]


@pytest.mark.parametrize("bad", ["tampered", "replayed", "expired"])
def test_complete_with_a_bad_state_stores_nothing(control: Control, bad: str) -> None:
    clock = Clock()
    states = OAuthStates(control.db, control.vault, clock=clock)
    state = states.issue("xero", "acme", CALLBACK)
    if bad == "tampered":
        state = tamper(state, 2)
    elif bad == "replayed":
        states.consume(state, connector="xero")
    else:
        clock.advance(601)
    with pytest.raises(OAuthStateError):
        complete(
            code_spec("xero"), "xero", "code", state, states=states, store=control.store, env=ENV["xero"]
        )
    assert control.store.list() == []
