"""TikTok API v2 (Display API): the video list's POST body cursor."""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

import orjson

from engine.sandbox.messages import Call, Reply
from engine.sandbox.protocols.base import BadRequest, Protocol, int_param
from engine.sandbox.store import Snapshot


class TikTokVideoList(Protocol):
    """`POST /v2/video/list/?fields=id,create_time,...` with a JSON body `{"cursor", "max_count"}`.

    POST /v2/video/list/?fields=id,title,create_time   {"max_count": 2}
    -> {"data": {"videos": [{...}, {...}], "cursor": 1717411502000, "has_more": true},
        "error": {"code": "ok", "message": "", "log_id": "20250603..."}}

    Videos come newest first (by `create_time`, unix seconds). The cursor is a unix time in
    milliseconds: the next page holds the videos created before it. `max_count` 1..20 (default
    10); more, or no `fields`, is 400 {"error": {"code": "invalid_params", ...}}. Only the
    requested fields of each video are returned. Option `page_cap` (20): at most this many videos
    a page, whatever `max_count` asks (TikTok may return fewer), to make short pages.
    """

    name = "tiktok_video_list"
    error_style = "tiktok"
    defaults: ClassVar[dict[str, Any]] = {"page_cap": 20}

    def handle(self, call: Call, data: Snapshot) -> Reply:
        fields = [f for f in call.query.get("fields", "").split(",") if f]
        if not fields:
            raise BadRequest("fields is required", param="fields")
        body: Any = call.body if call.body is not None else {}
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        size = min(int_param(body, "max_count", 10, high=20), int(self.options["page_cap"]))
        cursor = body.get("cursor")
        if cursor is not None and (isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0):
            raise BadRequest(f"Invalid cursor: {cursor}", param="cursor")
        videos = [e.record for e in data.live if isinstance(e.record, dict)]
        if cursor is not None:
            videos = [v for v in videos if int(v.get("create_time", 0)) * 1000 < cursor]
        page, rest = videos[:size], videos[size:]
        answer = {
            "data": {
                "videos": [{k: v[k] for k in fields if k in v} for v in page],
                "cursor": int(page[-1]["create_time"]) * 1000 if page else (cursor or 0),
                "has_more": bool(rest),
            },
            "error": {"code": "ok", "message": "", "log_id": "2025" + secrets.token_hex(14).upper()},
        }
        return Reply(200, orjson.dumps(answer))
