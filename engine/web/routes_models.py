"""The read API: pages of a synced unified model (invoices, calendar_events, email_messages...).

The handler parses the query, asks `engine.warehouse_read` for a page off the event loop, and
maps its errors to statuses; paging order, cursors and value shapes are documented there.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..destinations import warehouse_url
from ..errors import ConfigError, WarehouseError
from ..warehouse_read import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    InvalidPageQuery,
    PageQuery,
    UnknownModel,
    WarehouseBusy,
    parse_timestamp,
    read_page,
)
from .security import require_api, service_of

router = APIRouter(tags=["models"], dependencies=[Depends(require_api)])


class ModelPage(BaseModel):
    model: str = Field(description="The model read, e.g. 'invoices'.")
    rows: list[dict[str, Any]] = Field(
        description="The model's columns (schemas/models/<model>.yaml) plus `_provider`, `_connection_id`"
        " and `_synced_at`. Decimals are strings ('1500.00'), timestamps ISO 8601 UTC, dates"
        " YYYY-MM-DD, json columns JSON values. Ordered by `_synced_at`, then the table key."
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same filters) for the next page; null on the last page."
    )


class Problem(BaseModel):
    detail: str


DESCRIPTION = """Rows of a unified model from the warehouse, a page at a time, in change order
(`_synced_at`, then `_provider`, `_connection_id` and the model's primary key).

Poll for changes with `updated_since` = the largest `_synced_at` seen (inclusive), then follow
`next_cursor` until it is null. A row rewritten by a sync during a walk comes again later in the
walk with its new values. Syncs that run at once can commit an older `_synced_at` after a newer
one: to miss nothing, poll from your high-water mark minus your longest sync and dedupe on the key.

A model nothing has synced yet answers an empty page. `_raw` (the provider's payload) is never
returned. While a sync writes a DuckDB warehouse (one writer per file) the answer is 503 with
`Retry-After`."""


@router.get(
    "/api/models/{model}",
    summary="Read a synced model, page by page",
    description=DESCRIPTION,
    response_model=ModelPage,
    responses={
        400: {"model": Problem, "description": "A cursor this API did not give, or a bad updated_since"},
        401: {"model": Problem, "description": "No or wrong API token"},
        404: {"model": Problem, "description": "Unknown model; the message lists the known ones"},
        503: {"model": Problem, "description": "A sync is writing the warehouse (see Retry-After)"},
    },
)
async def read_model(
    request: Request,
    model: Annotated[str, Path(description="A unified model's name, e.g. invoices, calendar_events")],
    connection: Annotated[
        str | None, Query(description="Only rows of this connection (`_connection_id`), e.g. 'acme'")
    ] = None,
    provider: Annotated[
        str | None, Query(description="Only rows of this provider (`_provider`), e.g. 'stripe'")
    ] = None,
    updated_since: Annotated[
        str | None,
        Query(
            description="Only rows with `_synced_at` at or after this ISO 8601 time, e.g."
            " 2025-11-26T15:46:16Z (no offset: UTC)"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(description="The previous page's `next_cursor`, unchanged (opaque)")
    ] = None,
) -> Response:
    url = service_of(request).settings.warehouse_url or warehouse_url()
    try:
        since = parse_timestamp(updated_since) if updated_since is not None else None
        page = await run_in_threadpool(
            read_page, url, model, PageQuery(connection, provider, since, limit, cursor)
        )
    except UnknownModel as exc:
        raise HTTPException(404, str(exc)) from None
    except InvalidPageQuery as exc:
        raise HTTPException(400, str(exc)) from None
    except WarehouseBusy as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
    except (WarehouseError, ConfigError) as exc:  # unreachable or misconfigured: not the caller's fault
        raise HTTPException(503, str(exc)) from None
    # Values are JSON-ready already: orjson writes them without a second pass through pydantic.
    return Response(page.to_json(), media_type="application/json")
