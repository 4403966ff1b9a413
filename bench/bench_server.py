"""A fast local API for the benchmarks: Stripe-shaped invoices and a slow fan-out route pair.

    python bench/bench_server.py --records 200000 [--fanout-items 1000] [--latency 0.05]
                                 [--impl threaded|asyncio] [--port 0]

The first stdout line is `PORT <n>`; it serves until SIGTERM or SIGINT.

Routes:
  GET /stripe/v1/invoices   Stripe's list protocol: limit (1-100, default 10), starting_after,
                            created[gte]; newest first; needs the sandbox bearer token.
  GET /fanout/items         the ids of the fan-out items, Stripe list protocol (limit <= 100).
  GET /fanout/items/{id}    one item, after sleeping --latency seconds.

--impl threaded (the default: ThreadingHTTPServer, HTTP/1.1 keep-alive, TCP_NODELAY) and
--impl asyncio (raw streams) measured the same within noise on 2 CPUs: about 4.5 s to serve
100,000 invoices to one httpx client, 5.7 s for 1,000 fan-out children x 50 ms at concurrency 10.

Invoice i is generated from i alone (no memory for 1,000,000 of them) by filling a JSON text
template that orjson serialised once; its id encodes i, so `starting_after` is O(1).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import orjson

TOKEN = "sk_test_sandbox_4eC39HqLyjWDarjtT1zdp7dc"
AUTH = "Bearer " + TOKEN
T0 = 1_735_689_600  # 2025-01-01T00:00:00Z: the newest invoice; older ones every STEP seconds
STEP = 37
ACCOUNT = "acct_1Nv0FGQ9RKHgCVdK"
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
B62_INDEX = {c: n for n, c in enumerate(B62)}
INDEX_CHARS = 6  # 62**6 ids: plenty

# ---------------------------------------------------------------- deterministic values


def _mix(i: int, salt: int = 0) -> int:
    """A cheap 64-bit hash of (i, salt) (splitmix64's finaliser)."""
    z = (i * 0x9E3779B97F4A7C15 + salt * 0xBF58476D1CE4E5B9 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


def _b62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(B62[r])
    return "".join(reversed(out))


# Pseudo-random base-62 fillers, built once: ids look like Stripe's without hashing per record.
_FILL = [_b62(_mix(n, 1), 11) + _b62(_mix(n, 2), 11) for n in range(4096)]


def invoice_id(i: int) -> str:
    """`in_1Q` + the index in base 62 + 16 pseudo-random characters: 27 characters like Stripe's."""
    return "in_1Q" + _b62(i, INDEX_CHARS) + _FILL[i & 4095][:16]


def index_of(object_id: str) -> int | None:
    if not object_id.startswith("in_1Q") or len(object_id) != 27:
        return None
    n = 0
    for c in object_id[5 : 5 + INDEX_CHARS]:
        digit = B62_INDEX.get(c)
        if digit is None:
            return None
        n = n * 62 + digit
    return n if invoice_id(n) == object_id else None


def created_at(i: int) -> int:
    return T0 - i * STEP  # newest first


# ---------------------------------------------------------------- the JSON templates


def _S(name: str) -> str:  # a string value, written inside quotes
    return f"@@S:{name}@@"


def _R(name: str) -> str:  # a raw JSON literal: number, true/false/null, or a quoted string
    return f"@@R:{name}@@"


def _line_skeleton(k: int) -> dict[str, Any]:
    p = f"l{k}_"
    return {
        "id": _S(p + "id"),
        "object": "line_item",
        "amount": _R(p + "amount"),
        "currency": _S("currency"),
        "description": _S(p + "description"),
        "discountable": True,
        "invoice": _S("id"),
        "livemode": False,
        "metadata": {},
        "period": {"end": _R("period_end"), "start": _R("period_start")},
        "price": {
            "id": _S(p + "price"),
            "object": "price",
            "active": True,
            "currency": _S("currency"),
            "product": _S(p + "product"),
            "recurring": {"interval": "month", "interval_count": 1},
            "type": "recurring",
            "unit_amount": _R(p + "unit_amount"),
        },
        "proration": False,
        "quantity": _R(p + "quantity"),
        "subscription": _S("subscription"),
        "type": "subscription",
    }


def _invoice_skeleton(lines: int) -> dict[str, Any]:
    return {
        "id": _S("id"),
        "object": "invoice",
        "account_country": "US",
        "account_name": "Acme Labs, Inc.",
        "amount_due": _R("amount_due"),
        "amount_paid": _R("amount_paid"),
        "amount_remaining": _R("amount_remaining"),
        "attempt_count": _R("attempt_count"),
        "attempted": _R("attempted"),
        "auto_advance": _R("auto_advance"),
        "billing_reason": "subscription_cycle",
        "collection_method": _S("collection_method"),
        "created": _R("created"),
        "currency": _S("currency"),
        "customer": _S("customer"),
        "customer_address": {
            "city": _S("city"),
            "country": _S("country"),
            "line1": _S("line1"),
            "line2": None,
            "postal_code": _S("postal_code"),
            "state": _S("state"),
        },
        "customer_email": _S("customer_email"),
        "customer_name": _S("customer_name"),
        "description": _R("description"),
        "due_date": _R("due_date"),
        "hosted_invoice_url": _S("hosted_invoice_url"),
        "invoice_pdf": _S("invoice_pdf"),
        "lines": {
            "object": "list",
            "data": [_line_skeleton(k) for k in range(lines)],
            "has_more": False,
            "total_count": lines,
            "url": _S("lines_url"),
        },
        "livemode": False,
        "metadata": {"order_id": _S("order_id"), "plan": _S("plan")},
        "number": _S("number"),
        "paid": _R("paid"),
        "period_end": _R("period_end"),
        "period_start": _R("period_start"),
        "status": _S("status"),
        "status_transitions": {
            "finalized_at": _R("finalized_at"),
            "marked_uncollectible_at": _R("uncollectible_at"),
            "paid_at": _R("paid_at"),
            "voided_at": _R("voided_at"),
        },
        "subscription": _S("subscription"),
        "subtotal": _R("subtotal"),
        "tax": _R("tax"),
        "total": _R("total"),
        "webhooks_delivered_at": _R("created"),
    }


_MARK = re.compile(r'"@@([SR]):(\w+)@@"')


def _template(skeleton: dict[str, Any]) -> tuple[str, list[str]]:
    """orjson text with %s holes, and the value names in hole order."""
    text = orjson.dumps(skeleton).decode()
    assert "%" not in text
    names: list[str] = []

    def hole(match: re.Match[str]) -> str:
        names.append(match.group(2))
        return '"%s"' if match.group(1) == "S" else "%s"

    return _MARK.sub(hole, text), names


_STATUSES = ["paid"] * 14 + ["open"] * 3 + ["draft", "void", "uncollectible"]
_CURRENCIES = ["usd", "usd", "usd", "eur", "gbp"]
_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Niklaus"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton"]
_CITIES = [
    ("San Francisco", "CA", "941"),
    ("New York", "NY", "100"),
    ("Austin", "TX", "787"),
    ("Seattle", "WA", "981"),
    ("Boston", "MA", "021"),
]
_PRODUCTS = ["Starter seat", "Pro seat", "Team seat", "Storage 100 GB", "Support plan", "API calls 1M"]
_PLANS = ["starter", "pro", "team", "enterprise"]
VARIANTS = 4096  # invoice i takes its customer, status, amounts and lines from variant i % VARIANTS


def _rand62(seed: int, salt: int, width: int) -> str:
    return _b62(_mix(seed, salt) << 64 | _mix(seed, salt + 1), width)


def _variant(j: int) -> dict[str, Any]:
    """The values of variant j that do not depend on the invoice's index."""
    h = _mix(j)
    ch = _mix(h % 5000, 7)
    city, state, zip3 = _CITIES[ch % len(_CITIES)]
    first, last = _FIRST[(ch >> 8) % len(_FIRST)], _LAST[(ch >> 16) % len(_LAST)]
    status = _STATUSES[(h >> 13) % len(_STATUSES)]
    send = (h >> 18) % 4 == 0
    token = _FILL[j] + _FILL[(j * 7 + 1) % VARIANTS][:18]
    v: dict[str, Any] = {
        "customer": "cus_" + _rand62(ch, 1, 14),
        "city": city,
        "country": "US",
        "line1": f"{100 + ch % 9900} Market Street",
        "postal_code": f"{zip3}{ch % 100:02d}",
        "state": state,
        "customer_email": f"{first.lower()}.{last.lower()}{ch % 5000}@example.com",
        "customer_name": f"{first} {last}",
        "subscription": "sub_1Q" + _rand62(ch, 3, 22),
        "number_prefix": _rand62(ch, 5, 8).upper(),
        "send": send,
        "collection_method": "send_invoice" if send else "charge_automatically",
        "currency": _CURRENCIES[(h >> 21) % len(_CURRENCIES)],
        "description": '"Thanks for your business!"' if (h >> 24) % 3 == 0 else "null",
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{ACCOUNT}/test_{token}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/{ACCOUNT}/test_{token}/pdf?s=ap",
        "plan": _PLANS[(h >> 27) % len(_PLANS)],
        "status": status,
        "attempt_count": 0 if status == "draft" else 1,
        "attempted": "false" if status == "draft" else "true",
        "auto_advance": "false" if status in ("paid", "void") else "true",
        "paid": "true" if status == "paid" else "false",
    }
    subtotal = 0
    v["line_count"] = lines = 1 + (h >> 62) % 3
    for k in range(lines):
        bits = h >> (32 + 10 * k)
        quantity = 1 + bits % 5
        unit = 599 + (bits >> 3) % 100 * 100
        amount = unit * quantity
        subtotal += amount
        product = (bits >> 7) % len(_PRODUCTS)
        p = f"l{k}_"
        v[p + "amount"] = amount
        v[p + "description"] = (
            f"{quantity} x {_PRODUCTS[product]} (at ${unit // 100}.{unit % 100:02d} / month)"
        )
        v[p + "price"] = "price_1Q" + _rand62(product, 11, 22)
        v[p + "product"] = "prod_" + _rand62(product, 13, 14)
        v[p + "unit_amount"] = unit
        v[p + "quantity"] = quantity
    tax = subtotal * 8 // 100 if (h >> 30) % 2 else 0
    total = subtotal + tax
    paid = total if status == "paid" else 0
    v.update(subtotal=subtotal, tax=tax, total=total, amount_due=total, amount_paid=paid)
    v["amount_remaining"] = total - paid
    return v


def _indexed(i: int, v: dict[str, Any]) -> dict[str, Any]:
    """The values of invoice i that depend on its index (ids, number, timestamps)."""
    created = T0 - i * STEP
    index = _b62(i, INDEX_CHARS)
    fill = _FILL[i & 4095]
    inv = "in_1Q" + index + fill[:16]
    status = v["status"]
    out = {
        "id": inv,
        "created": created,
        "lines_url": f"/v1/invoices/{inv}/lines",
        "order_id": f"ord_{1_000_000 + i}",
        "number": f"{v['number_prefix']}-{1 + i // VARIANTS:04d}",
        "due_date": created + 30 * 86400 if v["send"] else "null",
        "period_end": created,
        "period_start": created - 30 * 86400,
        "finalized_at": "null" if status == "draft" else created + 3600,
        "paid_at": created + 7200 if status == "paid" else "null",
        "voided_at": created + 86400 if status == "void" else "null",
        "uncollectible_at": created + 86400 if status == "uncollectible" else "null",
    }
    for k in range(v["line_count"]):
        out[f"l{k}_id"] = f"il_1Q{index}{k}{fill[6:21]}"
    return out


_SKELETONS = [_template(_invoice_skeleton(n)) for n in (1, 2, 3)]
_B62_2 = [a + b for a in B62 for b in B62]

# How each per-index value is computed, as Python source over i, created, index, fill, inv, prefix.
_EXPRESSIONS = {
    "id": "inv",
    "created": "created",
    "lines_url": "'/v1/invoices/' + inv + '/lines'",
    "order_id": "'ord_%d' % (1000000 + i)",
    "number": "'%s-%04d' % (prefix, 1 + i // VARIANTS)",
    "due_date": "created + 2592000",
    "period_end": "created",
    "period_start": "created - 2592000",
    "finalized_at": "created + 3600",
    "paid_at": "created + 7200",
    "voided_at": "created + 86400",
    "uncollectible_at": "created + 86400",
    **{f"l{k}_id": f"'il_1Q' + index + '{k}' + fill[6:21]" for k in range(3)},
}
_PER_INDEX = frozenset(_indexed(0, {**_variant(0), "line_count": 3}))
assert set(_EXPRESSIONS) == _PER_INDEX
_FILLERS: dict[tuple[str, ...], Callable[[int, str], tuple[Any, ...]]] = {}


def _filler(names: tuple[str, ...]) -> Callable[[int, str], tuple[Any, ...]]:
    """A compiled function (i, prefix) -> the per-index values in hole order (one per pattern)."""
    if names not in _FILLERS:
        source = (
            "def fill_values(i, prefix):\n"
            "    created = T0 - i * STEP\n"
            "    index = _B62_2[i // 14776336 % 3844] + _B62_2[i // 3844 % 3844] + _B62_2[i % 3844]\n"
            "    fill = _FILL[i & 4095]\n"
            "    inv = 'in_1Q' + index + fill[:16]\n"
            f"    return ({''.join(_EXPRESSIONS[n] + ', ' for n in names)})\n"
        )
        scope: dict[str, Any] = {}
        exec(source, globals(), scope)  # noqa: S102 (our own constant source)
        _FILLERS[names] = scope["fill_values"]
    return _FILLERS[names]


def _prepare(j: int) -> tuple[str, Callable[[int, str], tuple[Any, ...]], str]:
    """Variant j's text with every value filled in except the per-index ones, left as %s holes.

    Per-index values that are null for this variant (e.g. paid_at of an open invoice) are filled too.
    """
    v = _variant(j)
    probe = _indexed(j, v)
    text, names = _SKELETONS[v["line_count"] - 1]
    holes: list[str] = []
    values: list[str] = []
    for n in names:
        if n in _PER_INDEX and probe[n] != "null":
            holes.append(n)
            values.append("%s")
        else:
            values.append(str(probe[n] if n in _PER_INDEX else v[n]).replace("%", "%%"))
    return text % tuple(values), _filler(tuple(holes)), v["number_prefix"]


_PREPARED = [_prepare(j) for j in range(VARIANTS)]


def invoice_json(i: int) -> str:
    text, fill_values, prefix = _PREPARED[i % VARIANTS]
    return text % fill_values(i, prefix)


def _invoice_json_slow(i: int) -> str:
    """The same text without the compiled fillers (for checking them)."""
    v = _variant(i % VARIANTS)
    text, names = _SKELETONS[v["line_count"] - 1]
    v.update(_indexed(i, v))
    return text % tuple(v[n] for n in names)


def invoice(i: int) -> dict[str, Any]:
    """Invoice i as Python objects (what a client sees)."""
    return orjson.loads(invoice_json(i))


# ---------------------------------------------------------------- routes

Reply = tuple[int, bytes, float]  # status, JSON body, seconds to wait first


def _stripe_error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> Reply:
    error: dict[str, Any] = {"message": message, "type": "invalid_request_error"}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return status, orjson.dumps({"error": error}), 0.0


def _int_param(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise _BadParam(name, f"Invalid integer: {value}") from None


class _BadParam(Exception):
    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param


def _list_window(
    query: dict[str, str], count: int, find: Callable[[str], int | None]
) -> tuple[int, int, bool]:
    """Stripe list protocol over indices 0..count-1: (start, stop, has_more)."""
    limit = _int_param(query, "limit")
    limit = 10 if limit is None else limit
    if not 1 <= limit <= 100:
        raise _BadParam("limit", "Invalid limit: must be between 1 and 100.")
    after = query.get("starting_after")
    start = 0
    if after:
        index = find(after)
        if index is None or index >= count:
            raise _BadParam("starting_after", f"No such object: '{after}'")
        start = index + 1
    stop = min(start + limit, count)
    return start, stop, stop < count


class Api:
    def __init__(self, records: int, fanout_items: int, latency: float):
        self.records = records
        self.fanout_items = fanout_items
        self.latency = latency

    def route(self, path: str, query_string: str, authorization: str | None) -> Reply:
        query = dict(parse_qsl(query_string))
        try:
            if path == "/stripe/v1/invoices":
                if authorization != AUTH:
                    return _stripe_error(401, "Invalid API Key provided.")
                return self._invoices(query)
            if path == "/fanout/items":
                return self._fanout_list(query)
            if path.startswith("/fanout/items/"):
                return self._fanout_item(path.rsplit("/", 1)[1])
        except _BadParam as exc:
            return _stripe_error(400, str(exc), param=exc.param, code="resource_missing")
        return _stripe_error(404, f"Unrecognized request URL (GET: {path}).")

    def _invoices(self, query: dict[str, str]) -> Reply:
        count = self.records
        gte = _int_param(query, "created[gte]")
        if gte is not None:  # newest first: created[gte] keeps a prefix of the list
            count = max(0, min(count, (T0 - gte) // STEP + 1))
        start, stop, more = _list_window(query, count, index_of)
        head = '{"object":"list","url":"/v1/invoices","has_more":%s,"data":[' % ("true" if more else "false")
        body = head + ",".join([invoice_json(i) for i in range(start, stop)]) + "]}"
        return 200, body.encode(), 0.0

    def _fanout_list(self, query: dict[str, str]) -> Reply:
        def find(object_id: str) -> int | None:
            return int(object_id[5:]) if object_id.startswith("item_") and object_id[5:].isdigit() else None

        start, stop, more = _list_window(query, self.fanout_items, find)
        data = [{"id": f"item_{i:06d}", "object": "item"} for i in range(start, stop)]
        return 200, orjson.dumps({"object": "list", "url": "/items", "has_more": more, "data": data}), 0.0

    def _fanout_item(self, item_id: str) -> Reply:
        if not (item_id.startswith("item_") and item_id[5:].isdigit()):
            return _stripe_error(404, f"No such item: '{item_id}'", code="resource_missing")
        i = int(item_id[5:])
        created = created_at(i)
        item = {
            "id": item_id,
            "object": "file",
            "name": f"report-{i:06d}.pdf",
            "mime_type": "application/pdf",
            "size": 10_000 + i,
            "created": created,
            "modified": created + 60,
        }
        return 200, orjson.dumps(item), self.latency


# ---------------------------------------------------------------- two servers


def _reason(status: int) -> str:
    return {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}.get(status, "Error")


def serve_threaded(api: Api, port: int, ready: Callable[[int], None], stop: threading.Event) -> None:
    """stdlib ThreadingHTTPServer, HTTP/1.1 keep-alive, a thread per connection."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            path, _, query = self.path.partition("?")
            status, body, wait = api.route(path, query, self.headers.get("Authorization"))
            if wait:
                time.sleep(wait)
            self.send_response_only(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

    server = Server(("127.0.0.1", port), Handler)
    ready(server.server_address[1])

    def stopper() -> None:
        stop.wait()
        server.shutdown()

    threading.Thread(target=stopper, daemon=True).start()
    server.serve_forever(poll_interval=0.2)
    server.server_close()


def serve_asyncio(api: Api, port: int, ready: Callable[[int], None], stop: threading.Event) -> None:
    """Raw asyncio streams: a minimal HTTP/1.1 keep-alive parser (GET only, no request bodies)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                if length:
                    await reader.readexactly(length)
                path, _, query = target.partition("?")
                if method != "GET":
                    status, body, wait = 405, b'{"error":{"message":"GET only"}}', 0.0
                else:
                    status, body, wait = api.route(path, query, headers.get("authorization"))
                if wait:
                    await asyncio.sleep(wait)
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                    % (status, _reason(status).encode(), len(body))
                )
                writer.write(body)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=128)
        ready(server.sockets[0].getsockname()[1])
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, stop.wait)
        server.close()

    asyncio.run(main())


IMPLS = {"threaded": serve_threaded, "asyncio": serve_asyncio}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--fanout-items", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--impl", choices=sorted(IMPLS), default="threaded")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    api = Api(args.records, args.fanout_items, args.latency)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def ready(port: int) -> None:
        print(f"PORT {port}", flush=True)

    IMPLS[args.impl](api, args.port, ready, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
