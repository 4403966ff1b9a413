"""Reading a synced model a page at a time: the engine behind `GET /api/models/{model}`.

    reader = WarehouseReader("duckdb:///state/warehouse.duckdb")
    page = reader.read("invoices", PageQuery(connection="acme", limit=2))
    page.rows         # [{"id": "in_1...", "amount_due": "1500.00", "line_items": [...],
                      #   "_provider": "stripe", "_connection_id": "acme",
                      #   "_synced_at": "2025-11-26T15:46:16.966744+00:00"}, ...]
    page.next_cursor  # "eyJtb2RlbCI6..." -> PageQuery(cursor=...) reads the next page; None: the end

Order: rows come by `_synced_at`, then the table key `(_provider, _connection_id, *primary_key)`,
and pages are keyset pages on that order (`WHERE (sort) > (cursor) ORDER BY sort LIMIT n`), so a
page costs the same however deep the walk is, and a walk over a table nobody writes returns every
row exactly once. Change order rather than key order because the API's job is "updated since"
polling: a row a sync rewrites mid-walk moves to the end of the order and is read again with its
new values instead of being left stale, and the last row's `_synced_at` is the next poll's
`updated_since`. (The price: Postgres has no index on `_synced_at`, so a page is a scan with a
top-n sort, where key order could follow the primary key index.) `updated_since` is inclusive (`_synced_at >= it`) because `_synced_at` is the
run's start time, shared by every row of the run and committed batch by batch. Runs that
overlap (two connections syncing at once) can commit an older `_synced_at` after a newer one:
pollers that need every change poll from their high-water mark minus the longest sync, and
dedupe on the key.

Values: the model's columns in its spec order (a column the table has not gained yet is null),
then `_provider`, `_connection_id`, `_synced_at`. Never `_raw`: provider payloads may hold
personal data or tokens. Decimals are strings ("1500.00", exact: JSON numbers are doubles to
most clients), timestamps ISO 8601 in UTC, dates `YYYY-MM-DD`, json columns JSON values.

Warehouses: a DuckDB file is opened read-only per read and closed at once (a connection kept
open would stop a sync from taking the file); while a sync holds it, reads raise
`WarehouseBusy`. Postgres: a connection per read, a read-only transaction with short lock and
statement timeouts, in the schema from the URL. SQL is parameterised; identifiers come only
from the model spec (validated snake_case names) and the warehouse URL.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import orjson

from .destinations import POSTGRES_SCHEMES
from .errors import ConfigError, ManifoldError, WarehouseError
from .models import (
    CONNECTION_COLUMN,
    PROVIDER_COLUMN,
    SYNCED_AT_COLUMN,
    ColumnType,
    ModelSpec,
    did_you_mean,
    load_models,
)
from .redact import Redactor, redact_url

if TYPE_CHECKING:
    import psycopg

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_CURSOR_CHARS = 4096
RETRY_AFTER_SECONDS = 10
LOCK_TIMEOUT = "3s"  # Postgres: a sync's ALTER TABLE holds the table; answer 503 rather than queue
STATEMENT_TIMEOUT = "30s"

# The system columns a reader sees; `_raw` is left out on purpose (see the module docstring).
EXPOSED_SYSTEM_COLUMNS: dict[str, ColumnType] = {
    PROVIDER_COLUMN: "string",
    CONNECTION_COLUMN: "string",
    SYNCED_AT_COLUMN: "timestamp",
}


class ReadError(ManifoldError):
    """A read the caller got wrong; the message says what to change."""


class UnknownModel(ReadError):
    def __init__(self, name: str, known: list[str]):
        self.known = known
        super().__init__(f"unknown model {name!r}{did_you_mean(name, known)}; known: {', '.join(known)}")


class InvalidPageQuery(ReadError):
    """A bad `cursor` or `updated_since`."""


class WarehouseBusy(WarehouseError):
    """A sync holds the DuckDB file (one writer per file) or a table lock: retry shortly."""

    retry_after = RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class PageQuery:
    """Which rows: filters, page size, and where the previous page stopped (an opaque cursor)."""

    connection: str | None = None
    provider: str | None = None
    updated_since: datetime | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


@dataclass(frozen=True)
class Page:
    model: str
    rows: list[dict[str, Any]]
    next_cursor: str | None

    def to_json(self) -> bytes:
        return orjson.dumps({"model": self.model, "rows": self.rows, "next_cursor": self.next_cursor})


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 (`2025-11-26T15:46:16Z`, `...+01:00`, `2025-11-26`); no offset means UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidPageQuery(
            f"updated_since {text!r} is not an ISO 8601 timestamp, e.g. 2025-11-26T15:46:16Z"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# ---------------------------------------------------------------- values


def shown_row(model: ModelSpec, row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as the read API shows it (decimals and times as text, json columns parsed): what
    rule and push templates see as `row`."""
    columns = model.all_columns
    return {name: to_json_value(columns[name].type, value) for name, value in row.items()}


def to_json_value(kind: ColumnType, value: Any) -> Any:
    """A warehouse value as the API shows it (both warehouses hand json columns over as text)."""
    if value is None:
        return None
    if kind == "json" and isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _from_cursor_value(kind: ColumnType, value: Any) -> Any:
    """The inverse of `to_json_value` for a sort column; ValueError when it does not fit."""
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "timestamp" and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("timestamp without offset")
        return parsed
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    if kind == "decimal" and isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError("not a decimal") from None
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"not a {kind}")


# ---------------------------------------------------------------- the sort and its cursor


@dataclass(frozen=True)
class _Sort:
    """A model's sort columns with their types: `_synced_at`, then the table key."""

    model: ModelSpec

    @property
    def columns(self) -> list[tuple[str, ColumnType]]:
        types = {**{n: c.type for n, c in self.model.columns.items()}, **EXPOSED_SYSTEM_COLUMNS}
        return [(name, types[name]) for name in [SYNCED_AT_COLUMN, *self.model.table_key]]

    def encode(self, row: dict[str, Any]) -> str:
        """base64url JSON of the row's sort values (the row holds them already as JSON values)."""
        payload = {"model": self.model.name, "after": [row[name] for name, _ in self.columns]}
        return base64.urlsafe_b64encode(orjson.dumps(payload)).decode("ascii").rstrip("=")

    def decode(self, cursor: str) -> list[Any]:
        bad = f"cursor is not one this API gave for {self.model.name}: pass next_cursor back unchanged"
        if len(cursor) > MAX_CURSOR_CHARS:
            raise InvalidPageQuery(bad + " (too long)")
        try:
            raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
            payload = orjson.loads(raw)
        except (binascii.Error, ValueError):
            raise InvalidPageQuery(bad + " (not base64url JSON)") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("after"), list):
            raise InvalidPageQuery(bad + " (wrong shape)")
        if payload.get("model") != self.model.name:
            raise InvalidPageQuery(bad + " (it is for another model)")
        after: list[Any] = payload["after"]
        if len(after) != len(self.columns):
            raise InvalidPageQuery(bad + " (wrong number of values)")
        try:
            return [
                _from_cursor_value(kind, value) for (_, kind), value in zip(self.columns, after, strict=True)
            ]
        except ValueError as exc:
            raise InvalidPageQuery(f"{bad} ({exc})") from None


# ---------------------------------------------------------------- warehouses


class _Session(Protocol):
    def table_columns(self, table: str) -> set[str]:
        """The table's columns; empty when the table does not exist (nothing synced yet)."""
        ...

    def fetch(self, query: str, params: list[Any]) -> list[tuple[Any, ...]]: ...


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Empty:
    """A warehouse with no tables yet (a DuckDB file no sync has created)."""

    def table_columns(self, table: str) -> set[str]:
        return set()

    def fetch(self, query: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return []


class _DuckDBSession:
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con

    def table_columns(self, table: str) -> set[str]:
        # pragma_table_info: information_schema costs tens of ms on a freshly opened file.
        try:
            rows = self._con.execute("SELECT name FROM pragma_table_info(?)", [f"main.{table}"]).fetchall()
        except duckdb.CatalogException:
            return set()
        return {row[0] for row in rows}

    def fetch(self, query: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return self._con.execute(query, params).fetchall()


@dataclass(frozen=True)
class _DuckDB:
    path: Path
    placeholder = "?"
    table_prefix = ""

    @contextmanager
    def session(self) -> Iterator[_Session]:
        if not self.path.exists():
            yield _Empty()
            return
        try:
            con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:
            message = str(exc)
            if "does not exist" in message:  # removed between the check and the open
                yield _Empty()
                return
            # Another process writing: "Could not set lock on file"; this one (a sync run in-process):
            # "Can't open a connection to same database file with a different configuration".
            if "lock" in message or "different configuration" in message:
                raise WarehouseBusy(
                    f"a sync is writing the DuckDB warehouse {self.path.name} (one writer per file):"
                    f" retry in {RETRY_AFTER_SECONDS} seconds"
                ) from None
            raise WarehouseError(f"cannot open the DuckDB warehouse {self.path.name}: {message}") from None
        try:
            yield _DuckDBSession(con)
        except duckdb.Error as exc:
            raise WarehouseError(f"reading the DuckDB warehouse {self.path.name} failed: {exc}") from None
        finally:
            con.close()


class _PostgresSession:
    def __init__(self, con: psycopg.Connection[Any], schema: str):
        self._con = con
        self._schema = schema

    def table_columns(self, table: str) -> set[str]:
        rows = self._con.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))"
            " AND attnum > 0 AND NOT attisdropped",
            [self._schema, table],
        ).fetchall()
        return {row[0] for row in rows}

    def fetch(self, query: str, params: list[Any]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._con.execute(query, params).fetchall()
        return rows


class _Postgres:
    placeholder = "%s"

    def __init__(self, url: str):
        from .destinations.postgres import DEFAULT_SCHEMA, conninfo_password, split_schema

        self._conninfo, schema = split_schema(url)
        self.schema = schema or DEFAULT_SCHEMA
        self.url = redact_url(url)
        self._redact = Redactor(filter(None, [conninfo_password(self._conninfo)]))

    @property
    def table_prefix(self) -> str:
        return _quote(self.schema) + "."

    @contextmanager
    def session(self) -> Iterator[_Session]:
        import psycopg
        from psycopg.types.string import TextLoader

        from .destinations.postgres import CONNECT_TIMEOUT

        try:
            con = psycopg.connect(
                self._conninfo, connect_timeout=CONNECT_TIMEOUT, application_name="manifold read api"
            )
        except psycopg.Error as exc:
            raise WarehouseError(
                f"cannot reach the Postgres warehouse {self.url}: {self._redact(str(exc)).strip()}"
            ) from None
        try:
            con.read_only = True
            for loader in ("json", "jsonb"):  # as text, like DuckDB's: one way to turn them into values
                con.adapters.register_loader(loader, TextLoader)
            con.execute(  # for this transaction only
                "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
                [LOCK_TIMEOUT, STATEMENT_TIMEOUT],
            )
            yield _PostgresSession(con, self.schema)
        except psycopg.errors.LockNotAvailable:
            raise WarehouseBusy(
                f"a sync is changing a table of the Postgres warehouse {self.url}:"
                f" retry in {RETRY_AFTER_SECONDS} seconds"
            ) from None
        except psycopg.Error as exc:
            message = self._redact(str(exc)).strip()
            raise WarehouseError(f"reading the Postgres warehouse {self.url} failed: {message}") from None
        finally:
            con.close()


class _Warehouse(Protocol):
    @property
    def placeholder(self) -> str: ...

    @property
    def table_prefix(self) -> str:
        """What goes before a table's name: '' (DuckDB's main schema) or the quoted Postgres schema."""
        ...

    def session(self) -> AbstractContextManager[_Session]: ...


def _open(url: str) -> _Warehouse:
    if url.startswith("duckdb:///"):
        return _DuckDB(Path(url.removeprefix("duckdb:///")))
    if url.startswith(POSTGRES_SCHEMES):
        return _Postgres(url)
    raise ConfigError(f"the read API reads DuckDB and Postgres warehouses, not {url.split(':', 1)[0]}:")


# ---------------------------------------------------------------- the reader


class WarehouseReader:
    """Reads pages of the unified models from one warehouse (see the module docstring)."""

    def __init__(self, url: str, models: dict[str, ModelSpec] | None = None):
        self.models = models if models is not None else _unified_models()
        self._warehouse = _open(url)

    def model(self, name: str) -> ModelSpec:
        found = self.models.get(name)
        if found is None:
            raise UnknownModel(name, sorted(self.models))
        return found

    def read(self, name: str, query: PageQuery) -> Page:
        model = self.model(name)
        if not 1 <= query.limit <= MAX_LIMIT:
            raise InvalidPageQuery(f"limit must be between 1 and {MAX_LIMIT}, not {query.limit}")
        sort = _Sort(model)
        after = sort.decode(query.cursor) if query.cursor else None
        with self._warehouse.session() as session:
            existing = session.table_columns(model.name)
            if not existing:
                return Page(model.name, [], None)
            statement, params = self._select(model, sort, existing, query, after)
            fetched = session.fetch(statement, params)
        rows = [self._row(model, existing, values) for values in fetched[: query.limit]]
        more = len(fetched) > query.limit
        return Page(model.name, rows, sort.encode(rows[-1]) if more else None)

    def _select(
        self,
        model: ModelSpec,
        sort: _Sort,
        existing: set[str],
        query: PageQuery,
        after: list[Any] | None,
    ) -> tuple[str, list[Any]]:
        p = self._warehouse.placeholder
        selected = ", ".join(_quote(name) for name in _output_columns(model) if name in existing)
        sort_list = ", ".join(_quote(name) for name, _ in sort.columns)
        where = [f"{_quote(SYNCED_AT_COLUMN)} IS NOT NULL"]  # always set by a sync; NULLs could not be paged
        params: list[Any] = []
        for column, value, op in (
            (CONNECTION_COLUMN, query.connection, "="),
            (PROVIDER_COLUMN, query.provider, "="),
            (SYNCED_AT_COLUMN, query.updated_since, ">="),
        ):
            if value is not None:
                where.append(f"{_quote(column)} {op} {p}")
                params.append(value)
        if after is not None:
            where.append(f"({sort_list}) > ({', '.join([p] * len(after))})")
            params.extend(after)
        table = self._warehouse.table_prefix + _quote(model.name)
        statement = (
            f"SELECT {selected} FROM {table} WHERE {' AND '.join(where)} ORDER BY {sort_list} LIMIT {p}"
        )
        return statement, [*params, query.limit + 1]

    @staticmethod
    def _row(model: ModelSpec, existing: set[str], values: tuple[Any, ...]) -> dict[str, Any]:
        found = iter(values)
        return {
            name: to_json_value(kind, next(found)) if name in existing else None
            for name, kind in _output_columns(model).items()
        }


def _output_columns(model: ModelSpec) -> dict[str, ColumnType]:
    return {**{name: column.type for name, column in model.columns.items()}, **EXPOSED_SYSTEM_COLUMNS}


@functools.cache
def _unified_models() -> dict[str, ModelSpec]:
    """schemas/models/, read once per process (they ship with the code)."""
    return load_models()


@functools.lru_cache(maxsize=8)
def reader_for(url: str) -> WarehouseReader:
    """One reader per warehouse URL (it holds no connection: only the models and the parsed URL)."""
    return WarehouseReader(url)


def read_page(url: str, model: str, query: PageQuery) -> Page:
    """A page of `model` from the warehouse at `url` (blocking: call it off the event loop)."""
    return reader_for(url).read(model, query)
