"""The connector spec: typed models that a `connectors/*.yaml` file is parsed into.

These models are the single source of truth: `schemas/connector.schema.json` is
generated from them (`manifold schema`), and every field's description lands in the
editor's autocomplete. Unknown keys are errors (`extra="forbid"`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..actions.spec import ActionSpec
from ..oauth.spec import OAuth2AuthCode, OAuth2ClientCredentials, SandboxOAuth
from ..pushes.spec import PushSpec
from ..webhooks.spec import WebhooksSpec

Template = Annotated[str, Field(description="A Jinja2 template string, e.g. '{{ env.STRIPE_SECRET_KEY }}'.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- auth


class NoAuth(_Strict):
    """No credentials are sent."""

    type: Literal["none"]


class ApiKeyAuth(_Strict):
    """An API key sent in a header or a query parameter."""

    type: Literal["api_key"]
    key: Template = Field(description="The key's value (template).")
    header: str | None = Field(None, description="Header to send the key in, e.g. 'X-API-Key'.")
    query: str | None = Field(None, description="Query parameter to send the key in, e.g. 'api_key'.")
    prefix: str = Field("", description="Text put before the key, e.g. 'Token '.")


class BearerAuth(_Strict):
    """`Authorization: Bearer <token>`."""

    type: Literal["bearer"]
    token: Template = Field(description="The token (template), e.g. '{{ env.STRIPE_SECRET_KEY }}'.")


class BasicAuth(_Strict):
    """HTTP basic auth: `Authorization: Basic base64(username:password)`."""

    type: Literal["basic"]
    username: Template = Field(description="User name or client id (template).")
    password: Template = Field("", description="Password or client secret (template).")


AuthSpec = Annotated[
    NoAuth | ApiKeyAuth | BearerAuth | BasicAuth | OAuth2AuthCode | OAuth2ClientCredentials,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------- http policy


def _default_retry_statuses() -> list[int | Literal["5xx"]]:
    return [429, "5xx"]


class RetryPolicy(_Strict):
    """When and how often a failed request is retried (exponential backoff with full jitter)."""

    max_attempts: int = Field(5, ge=1, le=20, description="Attempts in all, the first included.")
    backoff: float = Field(0.5, ge=0, description="Base delay in seconds; doubles on each attempt.")
    max_backoff: float = Field(30.0, ge=0, description="Largest delay between attempts, in seconds.")
    statuses: list[int | Literal["5xx"]] = Field(
        default_factory=_default_retry_statuses,
        description="Statuses that are retried; '5xx' means every server error. Timeouts and "
        "connection errors are always retried.",
    )


class HttpPolicy(_Strict):
    """How the engine talks to the provider."""

    rate_limit: float | None = Field(None, gt=0, description="Requests per second, per connector run.")
    concurrency: int = Field(8, ge=1, le=256, description="Most requests in flight at once (substreams).")
    timeout: float = Field(30.0, gt=0, description="Seconds before a request times out.")
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy, description="Which failures are retried, how often."
    )
    page_cap: int = Field(100_000, ge=1, description="Most pages one stream reads in one run.")
    headers: dict[str, Template] = Field(default_factory=dict, description="Headers sent on every request.")


# ---------------------------------------------------------------- requests


class RequestSpec(_Strict):
    """One HTTP request, templated. Rendered once per stream run, partition or parent record."""

    method: Literal["GET", "POST"] = "GET"
    path: Template = Field(description="Path after base_url, e.g. '/v1/invoices' (template).")
    params: dict[str, Template | int | float | bool | list[Template | int | float | bool]] = Field(
        default_factory=dict,
        description="Query parameters (templates); a list repeats the parameter, e.g. Gmail "
        "{metadataHeaders: [From, To, Subject]} -> ?metadataHeaders=From&metadataHeaders=To&...",
    )
    headers: dict[str, Template] = Field(default_factory=dict)
    json_body: dict[str, Any] | None = Field(
        None, alias="json", description="JSON body for POST requests; string values are templates."
    )
    omit_empty: bool = Field(
        False,
        description="Leave out params that render to an empty string, e.g. Drive's "
        "`q: \"{{ '' if config.get('include_trashed') else 'trashed = false' }}\"`.",
    )


# ---------------------------------------------------------------- pagination


class NoPaging(_Strict):
    """One request, one page."""

    type: Literal["none"]


class BodyCursorPaging(_Strict):
    """A cursor read from the response body is sent as a query parameter.

    Slack: `{"response_metadata": {"next_cursor": "dGVhbTpDMDYx"}}` -> `?cursor=dGVhbTpDMDYx`.
    """

    type: Literal["body_cursor"]
    cursor: str = Field(
        description="Path of the next cursor in the body, e.g. 'response_metadata.next_cursor'."
    )
    param: str = Field(description="Query parameter to send it in, e.g. 'cursor'.")
    more: str | None = Field(
        None, description="Path of a boolean that says more pages exist, e.g. 'has_more'."
    )


class LastRecordCursorPaging(_Strict):
    """The last record's field is sent as the cursor: Stripe `starting_after` + `has_more`."""

    type: Literal["last_record_cursor"]
    param: str = Field(description="Query parameter, e.g. 'starting_after'.")
    field: str = Field("id", description="Field of the last record, e.g. 'id'.")
    more: str = Field(description="Path of the boolean that says more pages exist, e.g. 'has_more'.")


class PageTokenPaging(_Strict):
    """Google's next-page token: `nextPageToken` in the body -> `?pageToken=`."""

    type: Literal["page_token"]
    token: str = Field("nextPageToken", description="Path of the next token in the body.")
    param: str = Field("pageToken", description="Query parameter to send it in.")


class NextUrlPaging(_Strict):
    """A full next-page URL in the body: Graph API `paging.next`, PayPal `links[rel=next].href`.

    The path may select from a list by a key: `links[rel=next].href`.
    """

    type: Literal["next_url"]
    path: str = Field(description="Path of the next URL in the body, e.g. 'paging.next'.")


class LinkHeaderPaging(_Strict):
    """RFC 8288 `Link: <https://...>; rel="next"` header."""

    type: Literal["link_header"]
    rel: str = "next"


class OffsetPaging(_Strict):
    """Offset and limit parameters; stops on a short page, an empty page or the total."""

    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(100, ge=1)
    total: str | None = Field(None, description="Path of the total record count in the body, if any.")
    short_page_ends: bool = Field(
        True,
        description="A page shorter than `limit` ends paging. Off for providers that may return fewer "
        "records than asked (a server-side cap on the page size, e.g. DocuSign's `count`) while `total` "
        "says more exist: then only an empty page or the total ends it.",
    )


class PageNumberPaging(_Strict):
    """Page number parameter; stops on the total pages, a short page or an empty page."""

    type: Literal["page_number"]
    param: str = "page"
    start: int = Field(1, description="Number of the first page.")
    size_param: str | None = Field(None, description="Page size parameter, e.g. 'page_size'.")
    size: int = Field(100, ge=1)
    total_pages: str | None = Field(None, description="Path of the total page count in the body, if any.")


class BodyCursorPostPaging(_Strict):
    """A cursor sent in a POST JSON body: Notion `start_cursor` / `next_cursor` + `has_more`."""

    type: Literal["post_body_cursor"]
    cursor: str = Field(description="Path of the next cursor in the response body, e.g. 'next_cursor'.")
    body_field: str = Field(description="Field of the request JSON body to send it in, e.g. 'start_cursor'.")
    more: str | None = Field(None, description="Path of the boolean that says more pages exist.")


PagingSpec = Annotated[
    NoPaging
    | BodyCursorPaging
    | LastRecordCursorPaging
    | PageTokenPaging
    | NextUrlPaging
    | LinkHeaderPaging
    | OffsetPaging
    | PageNumberPaging
    | BodyCursorPostPaging,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------- incremental


class CursorIncremental(_Strict):
    """Records carry a cursor field (timestamp or integer); its high-water mark is sent next time.

    Stripe: `incremental: {type: cursor, field: created, param: "created[gte]"}`.
    Xero: `{type: cursor, field: UpdatedDateUTC, header: If-Modified-Since, format: iso}`, the
    field read as `/Date(1699999999000+0000)/`.
    Notion (a JSON body filter): `{type: cursor, field: last_edited_time, body_path: filter.last_edited_time.on_or_after,
    body: {filter: {timestamp: last_edited_time}}, format: iso}`.
    """

    type: Literal["cursor"]
    field: str = Field(description="Record path of the cursor value, e.g. 'created'.")
    param: str | None = Field(
        None, description="Query parameter that takes the stored value, e.g. 'created[gte]'."
    )
    header: str | None = Field(
        None,
        description="Request header that takes the stored value instead of a parameter, e.g. "
        "'If-Modified-Since' (Xero).",
    )
    body_path: str | None = Field(
        None,
        description="Dotted path in the request's JSON body that takes the stored value instead of a query "
        "parameter, e.g. 'filter.last_edited_time.on_or_after' (Notion).",
    )
    body: dict[str, Any] = Field(
        default_factory=dict,
        description="JSON merged (at every depth) into the request body along with the stored value, only "
        "when there is one, e.g. {filter: {timestamp: last_edited_time}} (Notion).",
    )
    lookback: int = Field(
        0, ge=0, description="Subtracted from the stored value (same unit) to catch late writes."
    )
    format: Literal["raw", "unix_seconds", "iso", "http_date"] = Field(
        "raw",
        description="How the stored value is sent: as read, or converted to unix seconds, ISO 8601 "
        "('2023-11-14T22:13:20Z') or an RFC 9110 HTTP-date ('Tue, 14 Nov 2023 22:13:20 GMT'). Values "
        "read as unix seconds, ISO 8601 or Microsoft JSON dates ('/Date(1699999999000+0000)/') convert.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> CursorIncremental:
        if sum(x is not None for x in (self.param, self.header, self.body_path)) != 1:
            raise ValueError(
                "give the stored value one place: `param` (query), `header` or `body_path` (JSON body)"
            )
        if self.body and self.body_path is None:
            raise ValueError("`body` goes with `body_path`")
        return self


class ServerTokenIncremental(_Strict):
    """The provider hands out a token for the next incremental sync.

    Google Calendar: `nextSyncToken` on the last page, sent back as `syncToken`; 410 means
    the token expired and a full sync is needed.
    """

    type: Literal["server_token"]
    token: str = Field(description="Body path of the token on the last page, e.g. 'nextSyncToken'.")
    param: str = Field(description="Query parameter to send it in, e.g. 'syncToken'.")
    expired_status: list[int] = Field(
        default_factory=lambda: [410], description="Statuses that mean the token expired: run a full sync."
    )
    drop_params: list[str] = Field(
        default_factory=list, description="Request params the provider forbids together with the token."
    )
    start: TokenStart | None = Field(
        None,
        description="Where the first token comes from when the listing does not hand one out (Google Drive "
        "`changes/startPageToken`): asked once before a full run reads its first page, saved when the run ends.",
    )
    changes: TokenChanges | None = Field(
        None,
        description="Where later runs read changes, when that is another endpoint than the full listing "
        "(Google Drive: `files` first, then `changes?pageToken=`).",
    )


class TokenStart(_Strict):
    """The request that hands out the first change token, taken before the full listing starts, so
    nothing changed during the listing is missed.

    Drive: `start: {request: {path: /drive/v3/changes/startPageToken}, token: startPageToken}`.
    """

    request: RequestSpec = Field(description="The request (templates as in the stream's request).")
    token: str = Field(description="Body path of the token, e.g. 'startPageToken'.")


class TokenChanges(_Strict):
    """The changes feed incremental runs read instead of the stream's request. Each change is turned
    into a record the stream's `fields` map like a listed one.

    Drive: `{request: {path: /drive/v3/changes}, records: changes, record: file,
    carry: {id: fileId, removed: removed}}`: a change's `file`, with its id and `removed` flag
    copied on (a removed file's change has no `file`).
    """

    request: RequestSpec = Field(
        description="The changes request; the token goes in the incremental `param`."
    )
    records: str = Field(description="Body path of the change list, e.g. 'changes'.")
    filter: RecordFilter | None = Field(
        None, description="Keep only the changes that match (before `record`), e.g. changeType = file."
    )
    record: str | None = Field(
        None, description="Path of the changed object inside a change, e.g. 'file'; none: the change itself."
    )
    carry: dict[str, str] = Field(
        default_factory=dict,
        description="Record key -> change path, copied onto the record, e.g. {id: fileId, removed: removed}.",
    )


class FeedStart(_Strict):
    """A request made before a full run, whose body holds the token the change feed starts from."""

    request: RequestSpec = Field(description="The request, e.g. Gmail users.getProfile.")
    token: str = Field(description="Body path of the token, e.g. 'historyId'.")


class ChangeFeedIncremental(_Strict):
    """Later runs read a different endpoint: a change feed read from a stored token.

    Gmail: a full run lists messages (users.messages.list), after `start` has read the mailbox's
    current `historyId` (users.getProfile); later runs read users.history.list with
    `startHistoryId`, whose records are the added messages, and store the last page's `historyId`.
    404 (a history id too old) means the token expired: a full run, `start` included.
    The token is the `start` request's, else the largest `record_token` of the full run's records.
    """

    type: Literal["change_feed"]
    start: FeedStart | None = Field(
        None, description="Request made before a full run whose body holds the feed's first token."
    )
    record_token: str | None = Field(
        None,
        description="Record path of a token in the full run's records; the largest one starts the feed "
        "(numeric strings compare as numbers), e.g. 'historyId'. Used when there is no `start`.",
    )
    request: RequestSpec = Field(description="The feed's request (the stream's `paging` pages it).")
    records: str = Field(
        description="Body path of the feed's records, e.g. 'history.*.messagesAdded.*.message' "
        "(`*` fans out over a list)."
    )
    param: str = Field(description="Query parameter the stored token is sent in, e.g. 'startHistoryId'.")
    token: str = Field(description="Body path of the next token on the feed's last page, e.g. 'historyId'.")
    expired_status: list[int] = Field(
        default_factory=lambda: [404],
        description="Statuses of the feed that mean the token expired: run a full sync.",
    )

    @model_validator(mode="after")
    def _token_source(self) -> ChangeFeedIncremental:
        if self.start is None and self.record_token is None:
            raise ValueError("a change feed needs `start` or `record_token` to find its first token")
        return self


Duration = Annotated[
    int | Annotated[str, Field(pattern=r"^\s*\d+\s*[smhdw]\s*$")],
    Field(description="Seconds, or a number with a unit: '30s', '15m', '3h', '31d', '2w'."),
]


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
WINDOW_FORMATS = ("iso", "iso_millis", "date", "unix_seconds")


def duration_seconds(value: int | str) -> int:
    """A `Duration` in seconds: 90 -> 90, '3h' -> 10800, '31d' -> 2678400."""
    if isinstance(value, int):
        return value
    text = value.strip()
    return int(text[:-1].strip()) * _UNITS[text[-1]]


class WindowsIncremental(_Strict):
    """Date windows sent as two parameters, for APIs that need a bounded range per request.

    PayPal Transaction Search requires `start_date` and `end_date`, at most 31 days apart, and
    its data lags up to 3 hours:

        incremental: {type: windows, start_param: start_date, end_param: end_date, step: 31d,
                      overlap: 3h, initial_lookback: 1090d, start: "{{ config.start_date }}"}

    The first run starts at `start` (or `initial_lookback` before now); each window ends `step`
    later or now, whichever is first, and reads all its pages; the next one starts `overlap`
    before the previous one ended, until a window ends at now. The saved state is the end of the
    last completed window, so a later run (or a killed one, resumed) starts `overlap` before it.
    Records read twice in the overlap land once (merge on the key).
    """

    type: Literal["windows"]
    start_param: str = Field(description="Query parameter of the window's start, e.g. 'start_date'.")
    end_param: str = Field(description="Query parameter of the window's end, e.g. 'end_date'.")
    step: Duration = Field(description="Longest window, e.g. '31d' (PayPal's maximum range).")
    overlap: Duration = Field(
        0,
        description="How far each window starts before the previous one ended, e.g. '3h' for data that lags.",
    )
    initial_lookback: Duration = Field(
        "30d", description="Where the first run starts, before now, when `start` is not given."
    )
    start: Template | None = Field(
        None,
        description="Where the first run starts (template, ISO 8601 date or time), e.g. "
        "'{{ config.start_date }}'; empty: `initial_lookback` before now.",
    )
    format: str = Field(
        "iso",
        description="How bounds are sent: 'iso' (2024-01-31T00:00:00Z), 'iso_millis' "
        "(2024-01-31T00:00:00.000Z), 'date' (2024-01-31), 'unix_seconds', or a strftime pattern "
        "such as '%Y-%m-%dT%H:%M:%S%z'.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> WindowsIncremental:
        if duration_seconds(self.step) <= 0:
            raise ValueError("step must be longer than zero")
        if duration_seconds(self.overlap) >= duration_seconds(self.step):
            raise ValueError("overlap must be shorter than step, or windows never advance")
        if self.format not in WINDOW_FORMATS and "%" not in self.format:
            raise ValueError(f"format must be one of {', '.join(WINDOW_FORMATS)} or a strftime pattern")
        return self


IncrementalSpec = Annotated[
    CursorIncremental | ServerTokenIncremental | ChangeFeedIncremental | WindowsIncremental,
    Field(discriminator="type"),
]


# ---------------------------------------------------------------- extraction and mapping


class RecordFilter(_Strict):
    """Keep only records whose field matches. Evaluated as plain Python, never a template."""

    field: str
    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(None, alias="in")
    not_in: list[Any] | None = None


class ParentSpec(_Strict):
    """Run this stream once per record of another stream (a substream), or once per batch of them."""

    stream: str = Field(description="Name of the parent stream in this connector.")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Columns filled from the parent record: column -> parent path, e.g. {calendar_id: id}.",
    )
    key: str | None = Field(
        None,
        description="Parent record path that keys the slices (default: the parent's primary key); a record "
        "whose key was already seen in this run is skipped, e.g. Gmail threads: {key: threadId}.",
    )
    incremental: bool = Field(
        False,
        description="Run only for the parent records its incremental yields since this stream's last complete "
        "run (Gmail: message ids from history.list); the parent's state is kept with this stream's and "
        "advances only when every slice has been read. Off: every parent record, every run.",
    )
    batch: int | None = Field(
        None,
        ge=1,
        description="Run once per batch of up to this many parent records; templates see the batch as "
        "`parents` (a list), e.g. YouTube videos.list: "
        "`id: \"{{ parents | map(attribute='contentDetails.videoId') | join(',') }}\"` with batch: 50.",
    )

    @model_validator(mode="after")
    def _batch_has_no_fields(self) -> ParentSpec:
        if self.batch is not None and self.fields:
            raise ValueError("parent `fields` fill columns from one parent record; a batch has many")
        return self


class PartitionSpec(_Strict):
    """Run this stream once per value of a list in the connection config (e.g. calendar ids)."""

    config: str = Field(description="Key of a list in the connection config, e.g. 'calendar_ids'.")
    field: str | None = Field(None, description="Column that receives the partition value, if any.")


class FieldMapping(_Strict):
    """One column: a record path, an optional typed transform, and a default."""

    path: str | None = Field(
        None, description="Dotted record path, e.g. 'customer.email' or 'lines.data.0.id'."
    )
    as_: str | None = Field(None, alias="as", description="Transform name, e.g. 'unix_seconds', 'cents'.")
    args: dict[str, Any] = Field(default_factory=dict, description="Transform arguments.")
    value: Any = Field(None, description="A constant (with as: constant or without a path).")
    coalesce: list[str] | None = Field(None, description="Paths tried in order; the first non-null wins.")
    default: Any = None


class StreamSpec(_Strict):
    """A stream: requests -> pages -> records -> rows of one model."""

    description: str = ""
    request: RequestSpec | None = Field(
        None,
        description="The request for the first page of each slice. None: the stream is never polled "
        "(the API cannot list these records, e.g. WhatsApp messages); its rows arrive only through "
        "webhook events and action results, and it has no sync run or asset.",
    )
    poll: bool = Field(
        True,
        description="false: syncs never read this stream; it only gives action results and webhook events "
        "a mapping into its model (Drive `file_links`, which no endpoint lists).",
    )
    records: str = Field(
        "",
        description="Body path of the record list, e.g. 'data'. Empty: a list body is the records, "
        "an object body is one record.",
    )
    record: str | None = Field(
        None,
        description="Path, in each listed record, of the object that is mapped, e.g. 'data.object' for "
        "Stripe's /v1/events (the listed event still drives paging and the incremental cursor).",
    )
    version: str | None = Field(
        None,
        description="Path, in each listed record, of the time its object's state was current (unix "
        "seconds or ISO 8601), e.g. 'created' of a Stripe event: the row's `_version`, so an old event "
        "never overwrites a newer row of the same object.",
    )
    filter: RecordFilter | None = Field(None, description="Keep only the records that match.")
    primary_key: list[str] = Field(default_factory=lambda: ["id"], description="Record paths of the key.")
    paging: PagingSpec = Field(
        default_factory=lambda: NoPaging(type="none"),
        description="How the next page is requested (by `type`).",
    )
    incremental: IncrementalSpec | None = Field(None, description="How later runs read only what changed.")
    parent: ParentSpec | None = Field(None, description="Run once per record of another stream.")
    max_records: int | Template | None = Field(
        None,
        description="Most records a full run of each slice reads (a run without a saved cursor or token; "
        "every run of a stream without `incremental`), e.g. Gmail's most recent N on a first sync: "
        "'{{ config.initial_messages | default(100) }}' (template). Reading stops at the page that "
        "reaches it; incremental runs read every change.",
    )
    skip_statuses: list[int] = Field(
        default_factory=list,
        description="Statuses that mean a slice's object is gone, e.g. [404] for a message deleted after "
        "its id was listed: the slice yields no records instead of failing the stream.",
    )
    partitions: PartitionSpec | None = Field(None, description="Run once per value of a config list.")
    into: str | None = Field(
        None, description="Model (table) the rows go into; none for a parent-only stream."
    )
    disposition: Literal["merge", "append"] = Field(
        "merge", description="merge: upsert on the model's key; append: insert every row."
    )
    fields: dict[str, str | FieldMapping] = Field(
        default_factory=dict, description="Column -> path or mapping."
    )

    @model_validator(mode="after")
    def _unpolled_streams_load(self) -> StreamSpec:
        if self.request is None and (self.into is None or self.parent or self.partitions or self.incremental):
            raise ValueError(
                "a stream without `request` is filled by webhooks and actions only: it needs `into` "
                "and takes no parent, partitions or incremental"
            )
        return self

    @property
    def polled(self) -> bool:
        """Read from the API by syncs (without `request`, or with `poll: false`, only webhooks and actions fill it)."""
        return self.poll and self.request is not None

    def slice_columns(self) -> list[str]:
        """Columns filled once per slice: from the parent record or the partition value."""
        columns = list(self.parent.fields) if self.parent else []
        if self.partitions and self.partitions.field:
            columns.append(self.partitions.field)
        return columns

    def mapped_fields(self) -> dict[str, str | FieldMapping]:
        """`fields` plus the slice columns (filled per page by the engine, not per record)."""
        placeholder = FieldMapping.model_validate({"as": "constant", "args": {"value": None}})
        extra: dict[str, str | FieldMapping] = {
            c: placeholder for c in self.slice_columns() if c not in self.fields
        }
        return {**self.fields, **extra}


# ---------------------------------------------------------------- sandbox


class SandboxRoute(_Strict):
    """One emulated endpoint: a provider paging protocol serving a fixture file."""

    path: str = Field(description="Path served, with {placeholders}, e.g. '/v1/invoices'.")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        "GET", description="HTTP method served, e.g. PATCH for Notion's page updates."
    )
    protocol: str = Field(description="Provider protocol, e.g. 'stripe_list', 'google_page_token'.")
    fixture: str = Field(description="JSON file, relative to the connector file.")
    options: dict[str, Any] = Field(default_factory=dict, description="Protocol options, e.g. kind.")
    require_headers: dict[str, str] = Field(
        default_factory=dict,
        description="Headers this route's requests must carry besides the sandbox's `require_headers`, "
        "else 403, e.g. Xero's {xero-tenant-id: ...} on Accounting routes but not on /connections.",
    )


class RedactRules(_Strict):
    """How `manifold record` cleans live responses before they become fixtures. Always: email
    addresses, phone numbers and the connection's own secrets and tokens are replaced wherever they
    appear, and fields named like secrets (token, secret, password, authorization, api_key) blanked."""

    fields: list[str] = Field(
        default_factory=list,
        description="More field names (at any depth) whose values are replaced, e.g. [name, address_line1].",
    )
    keep: list[str] = Field(
        default_factory=list,
        description="Field names never touched, e.g. [id] when the provider's ids look like emails.",
    )


class SandboxSpec(_Strict):
    """How the offline sandbox emulates this provider."""

    redact: RedactRules = Field(
        default_factory=RedactRules, description="How recorded live responses are cleaned (manifold record)."
    )

    env: dict[str, str] = Field(default_factory=dict, description="Env values used in sandbox runs.")
    config: dict[str, Any] = Field(
        default_factory=dict, description="Connection config used in sandbox runs."
    )
    require_headers: dict[str, str] = Field(
        default_factory=dict, description="Headers every request must carry, else 401 (checks auth)."
    )
    routes: list[SandboxRoute] = Field(default_factory=list, description="Emulated endpoints.")
    oauth: SandboxOAuth | None = Field(
        None, description="The sandbox's OAuth authorization server settings (for oauth2/client_credentials)."
    )


# ---------------------------------------------------------------- connector


class ConnectorSpec(_Strict):
    """A provider: one file in connectors/."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Identifier, snake_case.")
    title: str = Field(description="Human name, e.g. 'Google Calendar'.")
    docs: str = Field(description="URL of the provider's API documentation.")
    api_specs: list[str] = Field(
        default_factory=list,
        description="The provider's official machine-readable API specifications this connector follows, "
        "relative to the shared specs folder (../shared/specs), e.g. [stripe/spec3.yaml]; the conformance "
        "check reads every request path, parameter and mapped field against them.",
    )
    flag: str | None = Field(
        None, description="Feature-flag env var; the connector is off unless it is truthy."
    )
    env: list[str] = Field(default_factory=list, description="Env vars the connector needs when enabled.")
    connection_secrets: list[str] = Field(
        default_factory=list,
        description="Secrets each connection supplies when connected, e.g. [incoming_webhook_url] (Slack): "
        "`manifold connect` asks for them without echoing, `PUT /api/connections/...` takes them; stored "
        "encrypted; templates read them as '{{ secrets.NAME }}'.",
    )
    config: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object"},
        description="JSON Schema of the per-connection config.",
    )
    base_url: Template = Field(description="Root URL of the API (template), e.g. 'https://api.stripe.com'.")
    auth: AuthSpec = Field(
        default_factory=lambda: NoAuth(type="none"), description="How requests are authenticated (by `type`)."
    )
    http: HttpPolicy = Field(
        default_factory=HttpPolicy, description="Rate limit, concurrency, retries, page cap."
    )
    schedule: str | None = Field(None, description="Cron for scheduled syncs, or none for manual.")
    owners: list[str] = Field(
        default_factory=list,
        description="Who answers for this connector's data: emails or 'team:name' (Dagster asset owners).",
    )
    streams: dict[str, StreamSpec] = Field(
        default_factory=dict, description="Stream name -> how to read it and where it lands."
    )
    sandbox: SandboxSpec | None = Field(None, description="How the offline sandbox emulates this provider.")
    webhooks: WebhooksSpec | None = Field(
        None, description="How deliveries are verified and identified (see engine/webhooks)."
    )
    actions: dict[str, ActionSpec] = Field(
        default_factory=dict,
        description="Outbound actions: write-back requests run with an input (see engine/actions).",
    )
    pushes: dict[str, PushSpec] = Field(
        default_factory=dict,
        description="Warehouse rows sent through this connector's actions, created once and updated when "
        "they change, the remote id remembered per row (see engine/pushes).",
    )

    @model_validator(mode="after")
    def _does_something(self) -> ConnectorSpec:
        if not self.streams and not self.actions:
            raise ValueError("a connector needs at least one stream (or, write-only, one action)")
        return self

    def event_streams(self) -> set[str]:
        """Streams whose models webhook events or action results also write: those merges keep
        the newer `_version`."""
        from_events = self.webhooks.applied_streams() if self.webhooks is not None else set()
        from_actions = {a.result.apply for a in self.actions.values() if a.result.apply}
        return from_events | from_actions


# The incremental section names RecordFilter, defined below it: resolve those names now, so the
# reference and the editor schema see the classes themselves.
TokenChanges.model_rebuild(force=True)
ServerTokenIncremental.model_rebuild(force=True)
