"""`manifold explain`: the plan of a sync, read from the spec, never a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLANTED = "sk_live_PLANTEDsecret0123456789"


def explain(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")} | env
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", "explain", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
    )


def test_explain_shows_requests_paging_incremental_and_columns_without_secrets() -> None:
    done = explain("stripe", STRIPE_SECRET_KEY=PLANTED)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert PLANTED not in out and PLANTED[:12] not in out
    assert "STRIPE_SECRET_KEY: set" in out and "STRIPE_WEBHOOK_SECRET: NOT SET" in out
    assert "GET https://api.stripe.com/v1/invoices" in out and "?limit=100" in out
    assert "paging: last_record_cursor (param: starting_after, field: id, more: has_more)" in out
    assert "incremental: cursor (field: created, param: created[gte]" in out
    assert "into: table invoices (merge on _provider, _connection_id, id)" in out
    assert "amount_due <- amount_due as cents" in out
    assert "docs/spec-reference.md#lastrecordcursorpaging" in out
    assert "actions: create_payment_intent, create_invoice, create_payout" in out


def test_explain_one_stream_runs_its_parents_first() -> None:
    done = explain("google_calendar", "--stream", "events")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.index("1. calendar_list") < out.index("2. events")
    assert "runs once per record of stream `calendar_list`" in out
    assert "incremental: server_token (token: nextSyncToken, param: syncToken" in out


def test_explain_names_the_streams_when_one_is_unknown() -> None:
    done = explain("stripe", "-s", "invoice")
    assert done.returncode == 1
    assert "stripe has no stream 'invoice'" in done.stderr and "invoices" in done.stderr
