"""YouTube end to end over HTTP with the real CLI: connect through the sandbox's OAuth server, then
channels -> uploads playlist pages -> videos.list in batches of at most 50 ids, rows landing in
social_accounts and social_posts with their statistics."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import httpx
import pytest

from engine.sandbox import Sandbox

from .conftest import Workspace

YOUTUBE = "youtube"
CHANNEL = "UCx7Yk2mAcmeStudioPhoto9Q"
UPLOADS = "UUx7Yk2mAcmeStudioPhoto9Q"


def env(space: Workspace) -> dict[str, str]:
    """The CLI's environment, with this test's vault key (never the project's state/secret.key)."""
    return space.env(MANIFOLD_SECRET_KEY=os.environ["MANIFOLD_SECRET_KEY"])


def requests(sandbox: Sandbox, path: str) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests(YOUTUBE) if r["path"] == path]


@pytest.fixture
def space(workspace: Workspace, secret_key: str) -> Workspace:
    sandbox = workspace.start_sandbox()
    process = workspace.popen(
        "connect",
        YOUTUBE,
        "--connection",
        "maya",
        "--sandbox-url",
        sandbox.url,
        "--timeout",
        "30",
        env=env(workspace),
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("Open this URL to connect YouTube (maya)")
        url = process.stdout.readline().strip()
        assert "youtube.readonly" in url and "access_type=offline" in url and "code_challenge=" in url
        assert httpx.get(url, follow_redirects=True, timeout=10).status_code == 200
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert f"connected youtube/maya (account {CHANNEL})" in out
    sandbox.clear_requests()
    return workspace


def sync(space: Workspace, *extra: str) -> None:
    assert space.sandbox is not None
    done = space.cli(
        "sync", YOUTUBE, "--connection", "maya", "--sandbox-url", space.sandbox.url, *extra, env=env(space)
    )
    assert done.returncode == 0, done.stderr + done.stdout


def add_uploads(sandbox: Sandbox, count: int) -> list[str]:
    """`count` more uploads: playlist items and their videos, shaped like the fixture's."""
    item = sandbox.records(YOUTUBE, "/youtube/v3/playlistItems")[0]
    video = sandbox.records(YOUTUBE, "/youtube/v3/videos")[0]
    ids = []
    for n in range(count):
        video_id = f"Xtra{n:03d}vidQ"
        ids.append(video_id)
        new_item = copy.deepcopy(item)
        new_item["id"] = f"VVV4extra{n:03d}"
        new_item["contentDetails"]["videoId"] = video_id
        new_item["snippet"]["resourceId"]["videoId"] = video_id
        sandbox.upsert(YOUTUBE, "/youtube/v3/playlistItems", new_item)
        new_video = copy.deepcopy(video)
        new_video["id"] = video_id
        new_video["snippet"]["title"] = f"Extra clip {n}"
        new_video["statistics"] = {"viewCount": str(n * 10), "likeCount": str(n), "commentCount": "1"}
        sandbox.upsert(YOUTUBE, "/youtube/v3/videos", new_video)
    return ids


def test_channels_uploads_videos_with_statistics(space: Workspace) -> None:
    sandbox = space.sandbox
    assert sandbox is not None
    sync(space)
    channels = requests(sandbox, "/youtube/v3/channels")  # its own stream, then as the uploads' parent
    assert len(channels) == 2 and all(c["query"]["mine"] == "true" for c in channels)
    assert channels[0]["query"]["part"] == "snippet,statistics,contentDetails"
    pages = requests(sandbox, "/youtube/v3/playlistItems")
    assert len(pages) == 2 and all(p["query"]["playlistId"] == UPLOADS for p in pages)  # 6 items, 4 a page
    assert "pageToken" in pages[1]["query"]
    (videos,) = requests(sandbox, "/youtube/v3/videos")
    assert len(videos["query"]["id"].split(",")) == 6

    assert space.query(
        "SELECT id, username, display_name, followers_count, posts_count, views_count, profile_url, _provider "
        "FROM social_accounts"
    ) == [
        (
            CHANNEL,
            "acmestudio",
            "Acme Studio",
            12400,
            6,
            1843920,
            f"https://www.youtube.com/channel/{CHANNEL}",
            "youtube",
        )
    ]
    rows = space.query(
        "SELECT id, account_id, title, view_count, like_count, comment_count, duration_seconds, permalink, "
        "media_type, hashtags FROM social_posts ORDER BY published_at"
    )
    assert len(rows) == 6 and {r[1] for r in rows} == {CHANNEL}
    first = rows[0]
    assert first[:7] == ("dQ4kRooftopA1", CHANNEL, "Rooftop shoot: behind the scenes", 1037, 53, 4, 501.0)
    assert first[7] == "https://www.youtube.com/watch?v=dQ4kRooftopA1" and first[8] == "video"
    assert list(first[9]) == ["photography"]
    assert dict((r[0], r[6]) for r in rows)["Ed2ContactShE"] == 3750.0  # PT1H2M30S


def test_sixty_plus_uploads_are_read_in_batches_of_fifty(space: Workspace) -> None:
    sandbox = space.sandbox
    assert sandbox is not None
    extra = add_uploads(sandbox, 58)  # 64 uploads in all
    sandbox.clear_requests()
    sync(space, "--config", json.dumps({"page_size": 50}))
    assert len(requests(sandbox, "/youtube/v3/playlistItems")) == 2  # 50 + 14
    batches = [r["query"]["id"].split(",") for r in requests(sandbox, "/youtube/v3/videos")]
    assert sorted(len(b) for b in batches) == [14, 50]
    assert all(r["status"] == 200 for r in requests(sandbox, "/youtube/v3/videos"))
    seen = [video for batch in batches for video in batch]
    assert len(seen) == len(set(seen)) == 64 and set(extra) <= set(seen)
    assert space.query("SELECT count(*), sum(view_count) FROM social_posts") == [
        (64, sum(1000 * (i + 1) + 37 for i in range(6)) + sum(n * 10 for n in range(58)))
    ]
    assert space.query("SELECT like_count FROM social_posts WHERE id = 'Xtra057vidQ'") == [(57,)]
    # quota: 2 (channels, twice) + 2 (playlistItems pages) + 2 (videos batches) units
    assert len(sandbox.requests(YOUTUBE)) == 6
