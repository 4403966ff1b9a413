"""Instagram end to end: connect through the sandbox's OAuth server (code -> short-lived token ->
long-lived token -> profile lookup), sync profile, media (Graph cursor pages) and per-post
insights into DuckDB, refresh the 60-day token by `ig_refresh_token` before it lapses, and
signed webhooks (hub.challenge handshake, X-Hub-Signature-256) queueing a sync."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from engine.control import ConnectionStore, ControlDB, Vault
from engine.control.sync_requests import SyncRequests

from .conftest import ROOT, Workspace
from .web_support import running_service, settings_for

SECRET = "sandbox-instagram-app-secret-eb8c7"
IG_USER = "17841405793187218"
ENV = {"INSTAGRAM_INTEGRATION_ENABLED": "1", "INSTAGRAM_VERIFY_TOKEN": "sandbox-instagram-verify"}


@pytest.fixture
def space(workspace: Workspace, secret_key: str, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    workspace.start_sandbox()
    return workspace


def env(space: Workspace) -> dict[str, str]:
    return space.env(MANIFOLD_SECRET_KEY=os.environ["MANIFOLD_SECRET_KEY"])


def store() -> ConnectionStore:
    return ConnectionStore(
        ControlDB(os.environ["MANIFOLD_CONTROL_URL"]), Vault([os.environ["MANIFOLD_SECRET_KEY"]])
    )


def connect(space: Workspace, connection: str) -> str:
    assert space.sandbox is not None
    command = [sys.executable, "-m", "engine.cli", "connect", "instagram", "--connection", connection,
               "--sandbox-url", space.sandbox.url, "--timeout", "30"]  # fmt: skip
    process = subprocess.Popen(
        command, env=env(space), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Open this URL to connect Instagram")
        url = process.stdout.readline().strip()
        assert url.startswith(space.sandbox.url + "/instagram/oauth/authorize?")
        assert "scope=instagram_business_basic%2Cinstagram_business_manage_comments" in url
        page = httpx.get(url, follow_redirects=True, timeout=10)
        assert page.status_code == 200, page.text
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    return out


def sync(space: Workspace, connection: str) -> subprocess.CompletedProcess[str]:
    assert space.sandbox is not None
    return space.cli(
        "sync", "instagram", "--connection", connection, "--sandbox-url", space.sandbox.url, env=env(space)
    )


def test_connect_exchanges_for_a_long_lived_token_then_syncs_profile_media_and_insights(
    space: Workspace,
) -> None:
    out = connect(space, "acme")
    assert f"connected instagram/acme (account {IG_USER})" in out
    record = store().get("instagram", "acme")
    assert record is not None and record.connected and record.account["username"] == "acme.studio"
    assert record.credentials["access_token"].startswith(
        "sbx-ll-"
    )  # the long-lived token replaced the short one
    assert "refresh_token" not in record.credentials
    assert record.token_expires_at is not None
    lifetime = datetime.fromisoformat(record.token_expires_at) - datetime.now(UTC)
    assert timedelta(days=59) < lifetime <= timedelta(days=60)
    assert space.sandbox is not None
    exchange = [r for r in space.sandbox.requests("instagram") if r["path"] == "/access_token"]
    assert [(r["method"], r["query"]["grant_type"], r["query"]["client_secret"]) for r in exchange] == [
        ("GET", "ig_exchange_token", "***")
    ]
    token_form = dict(
        next(r for r in space.sandbox.requests("instagram") if r["path"] == "/oauth/token")["form"]
    )
    assert token_form["grant_type"] == "authorization_code" and token_form["client_id"] == "990602627938098"

    done = sync(space, "acme")
    assert done.returncode == 0, done.stderr
    assert space.query(
        "SELECT id, username, display_name, followers_count, following_count, posts_count FROM social_accounts"
    ) == [(IG_USER, "acme.studio", "Acme Studio", 12874, 311, 5)]
    posts = space.query(
        "SELECT id, account_id, media_type, like_count, comment_count, published_at FROM social_posts ORDER BY published_at DESC"
    )
    assert [p[:5] for p in posts] == [
        ("18027939643230671", IG_USER, "feed", 412, 23),
        ("17913374288098213", IG_USER, "reels", 2380, 141),
        ("18049102265110498", IG_USER, "feed", 968, 57),
        ("17989226717767342", IG_USER, "feed", 205, 9),
        ("18311524891063357", IG_USER, "reels", 1733, 88),
    ]
    assert posts[0][5] == datetime(2025, 6, 3, 9, 15, 2, tzinfo=UTC)
    media_pages = [r for r in space.sandbox.requests("instagram") if r["path"] == "/v23.0/me/media"]
    # 2 a page: 3 pages, read for the posts and again as the insights' parent; cursors followed
    assert (
        len(media_pages) == 6
        and "after" not in media_pages[0]["query"]
        and "after" in media_pages[1]["query"]
    )
    assert media_pages[0]["query"]["fields"].startswith("id,caption,media_type")
    metrics = space.query(
        "SELECT post_id, account_id, metric, value, period FROM social_metrics "
        "WHERE post_id = '17913374288098213' ORDER BY metric"
    )
    assert metrics == [
        ("17913374288098213", IG_USER, m, float(v), "lifetime")
        for m, v in [
            ("comments", 141),
            ("likes", 2380),
            ("reach", 21437),
            ("saved", 198),
            ("shares", 119),
            ("views", 33323),
        ]
    ]
    assert space.query("SELECT count(*), count(DISTINCT post_id) FROM social_metrics") == [(30, 5)]
    insights = [r for r in space.sandbox.requests("instagram") if r["path"].endswith("/insights")]
    assert {r["query"]["metric"] for r in insights} == {"reach,likes,comments,saved,shares,views"}


def test_the_long_lived_token_is_refreshed_before_it_lapses_and_an_expired_one_disconnects(
    space: Workspace,
) -> None:
    connect(space, "acme")
    control = store()
    first = control.get("instagram", "acme")
    assert first is not None
    soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()  # within the 10-day buffer
    control.db.execute("UPDATE connections SET token_expires_at = ? WHERE connector = 'instagram'", [soon])
    done = sync(space, "acme")
    assert done.returncode == 0, done.stderr
    refreshed = control.get("instagram", "acme")
    assert refreshed is not None and refreshed.connected
    assert refreshed.credentials["access_token"] != first.credentials["access_token"]
    assert datetime.fromisoformat(refreshed.token_expires_at or "") > datetime.now(UTC) + timedelta(days=59)
    assert space.sandbox is not None
    (call,) = [r for r in space.sandbox.requests("instagram") if r["path"] == "/refresh_access_token"]
    assert call["method"] == "GET" and call["query"] == {
        "grant_type": "ig_refresh_token",
        "access_token": "***",
    }
    assert first.credentials["access_token"] not in done.stdout + done.stderr

    space.sandbox.expire_access_tokens("instagram")  # lapsed: Instagram cannot refresh it
    done = sync(space, "acme")
    assert done.returncode != 0
    broken = control.get("instagram", "acme")
    assert broken is not None and not broken.connected and "refresh" in (broken.last_error or "")


def meta_signed(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def test_webhooks_handshake_and_signed_comments_queue_a_media_sync(
    space: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSTAGRAM_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("INSTAGRAM_CLIENT_ID", "990602627938098")
    connect(space, "acme")  # the account the event names is this connection's
    comment = {
        "object": "instagram",
        "entry": [{"id": IG_USER, "time": 1749416383, "changes": [{"field": "comments", "value": {
            "from": {"id": "1790021734561234", "username": "potterypal"},
            "media": {"id": "18027939643230671", "media_product_type": "FEED"},
            "id": "17865799348089039", "text": "Love the teal!"}}]}],
    }  # fmt: skip
    body = json.dumps(comment).encode()
    settings = settings_for(tmp_path, space.connectors, control_url=os.environ["MANIFOLD_CONTROL_URL"])
    with running_service(settings) as running, running.client() as client:
        challenge = client.get(
            "/webhooks/instagram",
            params={
                "hub.mode": "subscribe",
                "hub.challenge": "8214",
                "hub.verify_token": ENV["INSTAGRAM_VERIFY_TOKEN"],
            },
        )
        assert (challenge.status_code, challenge.text) == (200, "8214")
        assert (
            client.post(
                "/webhooks/instagram",
                content=body,
                headers={**meta_signed(body), "X-Hub-Signature-256": "sha256=" + "0" * 64},
            ).status_code
            == 401
        )
        assert client.post("/webhooks/instagram", content=body, headers=meta_signed(body)).status_code == 200
    done = space.cli("apply-events", env=env(space))
    assert done.returncode == 0, done.stderr
    assert "1 sync(s) queued" in done.stdout
    (queued,) = SyncRequests(ControlDB(os.environ["MANIFOLD_CONTROL_URL"])).queued()
    assert queued.connector == "instagram" and sorted(queued.streams) == ["media", "media_insights"]
    assert queued.connection_id == "acme"
