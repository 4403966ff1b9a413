"""TikTok end to end: Login Kit through the sandbox's OAuth server (client_key, comma-separated
scopes, form-encoded token endpoint, open_id kept), user info and the POST-body-cursor video list
into DuckDB, rotating refresh tokens (the latest always kept), and TikTok-Signature webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from engine.control import ConnectionStore, ControlDB, Vault
from engine.control.sync_requests import SyncRequests

from .conftest import ROOT, Workspace
from .web_support import running_service, settings_for

OPEN_ID = "-000ZcdBfLsYqVa4tEeEiFpCKu3NB4ewMMBK"
CLIENT_KEY = "sbxawq6n1tkclient"
SECRET = "sandbox-tiktok-client-secret-3f9a"


@pytest.fixture
def space(workspace: Workspace, secret_key: str, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("TIKTOK_INTEGRATION_ENABLED", "true")
    workspace.start_sandbox()
    return workspace


def env(space: Workspace) -> dict[str, str]:
    return space.env(MANIFOLD_SECRET_KEY=os.environ["MANIFOLD_SECRET_KEY"])


def store() -> ConnectionStore:
    db = ControlDB(os.environ["MANIFOLD_CONTROL_URL"])
    return ConnectionStore(db, Vault([os.environ["MANIFOLD_SECRET_KEY"]]))


def connect(space: Workspace, connection: str) -> tuple[str, str]:
    assert space.sandbox is not None
    command = [sys.executable, "-m", "engine.cli", "connect", "tiktok", "--connection", connection,
               "--sandbox-url", space.sandbox.url, "--timeout", "30"]  # fmt: skip
    process = subprocess.Popen(
        command, env=env(space), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Open this URL to connect TikTok")
        url = process.stdout.readline().strip()
        page = httpx.get(url, follow_redirects=True, timeout=10)
        assert page.status_code == 200, page.text
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    return url, out


def sync(space: Workspace, connection: str) -> subprocess.CompletedProcess[str]:
    assert space.sandbox is not None
    url = space.sandbox.url
    return space.cli("sync", "tiktok", "--connection", connection, "--sandbox-url", url, env=env(space))


def test_login_kit_connects_with_client_key_and_syncs_user_and_videos(space: Workspace) -> None:
    url, out = connect(space, "studio")
    query = dict(httpx.URL(url).params)
    assert query["client_key"] == CLIENT_KEY and "client_id" not in query
    assert query["scope"] == "user.info.basic,user.info.stats,video.list"
    assert f"connected tiktok/studio (account {OPEN_ID})" in out
    assert space.sandbox is not None
    (token,) = [r for r in space.sandbox.requests("tiktok") if r["path"] == "/oauth/token"]
    assert token["headers"]["content-type"] == "application/x-www-form-urlencoded"
    form = dict(token["form"])
    assert form["client_key"] == CLIENT_KEY and form["client_secret"] == "***"
    assert form["grant_type"] == "authorization_code"

    done = sync(space, "studio")
    assert done.returncode == 0, done.stderr
    assert space.query(
        "SELECT id, display_name, followers_count, following_count, likes_count, posts_count FROM social_accounts"
    ) == [(OPEN_ID, "Acme Studio", 48210, 127, 905344, 5)]
    posts = space.query(
        "SELECT id, media_type, title, duration_seconds, like_count, view_count, published_at, permalink "
        "FROM social_posts ORDER BY published_at DESC"
    )
    assert [p[0] for p in posts] == [
        "7511235880231120150",
        "7509012345678901249",
        "7506543210987654148",
        "7503216549873210147",
        "7500123456789012346",
    ]
    assert posts[1][1:7] == (
        "video",
        "40cm vase, one take",
        58.0,
        40211,
        612093,
        datetime.fromtimestamp(1748440811, UTC),
    )
    assert posts[1][7] == "https://www.tiktok.com/@acme.studio/video/7509012345678901249"
    pages = [r for r in space.sandbox.requests("tiktok") if r["path"] == "/v2/video/list/"]
    assert [r["body"] for r in pages] == [
        {"max_count": 20},
        {"max_count": 20, "cursor": 1748440811000},
        {"max_count": 20, "cursor": 1746952245000},
    ]
    assert all(
        r["method"] == "POST" and r["query"]["fields"].startswith("id,create_time,title") for r in pages
    )
    (info,) = [r for r in space.sandbox.requests("tiktok") if r["path"] == "/v2/user/info/"]
    assert info["query"]["fields"].split(",")[:4] == ["open_id", "union_id", "avatar_url", "display_name"]


def test_rotating_refresh_tokens_are_replaced_by_the_latest(space: Workspace) -> None:
    connect(space, "studio")
    control = store()
    first = control.get("tiktok", "studio")
    assert first is not None and first.credentials["refresh_token"]
    assert space.sandbox is not None
    for _ in range(2):  # every sync after an expiry refreshes once, and stores the new refresh token
        space.sandbox.expire_access_tokens("tiktok")
        done = sync(space, "studio")
        assert done.returncode == 0, done.stderr
    latest = control.get("tiktok", "studio")
    assert latest is not None and latest.connected
    assert latest.credentials["refresh_token"] not in (first.credentials["refresh_token"],)
    refreshes = [dict(r["form"]) for r in space.sandbox.requests("tiktok") if r["path"] == "/oauth/token"][1:]
    assert [f["grant_type"] for f in refreshes] == ["refresh_token", "refresh_token"]
    assert all(f["client_key"] == CLIENT_KEY for f in refreshes)


def tiktok_signed(body: bytes, t: int, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"TikTok-Signature": f"t={t},s={digest}", "Content-Type": "application/json"}


def test_signed_webhooks_are_stored_once_and_queue_a_video_sync(
    space: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOK_CLIENT_KEY", CLIENT_KEY)
    monkeypatch.setenv("TIKTOK_CLIENT_SECRET", SECRET)
    connect(space, "studio")  # the creator the event names is this connection's
    event = {
        "client_key": CLIENT_KEY,
        "event": "video.publish.completed",
        "create_time": 1749000000,
        "user_openid": OPEN_ID,
        "content": json.dumps(
            {"share_id": "video.6974245311675353080.VDCxrcMJ", "publish_type": "DIRECT_PUBLISH"}
        ),
    }
    body = json.dumps(event).encode()
    now = int(time.time())
    settings = settings_for(tmp_path, space.connectors, control_url=os.environ["MANIFOLD_CONTROL_URL"])
    with running_service(settings) as running, running.client() as client:
        post = lambda headers: client.post("/webhooks/tiktok", content=body, headers=headers).status_code  # noqa: E731
        assert post(tiktok_signed(body, now, "wrong-secret")) == 401
        assert post(tiktok_signed(body, now - 3600)) == 401  # stale: replay protection
        assert post(tiktok_signed(body, now)) == 200
        assert post(tiktok_signed(body, now + 1)) == 200  # TikTok's retry: the same event, stored once
    done = space.cli("apply-events", env=env(space))
    assert done.returncode == 0, done.stderr
    assert "1 applied" in done.stdout and "1 sync(s) queued" in done.stdout
    (queued,) = SyncRequests(ControlDB(os.environ["MANIFOLD_CONTROL_URL"])).queued()
    assert queued.connector == "tiktok" and sorted(queued.streams) == ["user_info", "videos"]
    assert queued.connection_id == "studio"
