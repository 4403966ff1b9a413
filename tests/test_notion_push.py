"""Notion's warehouse-driven push: a page per CRM deal and brand, created once in the configured
data sources, then updated in place (the page id remembered per record) when the record changes."""

from __future__ import annotations

import duckdb

from .conftest import Workspace
from .test_sync_notion import DS_BRANDS, DS_DEALS, connect, env, notion_requests, space  # noqa: F401


def test_deal_and_brand_pages_are_created_once_then_updated_in_place(space: Workspace) -> None:  # noqa: F811
    assert space.sandbox is not None
    connect(space)
    crm = space.cli("sync", "crm", "--sandbox-url", space.sandbox.url, env=env(space))
    assert crm.returncode == 0, crm.stderr

    def push() -> str:
        assert space.sandbox is not None
        done = space.cli(
            "push", "notion", "--connection", "maya", "--sandbox-url", space.sandbox.url, env=env(space)
        )
        return done.stdout + done.stderr

    unconfigured = push()  # no data source named yet: every row fails, saying what is missing
    assert "deal_summaries -> maya: 5 rows, 0 created, 0 updated, 0 unchanged, 5 failed" in unconfigured
    assert "parent_id" in unconfigured and not notion_requests(space, "/v1/pages")

    configured = space.cli(
        "configure", "notion", "--connection", "maya",
        "--set", f"deals_data_source_id={DS_DEALS}", "--set", f"brands_data_source_id={DS_BRANDS}",
        env=env(space),
    )  # fmt: skip
    assert configured.returncode == 0, configured.stderr
    out = push()
    assert "deal_summaries -> maya: 5 rows, 5 created, 0 updated, 0 unchanged, 0 failed (5 calls)" in out
    assert "brand_summaries -> maya: 4 rows, 4 created, 0 updated, 0 unchanged, 0 failed (4 calls)" in out
    posts = notion_requests(space, "/v1/pages")
    assert len(posts) == 9 and all(p["method"] == "POST" for p in posts)
    winter = next(
        p["body"]
        for p in posts
        if "Acme winter campaign" in p["body"]["properties"]["Name"]["title"][0]["text"]["content"]
    )
    assert winter["parent"] == {"data_source_id": DS_DEALS}
    assert winter["properties"]["Name"]["title"][0]["text"]["content"] == (
        "Acme winter campaign — negotiation · 12000.00 GBP"
    )
    assert "CRM deal dl_101: open" in winter["children"][0]["paragraph"]["rich_text"][0]["text"]["content"]

    space.sandbox.clear_requests()
    assert "5 unchanged" in push() and not notion_requests(space)  # nothing changed: nothing sent

    path = space.warehouse_url.removeprefix("duckdb:///")
    with duckdb.connect(path) as con:
        con.execute("UPDATE crm_deals SET stage = 'contract' WHERE id = 'dl_101'")
    out = push()
    assert "deal_summaries -> maya: 5 rows, 0 created, 1 updated, 4 unchanged" in out
    (patch,) = [r for r in notion_requests(space) if r["method"] == "PATCH"]
    assert patch["body"]["properties"]["Name"]["title"][0]["text"]["content"].startswith(
        "Acme winter campaign — contract"
    )
    page_id = patch["path"].rsplit("/", 1)[1]
    rows = space.query(f"SELECT title FROM notion_pages WHERE id = '{page_id}'")
    assert rows == [("Acme winter campaign — contract · 12000.00 GBP",)]
