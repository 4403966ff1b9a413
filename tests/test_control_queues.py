"""The control store's queues on both dialects: the webhook inbox, sync requests, rule firings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.control import ControlDB
from engine.control.inbox import AuditEntry, Delivery, Inbox, RetryPolicy
from engine.control.rule_firings import RuleFirings
from engine.control.sync_requests import SyncRequests

from .test_oauth_support import postgres_control


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ControlDB]:
    if request.param == "sqlite":
        made = ControlDB(f"sqlite:///{tmp_path}/control.db")
        yield made
        made.close()
    else:
        with postgres_control() as control:
            yield control.db


def delivery(event_id: str, connection: str | None = None) -> Delivery:
    body = b'{"id": "%s", "type": "invoice.paid", "bytes": "\\u0000\\xff"}' % event_id.encode()
    return Delivery("stripe", event_id, connection, "invoice.paid", {"content-type": "application/json"}, body,
                    "2026-11-26T10:00:00+00:00")  # fmt: skip


def test_the_inbox_stores_once_per_connection_and_event(db: ControlDB) -> None:
    inbox = Inbox(db)
    rejected = AuditEntry("stripe", "rejected", 401, "2026-11-26T10:00:01+00:00", reason="stale timestamp")
    assert inbox.write([delivery("evt_1"), delivery("evt_1"), delivery("evt_1", "acct_2")], [rejected]) == [
        True,
        False,
        True,
    ]
    stored = inbox.get("stripe", "evt_1")
    assert stored is not None and stored.body == delivery("evt_1").body and stored.connection_id is None
    assert [e.connection_id for e in inbox.due("stripe")] == [None, "acct_2"]
    inbox.processed(stored)
    other = inbox.get("stripe", "evt_1", "acct_2")
    assert other is not None
    assert inbox.failed(other, "boom", RetryPolicy(max_attempts=1)) == "parked"
    stats = inbox.stats("stripe")
    assert (stats.accepted, stats.duplicate, stats.rejected, stats.pending, stats.parked) == (2, 1, 1, 0, 1)
    assert [a.outcome for a in inbox.audit_log("stripe")][0] == "rejected"


def test_sync_requests_dedupe_while_queued(db: ControlDB) -> None:
    requests = SyncRequests(db)
    first = requests.queue("gmail", "maya", ["messages"], source="webhook")
    assert requests.queue("gmail", "maya", ["messages"], source="webhook").id == first.id
    assert requests.started(first.id, "run-1") and not requests.started(first.id, "run-2")
    assert requests.queue("gmail", "maya", ["messages"], source="webhook").id != first.id
    requests.finished(first.id)
    done = requests.get(first.id)
    assert done is not None and done.state == "succeeded" and done.finished_at


def test_rule_firings_fire_once_and_keep_their_mark(db: ControlDB) -> None:
    firings = RuleFirings(db)
    assert firings.mark("r") is None
    firings.set_mark("r", "2026-11-26T10:00:00+00:00")
    firings.set_mark("r", "2026-11-26T11:00:00+00:00")
    assert firings.mark("r") == "2026-11-26T11:00:00+00:00"
    assert firings.fire("r", [("k1", {"text": "a"}), ("k2", {"text": "b"})]) == 2
    assert firings.fire("r", [("k1", {"text": "again"})]) == 0
    assert [f.input for f in firings.due()] == [{"text": "a"}, {"text": "b"}]
