"""Pagination strategies on provider-shaped pages, the loop guard, and end-to-end runs
against fake multi-page providers behind `httpx.MockTransport`."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, get_args

import httpx
import pytest
from pydantic import TypeAdapter

from engine.errors import PagingError
from engine.pages import Page, RequestPatch
from engine.pagination import (
    PAGINATORS,
    BodyCursorPaginator,
    LinkHeaderPaginator,
    PageGuard,
    Paginator,
    build_paginator,
    parse_link_header,
)
from engine.paths import get_path
from engine.spec.models import PagingSpec

_specs: TypeAdapter[Any] = TypeAdapter(PagingSpec)


def paginator(**spec: Any) -> Paginator:
    return build_paginator(_specs.validate_python(spec))


def page(
    body: Any = None,
    records: list[Any] | None = None,
    *,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    url: str = "https://api.example.com/v1/items",
    number: int = 1,
) -> Page:
    return Page(
        url=url,
        status=200,
        headers=httpx.Headers(headers or {}),
        body=body,
        records=records or [],
        number=number,
    )


# ---------------------------------------------------------------- registry


def test_registry_has_a_strategy_for_every_paging_type() -> None:
    members = get_args(get_args(PagingSpec)[0])
    types = {get_args(member.model_fields["type"].annotation)[0] for member in members}
    assert types == set(PAGINATORS)


def test_build_paginator_picks_the_class_for_the_yaml_type() -> None:
    assert isinstance(paginator(type="body_cursor", cursor="next", param="cursor"), BodyCursorPaginator)
    assert isinstance(paginator(type="link_header"), LinkHeaderPaginator)


def test_no_paging_reads_one_page() -> None:
    none = paginator(type="none")
    assert none.first() == RequestPatch()
    assert none.next(RequestPatch(), page({"data": [1]}, [1])) is None


# ---------------------------------------------------------------- body_cursor (Slack)

SLACK = {"type": "body_cursor", "cursor": "response_metadata.next_cursor", "param": "cursor"}


def slack_channels(next_cursor: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ok": True,
        "channels": [{"id": "C012AB3CD", "name": "general", "is_channel": True}],
    }
    if next_cursor is not None:
        body["response_metadata"] = {"next_cursor": next_cursor}
    return body


def test_body_cursor_sends_the_slack_cursor_and_keeps_other_params() -> None:
    slack = paginator(**SLACK)
    assert slack.first() == RequestPatch()
    current = RequestPatch(params={"limit": 200, "cursor": "old"})
    body = slack_channels("dGVhbTpDMDYxRkE1UEI=")
    assert slack.next(current, page(body, body["channels"])) == RequestPatch(
        params={"limit": 200, "cursor": "dGVhbTpDMDYxRkE1UEI="}
    )


@pytest.mark.parametrize("next_cursor", ["", None])
def test_body_cursor_stops_on_an_empty_or_missing_cursor(next_cursor: str | None) -> None:
    body = slack_channels(next_cursor)
    assert paginator(**SLACK).next(RequestPatch(), page(body, body["channels"])) is None


def test_body_cursor_stops_when_more_is_false_even_with_a_cursor() -> None:
    body: dict[str, Any] = {"items": [{"id": 1}], "meta": {"cursor": "abc", "has_more": False}}
    strategy = paginator(type="body_cursor", cursor="meta.cursor", param="cursor", more="meta.has_more")
    assert strategy.next(RequestPatch(), page(body, body["items"])) is None
    body["meta"]["has_more"] = True
    assert strategy.next(RequestPatch(), page(body, body["items"])) == RequestPatch(params={"cursor": "abc"})


# ---------------------------------------------------------------- last_record_cursor (Stripe)

STRIPE = {"type": "last_record_cursor", "param": "starting_after", "field": "id", "more": "has_more"}


def stripe_list(ids: list[str], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "url": "/v1/customers",
        "has_more": has_more,
        "data": [{"id": i, "object": "customer", "created": 1680000000} for i in ids],
    }


def test_last_record_cursor_sends_the_last_stripe_id_and_keeps_other_params() -> None:
    stripe = paginator(**STRIPE)
    assert stripe.first() == RequestPatch()
    body = stripe_list(["cus_NffrFeUfNV2Hib", "cus_NffrFeUfNV2Hic"], has_more=True)
    current = RequestPatch(params={"limit": 100, "starting_after": "cus_older"})
    assert stripe.next(current, page(body, body["data"])) == RequestPatch(
        params={"limit": 100, "starting_after": "cus_NffrFeUfNV2Hic"}
    )


def test_last_record_cursor_stops_on_a_page_with_records_but_has_more_false() -> None:
    body = stripe_list(["cus_1", "cus_2"], has_more=False)
    assert paginator(**STRIPE).next(RequestPatch(), page(body, body["data"])) is None


def test_last_record_cursor_stops_on_an_empty_page() -> None:
    body = stripe_list([], has_more=True)
    assert paginator(**STRIPE).next(RequestPatch(), page(body, [])) is None


def test_last_record_cursor_fails_loudly_when_the_last_record_has_no_field() -> None:
    body: dict[str, Any] = {"has_more": True, "data": [{"id": "cus_1"}, {"name": "no id"}]}
    with pytest.raises(PagingError, match="no 'id' to page on"):
        paginator(**STRIPE).next(RequestPatch(), page(body, body["data"], number=3))


# ---------------------------------------------------------------- page_token (Google)


def google_events(next_page_token: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "calendar#events",
        "summary": "team@example.com",
        "items": [{"kind": "calendar#event", "id": "7kq5h1", "status": "confirmed"}],
    }
    if next_page_token is None:
        body["nextSyncToken"] = "CPDAlvWDx70CEPDAlvWDx70CGAU="
    else:
        body["nextPageToken"] = next_page_token
    return body


def test_page_token_sends_google_next_page_token_and_keeps_other_params() -> None:
    google = paginator(type="page_token")
    assert google.first() == RequestPatch()
    body = google_events("CigKGjRjZmJwcTlmNnRhZjA2")
    current = RequestPatch(params={"maxResults": 250, "singleEvents": True, "pageToken": "older"})
    assert google.next(current, page(body, body["items"])) == RequestPatch(
        params={"maxResults": 250, "singleEvents": True, "pageToken": "CigKGjRjZmJwcTlmNnRhZjA2"}
    )


def test_page_token_stops_on_the_last_page_which_carries_only_a_sync_token() -> None:
    body = google_events(None)
    assert paginator(type="page_token").next(RequestPatch(), page(body, body["items"])) is None
    body["nextPageToken"] = ""
    assert paginator(type="page_token").next(RequestPatch(), page(body, body["items"])) is None


# ---------------------------------------------------------------- next_url (Graph, PayPal)


def graph_posts(next_url: str | None) -> dict[str, Any]:
    paging: dict[str, Any] = {"cursors": {"before": "QVFIUmx1WTBp", "after": "QVFIUkRtNXZA"}}
    if next_url:
        paging["next"] = next_url
    return {"data": [{"id": "1234_5678", "message": "hello"}], "paging": paging}


def test_next_url_follows_graph_paging_next_with_no_params_of_its_own() -> None:
    graph = paginator(type="next_url", path="paging.next")
    assert graph.first() == RequestPatch()
    url = "https://graph.facebook.com/v19.0/me/posts?limit=25&after=QVFIUkRtNXZA"
    body = graph_posts(url)
    patch = graph.next(RequestPatch(params={"limit": 25}), page(body, body["data"]))
    assert patch == RequestPatch(url=url)
    assert patch is not None and patch.params == {} and patch.json == {}


def test_next_url_stops_when_graph_sends_no_next() -> None:
    body = graph_posts(None)
    assert (
        paginator(type="next_url", path="paging.next").next(RequestPatch(), page(body, body["data"])) is None
    )


def paypal_invoices(page_number: int, last: bool) -> dict[str, Any]:
    base = "https://api-m.paypal.com/v2/invoicing/invoices"
    links = [{"href": f"{base}?page={page_number}&page_size=20", "rel": "self", "method": "GET"}]
    if page_number > 1:
        links.append({"href": f"{base}?page={page_number - 1}&page_size=20", "rel": "prev", "method": "GET"})
    if not last:
        links.append({"href": f"{base}?page={page_number + 1}&page_size=20", "rel": "next", "method": "GET"})
    return {
        "total_items": 45,
        "total_pages": 3,
        "items": [{"id": "INV2-Z56S-5LLA-Q52L-CPZ5", "status": "SENT"}],
        "links": links,
    }


def test_next_url_follows_paypal_hateoas_next_link() -> None:
    paypal = paginator(type="next_url", path="links[rel=next].href")
    body = paypal_invoices(1, last=False)
    assert paypal.next(RequestPatch(), page(body, body["items"])) == RequestPatch(
        url="https://api-m.paypal.com/v2/invoicing/invoices?page=2&page_size=20"
    )
    last = paypal_invoices(3, last=True)
    assert paypal.next(RequestPatch(), page(last, last["items"])) is None


def test_next_url_resolves_a_relative_next_against_the_page_url() -> None:
    body: dict[str, Any] = {"results": [{"id": 1}], "next": "/api/v2/items?cursor=b2Zmc2V0PTEwMA"}
    patch = paginator(type="next_url", path="next").next(
        RequestPatch(), page(body, body["results"], url="https://shop.example.com/api/v2/items?limit=100")
    )
    assert patch == RequestPatch(url="https://shop.example.com/api/v2/items?cursor=b2Zmc2V0PTEwMA")


# ---------------------------------------------------------------- link_header (GitHub)

GITHUB_LINK = (
    '<https://api.github.com/repositories/1300192/issues?per_page=30&page=2>; rel="prev", '
    '<https://api.github.com/repositories/1300192/issues?per_page=30&page=4>; rel="next", '
    '<https://api.github.com/repositories/1300192/issues?per_page=30&page=5>; rel="last", '
    '<https://api.github.com/repositories/1300192/issues?per_page=30&page=1>; rel="first"'
)


def test_link_header_follows_githubs_next_link() -> None:
    github = paginator(type="link_header")
    assert github.first() == RequestPatch()
    patch = github.next(
        RequestPatch(params={"per_page": 30}), page([{"id": 1}], [{"id": 1}], headers={"Link": GITHUB_LINK})
    )
    assert patch == RequestPatch(url="https://api.github.com/repositories/1300192/issues?per_page=30&page=4")


def test_link_header_stops_on_githubs_last_page_which_has_no_next() -> None:
    last = (
        '<https://api.github.com/repositories/1300192/issues?page=4>; rel="prev", '
        '<https://api.github.com/repositories/1300192/issues?page=1>; rel="first"'
    )
    assert (
        paginator(type="link_header").next(RequestPatch(), page([], [{"id": 1}], headers={"Link": last}))
        is None
    )
    assert paginator(type="link_header").next(RequestPatch(), page([], [{"id": 1}])) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("<https://x.test/?p=2>; rel=next", {"next": "https://x.test/?p=2"}),
        (
            '<https://x.test/?p=9>; rel="next last"',
            {"next": "https://x.test/?p=9", "last": "https://x.test/?p=9"},
        ),
        ('<https://x.test/a,b?p=2> ;REL="Next"', {"next": "https://x.test/a,b?p=2"}),
        ('<https://x.test/?p=2>; title="a, b; c"; rel="next"', {"next": "https://x.test/?p=2"}),
        ('<https://x.test/?p=2>; rel="next"; rel="last"', {"next": "https://x.test/?p=2"}),
        (
            '<https://x.test/?p=1>; rel="prev", <https://x.test/?p=3>; rel="next"',
            {"prev": "https://x.test/?p=1", "next": "https://x.test/?p=3"},
        ),
        ("", {}),
    ],
)
def test_parse_link_header_handles_rfc_8288_forms(header: str, expected: dict[str, str]) -> None:
    assert parse_link_header(header) == expected


def test_link_header_reads_several_link_headers_a_custom_rel_and_relative_uris() -> None:
    headers = [("Link", '</items?page=1>; rel="prev"'), ("Link", '</items?page=3>; rel="next-page"')]
    patch = paginator(type="link_header", rel="next-page").next(
        RequestPatch(), page([], [{"id": 1}], headers=headers, url="https://api.example.com/items?page=2")
    )
    assert patch == RequestPatch(url="https://api.example.com/items?page=3")


# ---------------------------------------------------------------- offset


def test_offset_first_page_and_advance_by_records_received() -> None:
    offset = paginator(type="offset", offset_param="startAt", limit_param="maxResults", limit=50)
    assert offset.first() == RequestPatch(params={"startAt": 0, "maxResults": 50})
    records = [{"id": i} for i in range(50)]
    current = RequestPatch(params={"startAt": 37, "maxResults": 50, "jql": "project=OPS"})
    assert offset.next(current, page({"issues": records}, records)) == RequestPatch(
        params={"startAt": 87, "maxResults": 50, "jql": "project=OPS"}
    )


@pytest.mark.parametrize("received", [0, 99])
def test_offset_stops_on_an_empty_or_short_page(received: int) -> None:
    records = [{"id": i} for i in range(received)]
    assert (
        paginator(type="offset").next(RequestPatch(params={"offset": 0, "limit": 100}), page({}, records))
        is None
    )


def test_offset_stops_at_the_total_without_an_extra_request() -> None:
    offset = paginator(type="offset", total="total")
    records = [{"id": i} for i in range(100)]
    at_100 = RequestPatch(params={"offset": 100, "limit": 100})
    assert offset.next(at_100, page({"total": 200}, records)) is None
    assert offset.next(at_100, page({"total": "201"}, records)) == RequestPatch(
        params={"offset": 200, "limit": 100}
    )
    with pytest.raises(PagingError, match="not a number"):
        offset.next(at_100, page({"total": "many"}, records))


def test_offset_past_a_server_side_page_cap_until_the_total() -> None:
    """DocuSign may answer fewer than `count` asks: with short_page_ends off, the total decides."""
    capped = paginator(
        type="offset",
        offset_param="start_position",
        limit_param="count",
        total="totalSetSize",
        short_page_ends=False,
    )
    two = [{"envelopeId": "a"}, {"envelopeId": "b"}]
    at_2 = RequestPatch(params={"start_position": 2, "count": 100})
    assert capped.next(at_2, page({"totalSetSize": "5"}, two)) == RequestPatch(
        params={"start_position": 4, "count": 100}
    )
    assert capped.next(at_2, page({"totalSetSize": "4"}, two)) is None
    assert capped.next(at_2, page({"totalSetSize": "5"}, [])) is None
    # without a total there is nothing else to stop on: a short page still ends it
    untotalled = paginator(type="offset", short_page_ends=False)
    assert untotalled.next(RequestPatch(params={"offset": 0, "limit": 100}), page({}, two)) is None


# ---------------------------------------------------------------- page_number


def test_page_number_first_page_with_and_without_a_size_param() -> None:
    assert paginator(type="page_number", size_param="per_page", size=50).first() == RequestPatch(
        params={"page": 1, "per_page": 50}
    )
    assert paginator(type="page_number", start=0).first() == RequestPatch(params={"page": 0})


def test_page_number_advances_and_keeps_other_params() -> None:
    numbered = paginator(type="page_number", size_param="per_page", size=2)
    current = RequestPatch(params={"page": 3, "per_page": 2, "sort": "id"})
    assert numbered.next(current, page({}, [{"id": 1}, {"id": 2}])) == RequestPatch(
        params={"page": 4, "per_page": 2, "sort": "id"}
    )


def test_page_number_stops_on_empty_short_and_last_page() -> None:
    numbered = paginator(type="page_number", size_param="per_page", size=2, total_pages="total_pages")
    two = [{"id": 1}, {"id": 2}]
    assert numbered.next(RequestPatch(params={"page": 1}), page({"total_pages": 3}, [])) is None
    assert numbered.next(RequestPatch(params={"page": 1}), page({"total_pages": 3}, two[:1])) is None
    assert numbered.next(RequestPatch(params={"page": 3}), page({"total_pages": 3}, two)) is None
    assert numbered.next(RequestPatch(params={"page": 2}), page({"total_pages": 3}, two)) is not None


def test_page_number_counts_total_pages_from_a_zero_start() -> None:
    numbered = paginator(type="page_number", start=0, size_param="size", size=1, total_pages="totalPages")
    assert numbered.next(RequestPatch(params={"page": 1}), page({"totalPages": 3}, [{"id": 1}])) is not None
    assert numbered.next(RequestPatch(params={"page": 2}), page({"totalPages": 3}, [{"id": 1}])) is None


def test_page_number_without_a_known_size_does_not_treat_a_smaller_page_as_the_last() -> None:
    # The provider's own default size (say 20) is not our default of 100.
    numbered = paginator(type="page_number")
    twenty = [{"id": i} for i in range(20)]
    assert numbered.next(RequestPatch(params={"page": 1}), page({}, twenty)) == RequestPatch(
        params={"page": 2}
    )
    assert numbered.next(RequestPatch(params={"page": 2}), page({}, [])) is None


# ---------------------------------------------------------------- post_body_cursor (Notion, TikTok)

NOTION = {
    "type": "post_body_cursor",
    "cursor": "next_cursor",
    "body_field": "start_cursor",
    "more": "has_more",
}


def notion_search(next_cursor: str | None, has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "results": [{"object": "page", "id": "be633bf1-dfa0-436d-b259-571129a590e5"}],
        "next_cursor": next_cursor,
        "has_more": has_more,
        "type": "page_or_database",
        "page_or_database": {},
    }


def test_post_body_cursor_sends_notions_cursor_in_the_json_body_keeping_other_fields() -> None:
    notion = paginator(**NOTION)
    assert notion.first() == RequestPatch()
    body = notion_search("fe2cc560-036c-44cd-90e8-294d5a74cebc", has_more=True)
    current = RequestPatch(json={"page_size": 100, "start_cursor": "older"})
    assert notion.next(current, page(body, body["results"])) == RequestPatch(
        json={"page_size": 100, "start_cursor": "fe2cc560-036c-44cd-90e8-294d5a74cebc"}
    )


def test_post_body_cursor_stops_when_has_more_is_false_or_the_cursor_is_null() -> None:
    notion = paginator(**NOTION)
    last = notion_search(None, has_more=False)
    assert notion.next(RequestPatch(), page(last, last["results"])) is None
    odd = notion_search("fe2cc560", has_more=False)
    assert notion.next(RequestPatch(), page(odd, odd["results"])) is None
    no_cursor = notion_search(None, has_more=True)
    assert notion.next(RequestPatch(), page(no_cursor, no_cursor["results"])) is None


def test_post_body_cursor_reads_tiktok_style_nested_cursor() -> None:
    tiktok = paginator(
        type="post_body_cursor", cursor="data.cursor", body_field="cursor", more="data.has_more"
    )
    body: dict[str, Any] = {
        "data": {"videos": [{"id": "7080213458555737986"}], "cursor": 1643332803000, "has_more": True}
    }
    assert tiktok.next(
        RequestPatch(json={"max_count": 20}), page(body, body["data"]["videos"])
    ) == RequestPatch(json={"max_count": 20, "cursor": 1643332803000})
    body["data"]["has_more"] = False
    assert tiktok.next(RequestPatch(), page(body, body["data"]["videos"])) is None


# ---------------------------------------------------------------- checkpoint


def test_a_patch_survives_the_checkpoint_round_trip() -> None:
    stripe = paginator(**STRIPE)
    body = stripe_list(["cus_1", "cus_2"], has_more=True)
    patch = stripe.next(RequestPatch(params={"limit": 2}), page(body, body["data"]))
    assert patch is not None
    restored = RequestPatch.from_dict(json.loads(json.dumps(patch.to_dict())))
    assert restored == patch


# ---------------------------------------------------------------- PageGuard


@pytest.mark.parametrize(
    ("patch", "shown"),
    [
        (RequestPatch(params={"cursor": "abc"}), "paging repeated cursor cursor='abc' on page 3"),
        (RequestPatch(params={"pageToken": "CigKGjRj"}), "pageToken='CigKGjRj'"),
        (RequestPatch(params={"offset": 100, "limit": 100}), "offset=100, limit=100"),
        (RequestPatch(json={"start_cursor": "fe2cc560"}), "start_cursor='fe2cc560'"),
        (
            RequestPatch(url="https://api.github.com/issues?page=2"),
            "repeated next URL 'https://api.github.com/issues?page=2'",
        ),
    ],
)
def test_page_guard_stops_on_a_repeated_patch_of_every_kind(patch: RequestPatch, shown: str) -> None:
    guard = PageGuard(page_cap=1000)
    guard.check(RequestPatch())
    guard.check(patch)
    with pytest.raises(PagingError, match="stopping so the stream cannot loop") as error:
        guard.check(RequestPatch.from_dict(patch.to_dict()))
    assert shown in str(error.value)


def test_page_guard_lets_distinct_patches_through() -> None:
    guard = PageGuard(page_cap=1000)
    for offset in range(0, 1000, 100):
        guard.check(RequestPatch(params={"offset": offset, "limit": 100}))
    guard.check(RequestPatch(url="https://x.test/?page=2"))
    guard.check(RequestPatch(params={"page": 2}))
    assert guard.pages == 12


def test_page_guard_redacts_credentials_in_a_repeated_url() -> None:
    url = "https://graph.facebook.com/v19.0/me/posts?access_token=EAAB-secret&after=QVFI"
    guard = PageGuard(page_cap=10)
    guard.check(RequestPatch(url=url))
    with pytest.raises(PagingError) as error:
        guard.check(RequestPatch(url=url))
    assert "EAAB-secret" not in str(error.value)
    assert "after=QVFI" in str(error.value)


def test_page_guard_enforces_the_page_cap() -> None:
    guard = PageGuard(page_cap=3)
    for n in range(3):
        guard.check(RequestPatch(params={"page": n}))
    with pytest.raises(PagingError, match=r"page cap 3 reached.*raise http.page_cap"):
        guard.check(RequestPatch(params={"page": 3}))


# ---------------------------------------------------------------- end to end via MockTransport

Handler = Callable[[httpx.Request], httpx.Response]


def run_stream(
    strategy: Paginator,
    handler: Handler,
    *,
    path: str,
    records: str,
    method: str = "GET",
    page_cap: int = 100,
) -> tuple[list[Any], int]:
    """A minimal stream driver: first() -> guard -> request -> Page -> next(). Returns records, requests."""
    requests = 0

    def counting(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        return handler(request)

    guard = PageGuard(page_cap)
    out: list[Any] = []
    with httpx.Client(transport=httpx.MockTransport(counting), base_url="https://api.example.com") as client:
        patch: RequestPatch | None = strategy.first()
        number = 1
        while patch is not None:
            guard.check(patch)
            body_json = patch.json if method == "POST" else None
            if patch.url is not None:
                response = client.request(method, patch.url, json=body_json)
            else:
                response = client.request(method, path, params=patch.params, json=body_json)
            body = response.json()
            current = Page(
                url=str(response.url),
                status=response.status_code,
                headers=response.headers,
                body=body,
                records=get_path(body, records),
                number=number,
            )
            out.extend(current.records)
            patch = strategy.next(patch, current)
            number += 1
    return out, requests


IDS = [f"id_{n:03d}" for n in range(237)]


def fake_stripe(request: httpx.Request) -> httpx.Response:
    limit = int(request.url.params.get("limit", 10))
    after = request.url.params.get("starting_after")
    start = IDS.index(after) + 1 if after else 0
    chunk = IDS[start : start + limit]
    return httpx.Response(200, json=stripe_list(chunk, has_more=start + limit < len(IDS)))


def fake_github(request: httpx.Request) -> httpx.Response:
    per_page, number = int(request.url.params.get("per_page", 30)), int(request.url.params.get("page", 1))
    last = (len(IDS) + per_page - 1) // per_page
    links = [f'<{request.url.copy_set_param("page", 1)}>; rel="first"']
    if number < last:
        links.append(f'<{request.url.copy_set_param("page", number + 1)}>; rel="next"')
        links.append(f'<{request.url.copy_set_param("page", last)}>; rel="last"')
    chunk = [{"id": i} for i in IDS[(number - 1) * per_page : number * per_page]]
    return httpx.Response(200, json=chunk, headers={"Link": ", ".join(links)})


def fake_notion(request: httpx.Request) -> httpx.Response:
    sent = json.loads(request.content or b"{}")
    start = IDS.index(sent["start_cursor"]) if "start_cursor" in sent else 0
    chunk = IDS[start : start + 100]
    rest = IDS[start + 100 :]
    return httpx.Response(
        200, json={**notion_search(rest[0] if rest else None, bool(rest)), "results": chunk}
    )


def fake_slack(request: httpx.Request) -> httpx.Response:
    cursor = request.url.params.get("cursor")
    start = int(base64.b64decode(cursor)) if cursor else 0
    end = start + 50
    next_cursor = base64.b64encode(str(end).encode()).decode() if end < len(IDS) else ""
    return httpx.Response(200, json={**slack_channels(next_cursor), "channels": IDS[start:end]})


def fake_offset(request: httpx.Request) -> httpx.Response:
    offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
    return httpx.Response(200, json={"total": len(IDS), "items": IDS[offset : offset + limit]})


def fake_graph(request: httpx.Request) -> httpx.Response:
    after = int(request.url.params.get("after", 0))
    body = graph_posts(None)
    body["data"] = IDS[after : after + 25]
    if after + 25 < len(IDS):
        body["paging"]["next"] = str(request.url.copy_set_param("after", after + 25))
    return httpx.Response(200, json=body)


def fake_pages(request: httpx.Request) -> httpx.Response:
    number, size = int(request.url.params["page"]), int(request.url.params["page_size"])
    pages = (len(IDS) + size - 1) // size
    return httpx.Response(200, json={"total_pages": pages, "items": IDS[(number - 1) * size : number * size]})


@pytest.mark.parametrize(
    ("spec", "handler", "method", "records", "requests"),
    [
        (STRIPE, fake_stripe, "GET", "data", 24),  # first() sends no limit: Stripe's default of 10
        ({"type": "link_header"}, fake_github, "GET", "", 8),
        (NOTION, fake_notion, "POST", "results", 3),
        (SLACK, fake_slack, "GET", "channels", 5),
        ({"type": "offset", "limit": 100, "total": "total"}, fake_offset, "GET", "items", 3),
        ({"type": "next_url", "path": "paging.next"}, fake_graph, "GET", "data", 10),
        (
            {"type": "page_number", "size_param": "page_size", "size": 79, "total_pages": "total_pages"},
            fake_pages,
            "GET",
            "items",
            3,
        ),
    ],
    ids=["stripe", "github", "notion", "slack", "offset", "graph", "page_number"],
)
def test_a_strategy_reads_every_record_of_a_multi_page_provider_exactly_once(
    spec: dict[str, Any], handler: Handler, method: str, records: str, requests: int
) -> None:
    read, made = run_stream(paginator(**spec), handler, path="/v1/items", records=records, method=method)
    ids = [r["id"] if isinstance(r, dict) else r for r in read]
    assert ids == IDS
    assert made == requests


def test_offset_without_a_total_costs_one_empty_request_on_an_exact_multiple() -> None:
    def exact(request: httpx.Request) -> httpx.Response:
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        return httpx.Response(200, json={"items": IDS[:200][offset : offset + limit]})

    read, made = run_stream(paginator(type="offset"), exact, path="/items", records="items")
    assert read == IDS[:200]
    assert made == 3


def test_a_provider_that_repeats_its_cursor_is_stopped_by_the_guard() -> None:
    def stuck(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=slack_channels("c2FtZQ=="))

    with pytest.raises(PagingError, match="paging repeated cursor cursor='c2FtZQ==' on page 3"):
        run_stream(paginator(**SLACK), stuck, path="/api/conversations.list", records="channels")


def test_an_endless_provider_is_stopped_by_the_page_cap() -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=google_events(f"token-{request.url.params.get('pageToken', '0')}x"))

    with pytest.raises(PagingError, match="page cap 5 reached"):
        run_stream(
            paginator(type="page_token"),
            endless,
            path="/calendars/primary/events",
            records="items",
            page_cap=5,
        )
