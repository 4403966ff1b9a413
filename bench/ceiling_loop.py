"""The ceiling for the invoices sync: a plain loop doing the same work as the engine, no engine.

    python bench/ceiling_loop.py --url http://127.0.0.1:PORT --db /tmp/x.duckdb [--mode full]

Modes: `fetch` (HTTP only: the server's and httpx's share), `parse` (+ orjson.loads),
`arrow` (+ the columns and Arrow tables, not loaded) and `full`: the columns that connectors/stripe.yaml `streams.invoices.fields` writes, converted
inline (cents -> Decimal, unix -> datetime, upper, JSON text) plus the raw record as JSON,
built column-wise into pyarrow Tables and inserted into DuckDB 10,000 rows per transaction.
Prints one line: `rows=<n> pages=<n> seconds=<s>`.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import pyarrow as pa

AUTH = "Bearer sk_test_sandbox_4eC39HqLyjWDarjtT1zdp7dc"
DEC = pa.decimal128(18, 2)  # engine/models.py ARROW_TYPES
TS = pa.timestamp("us", tz="UTC")
STR = pa.string()
SCHEMA = pa.schema(
    [
        ("id", STR),
        ("number", STR),
        ("customer_id", STR),
        ("customer_email", STR),
        ("customer_name", STR),
        ("status", STR),
        ("currency", STR),
        ("subtotal", DEC),
        ("tax", DEC),
        ("total", DEC),
        ("amount_due", DEC),
        ("amount_paid", DEC),
        ("amount_remaining", DEC),
        ("description", STR),
        ("hosted_url", STR),
        ("pdf_url", STR),
        ("due_date", TS),
        ("paid_at", TS),
        ("line_items", STR),
        ("metadata", STR),
        ("created_at", TS),
        ("_raw", STR),
    ]
)
fromtimestamp = datetime.fromtimestamp
dumps = orjson.dumps


def _cents(v: Any) -> Decimal | None:
    return None if v is None else Decimal(v).scaleb(-2)


def _unix(v: Any) -> datetime | None:
    return None if v is None else fromtimestamp(v, UTC)


def _json(v: Any) -> str | None:
    return None if v is None else dumps(v).decode()


def columns(records: list[dict[str, Any]]) -> list[list[Any]]:
    """One page, column by column, in SCHEMA order."""
    out: list[list[Any]] = [[r.get(k) for r in records] for k in ("id", "number", "customer")]
    out += [[r.get(k) for r in records] for k in ("customer_email", "customer_name", "status")]
    out.append([None if (c := r.get("currency")) is None else c.upper() for r in records])
    for key in ("subtotal", "tax", "total", "amount_due", "amount_paid", "amount_remaining"):
        out.append([_cents(r.get(key)) for r in records])
    out += [[r.get(k) for r in records] for k in ("description", "hosted_invoice_url", "invoice_pdf")]
    out.append([_unix(r.get("due_date")) for r in records])
    out.append([_unix((r.get("status_transitions") or {}).get("paid_at")) for r in records])
    out.append([_json((r.get("lines") or {}).get("data")) for r in records])
    out.append([_json(r.get("metadata")) for r in records])
    out.append([_unix(r.get("created")) for r in records])
    out.append([dumps(r).decode() for r in records])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--url", required=True, help="server root, e.g. http://127.0.0.1:8765")
    parser.add_argument("--db", type=Path, help="DuckDB file (full mode)")
    parser.add_argument("--mode", choices=["fetch", "parse", "arrow", "full"], default="full")
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    con = None
    if args.mode == "full":
        con = duckdb.connect(str(args.db))
        # the same DuckDB settings as engine/destinations/duckdb.py, so the ceiling is a ceiling
        con.execute("SET memory_limit = '64MB'")
        con.execute("SET checkpoint_threshold = '1GB'")
        con.execute("SET preserve_insertion_order = false")
        empty = SCHEMA.empty_table()  # noqa: F841 (read by DuckDB's replacement scan)
        con.execute("CREATE TABLE invoices AS SELECT * FROM empty")

    pending: list[list[Any]] = [[] for _ in SCHEMA]
    pending_rows = 0

    def flush() -> None:
        nonlocal pending, pending_rows
        if not pending_rows:
            return
        arrow = pa.Table.from_arrays(  # noqa: F841 (read by DuckDB's replacement scan)
            [pa.array(values, field.type) for values, field in zip(pending, SCHEMA, strict=True)],
            schema=SCHEMA,
        )
        if con is not None:
            con.execute("BEGIN TRANSACTION")
            con.execute("INSERT INTO invoices SELECT * FROM arrow")
            con.execute("COMMIT")
        pending, pending_rows = [[] for _ in SCHEMA], 0

    if args.mode == "fetch":  # the next cursor from the position, so no parsing at all
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_server import index_of, invoice_id
    rows = pages = 0
    params: dict[str, Any] = {"limit": 100}
    with httpx.Client(headers={"Authorization": AUTH, "Accept": "application/json"}) as client:
        url = args.url.rstrip("/") + "/stripe/v1/invoices"
        while True:
            response = client.get(url, params=params)
            response.raise_for_status()
            content = response.content
            pages += 1
            if args.mode == "fetch":
                start = (index_of(params["starting_after"]) or 0) + 1 if "starting_after" in params else 0
                count = content.count(b'"object":"invoice"')
                rows += count
                if b'"has_more":true' not in content[:80]:
                    break
                params["starting_after"] = invoice_id(start + count - 1)
                continue
            body = orjson.loads(content)
            data = body["data"]
            rows += len(data)
            if args.mode in ("arrow", "full") and data:
                for column, values in zip(pending, columns(data), strict=True):
                    column.extend(values)
                pending_rows += len(data)
                if pending_rows >= args.batch:
                    flush()
            if not body["has_more"] or not data:
                break
            params["starting_after"] = data[-1]["id"]
    flush()
    if con is not None:
        loaded = con.execute("SELECT count(*) FROM invoices").fetchone()
        con.close()
        assert loaded is not None and loaded[0] == rows, (loaded, rows)
    print(f"rows={rows} pages={pages} seconds={time.perf_counter() - started:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
