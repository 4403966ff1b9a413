"""YouTube Data API v3 list calls: `part`, filters, `maxResults` + `pageToken`.

    GET /youtube/v3/playlistItems?part=contentDetails&playlistId=UU1a&maxResults=2
    -> {"kind": "youtube#playlistItemListResponse", "etag": "...", "nextPageToken": "CAIQAA",
        "pageInfo": {"totalResults": 5, "resultsPerPage": 2}, "items": [{"kind": ..., "etag": ...,
        "id": ..., "contentDetails": {...}}, ...]}
    GET /youtube/v3/videos?part=statistics&id=a,b -> the videos a and b, each with `statistics`

`part` is required, and each item carries only the parts asked for (plus kind, etag, id).
Options: `kind` (the response kind), `filters` (query parameter -> record path; a request
with the parameter keeps the records whose path equals it, e.g. {playlistId: snippet.playlistId};
`id` takes a comma-separated list), `max_ids` (50: more ids in one `id` parameter are refused;
the Data API answers at most 50 items per request), `default_page_size` (5), `max_page_size` (50).
"""

from __future__ import annotations

from typing import Any, ClassVar

from engine.paths import compile_path
from engine.sandbox.messages import Call, Reply, json_reply
from engine.sandbox.protocols.base import BadRequest, Protocol, b64decode, b64encode, int_param
from engine.sandbox.store import Snapshot

_ALWAYS = ("kind", "etag", "id")


class YouTubeList(Protocol):
    name = "youtube_list"
    error_style = "google"
    defaults: ClassVar[dict[str, Any]] = {
        "kind": None,
        "filters": {},
        "max_ids": 50,
        "default_page_size": 5,
        "max_page_size": 50,
    }

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        filters = self.options["filters"]
        if not isinstance(filters, dict):
            raise ValueError("option filters must map query parameters to record paths")
        self._filters = {param: compile_path(str(path)) for param, path in filters.items()}

    def handle(self, call: Call, data: Snapshot) -> Reply:
        query = call.query
        part = query.get("part")
        if not part:
            raise BadRequest("No filter selected. Expected one of: part", code="required", param="part")
        parts = {p.strip() for p in part.split(",") if p.strip()}
        records = [e.record for e in data.live if isinstance(e.record, dict)]
        for param, get in self._filters.items():
            if param not in query:
                continue
            wanted = query[param].split(",") if param == "id" else [query[param]]
            if param == "id" and len(wanted) > self.options["max_ids"]:
                raise BadRequest(
                    f"The request specifies {len(wanted)} ids; at most {self.options['max_ids']} are allowed.",
                    code="invalidParameter",
                    param="id",
                )
            records = [r for r in records if str(get(r)) in wanted]
        size = int_param(query, "maxResults", self.options["default_page_size"], low=0)
        if size > self.options["max_page_size"]:
            raise BadRequest(
                f"Invalid value for maxResults: at most {self.options['max_page_size']}.",
                code="invalidParameter",
                param="maxResults",
            )
        start = 0
        token = query.get("pageToken")
        if token:
            text = b64decode(token)
            if text is None or not text.startswith("o") or not text[1:].isdigit():
                raise BadRequest("The request specifies an invalid page token.", code="invalidPageToken")
            start = int(text[1:])
        if "id" in query:  # maxResults does not apply to an id list: every match at once
            page, start, size = records, 0, len(records)
        else:
            page = records[start : start + size]
        body: dict[str, Any] = {"kind": self.options["kind"], "etag": f"sbx-{data.version}"}
        if start + size < len(records):
            body["nextPageToken"] = b64encode(f"o{start + size}")
        if start > 0:
            body["prevPageToken"] = b64encode(f"o{max(start - size, 0)}")
        body["pageInfo"] = {"totalResults": len(records), "resultsPerPage": size}
        body["items"] = [{k: v for k, v in r.items() if k in _ALWAYS or k in parts} for r in page]
        return json_reply(body)
