"""Webhook receiver load: signed Stripe deliveries against `manifold serve`, then the store checked.

    .venv/bin/python bench/webhook_load.py [--requests 20000] [--concurrency 64] [--duplicates 0.2]
        [--bad 0.005] [--port 0] [--dir /tmp] [--keep] [--profile] [--seed 1]

Starts `python -m engine.cli serve` in a temp dir (its own SQLite control store, Fernet key,
connectors/ of the project, STRIPE_WEBHOOK_SECRET set) and waits for /readyz. The client is
bench/load_client.py in this process: C keep-alive connections, pre-built requests, each
connection primed with one GET /healthz before the clock starts (steady state, not the accepts).

1. Trivial: GET /healthz, N requests: the same server's rate with no work behind it.
2. Deliveries: N POST /webhooks/stripe, signed as Stripe signs (fresh timestamps): unique event
   ids, `--duplicates` of them repeats of an id sent earlier (half right behind their original,
   so in flight at the same time, half anywhere later), `--bad` with a wrong signature and an id
   sent nowhere else.
3. Checks, with the server stopped: `webhook_events` holds exactly the unique ids sent, bodies
   byte-identical (no loss, no duplicates, nothing from a bad signature); `webhook_audit` counts
   accepted == unique, duplicate == repeats, rejected == bad; replies agree.

Prints rates, latency percentiles, server and client CPU per request and PASS/FAIL lines. The
performance targets (>= 1,000 stored deliveries/s, >= 40% of the trivial rate) are printed, not
asserted; the exit code is 1 when a correctness check fails. `--profile` runs the server under
bench/profile_engine.py (cProfile in every thread; rates drop) and prints the top functions.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import os
import pstats
import random
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psutil
from cryptography.fernet import Fernet
from load_client import LoadResult, run_load

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
SECRET = "whsec_sandbox_Ek2sT4jX1UuzM9e4b7mUXo0cZd5oVQ8M"
WRONG_SECRET = "whsec_not_the_endpoint_secret_0000000000"
HOST = "127.0.0.1"
STORED_RATE_TARGET = 1000.0
TRIVIAL_SHARE_TARGET = 0.40

UNIQUE, DUPLICATE, BAD = 0, 1, 2


# ---------------------------------------------------------------- the server


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    folder: Path

    @property
    def control_db(self) -> Path:
        return self.folder / "control.db"

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far: (the main thread, i.e. the event loop; every other thread)."""
        proc = psutil.Process(self.process.pid)
        main = other = 0.0
        for thread in proc.threads():
            if thread.id == proc.pid:
                main += thread.user_time + thread.system_time
            else:
                other += thread.user_time + thread.system_time
        return main, other


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def manifold_serve(folder: Path, port: int, *, profile: Path | None) -> Iterator[Server]:
    """`manifold serve` in its own process on 127.0.0.1; SIGINT on the way out (uvicorn's clean stop)."""
    env = {
        **os.environ,
        "MANIFOLD_CONTROL_URL": f"sqlite:///{folder / 'control.db'}",
        "MANIFOLD_SECRET_KEY": Fernet.generate_key().decode(),
        "MANIFOLD_CONNECTORS": str(ROOT / "connectors"),
        "MANIFOLD_ADMIN_TOKEN": "bench-admin-token",
        "MANIFOLD_WAREHOUSE_URL": f"duckdb:///{folder / 'warehouse.duckdb'}",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "STRIPE_SECRET_KEY": "sk_test_bench_0000000000000000",
        "PYTHONUNBUFFERED": "1",
    }
    cli = (
        ["-m", "engine.cli"] if profile is None else [str(ROOT / "bench" / "profile_engine.py"), str(profile)]
    )
    cmd = [str(PYTHON), *cli, "serve", "--host", HOST, "--port", str(port)]
    log = folder / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(port, process, folder)
    try:
        wait_ready(server, log)
        yield server
    finally:
        stop(process)


def wait_ready(server: Server, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=f"http://{HOST}:{server.port}", timeout=5) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                break
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise SystemExit(f"manifold serve did not become ready:\n{log.read_text(errors='replace')[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------- the deliveries


@dataclass
class Plan:
    """The deliveries in send order: request bytes, kind (UNIQUE/DUPLICATE/BAD) and event id."""

    requests: list[bytes]
    kinds: bytearray
    event_ids: list[str]
    bodies: dict[str, bytes]  # unique id -> the body sent

    def ids(self, kind: int) -> set[str]:
        return {e for e, k in zip(self.event_ids, self.kinds, strict=True) if k == kind}

    def count(self, kind: int) -> int:
        return self.kinds.count(kind)


def stripe_event(event_id: str, i: int, created: int) -> bytes:
    """An `invoice.paid` event shaped like Stripe's (about 1 KB)."""
    amount = 599 + (i % 97) * 100
    return orjson.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": created,
            "type": "invoice.paid",
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {
                "object": {
                    "id": f"in_1Qbench{i:010d}",
                    "object": "invoice",
                    "customer": f"cus_bench{i % 5000:06d}",
                    "customer_email": f"customer{i % 5000}@example.com",
                    "currency": "usd",
                    "status": "paid",
                    "subtotal": amount,
                    "total": amount,
                    "amount_due": amount,
                    "amount_paid": amount,
                    "amount_remaining": 0,
                    "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_bench/test_{i:012d}",
                    "lines": {
                        "object": "list",
                        "data": [
                            {
                                "id": f"il_1Qbench{i:010d}",
                                "amount": amount,
                                "description": "1 x Pro plan (at $5.99 / month)",
                                "price": {"id": "price_1Qbench", "unit_amount": amount},
                                "quantity": 1,
                            }
                        ],
                        "has_more": False,
                    },
                    "metadata": {"order_id": f"ord_{1_000_000 + i}"},
                    "status_transitions": {"paid_at": created, "finalized_at": created - 60},
                }
            },
        }
    )


def signed_request(port: int, body: bytes, secret: str, t: int) -> bytes:
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    head = (
        f"POST /webhooks/stripe HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Stripe-Signature: t={t},v1={digest}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def plan_deliveries(port: int, n: int, *, duplicates: float, bad: float, concurrency: int, seed: int) -> Plan:
    """Shuffle by sort key: unique i at i; a repeat just behind its original (within the
    concurrency, so both are in flight) or anywhere later; bad ones anywhere."""
    rng = random.Random(seed)
    n_bad = round(n * bad)
    n_dup = min(round(n * duplicates), n - n_bad - 1)
    n_unique = n - n_bad - n_dup
    now = int(time.time())
    run = f"{seed:x}{now:x}"
    keyed: list[tuple[float, int, str, bytes]] = []
    bodies: dict[str, bytes] = {}
    originals: list[bytes] = []
    for i in range(n_unique):
        event_id = f"evt_{run}_{i:08d}"
        body = stripe_event(event_id, i, now)
        bodies[event_id] = body
        request = signed_request(port, body, SECRET, now)
        originals.append(request)
        keyed.append((float(i), UNIQUE, event_id, request))
    ids = list(bodies)
    for d in range(n_dup):
        k = rng.randrange(n_unique)
        behind = rng.uniform(0.1, concurrency) if d % 2 == 0 else rng.uniform(0.1, n_unique - k)
        keyed.append((k + behind, DUPLICATE, ids[k], originals[k]))
    for b in range(n_bad):
        event_id = f"evt_{run}_bad{b:06d}"
        body = stripe_event(event_id, n_unique + b, now)
        if b % 2 == 0:
            request = signed_request(port, body, WRONG_SECRET, now)
        else:  # signed, then the body changed on the way
            request = signed_request(port, body, SECRET, now).replace(
                b'"amount_remaining":0', b'"amount_remaining":1'
            )
        keyed.append((rng.uniform(0, n_unique), BAD, event_id, request))
    keyed.sort(key=lambda item: item[0])
    return Plan(
        requests=[r for *_, r in keyed],
        kinds=bytearray(k for _, k, _, _ in keyed),
        event_ids=[e for _, _, e, _ in keyed],
        bodies=bodies,
    )


# ---------------------------------------------------------------- a phase, measured


@dataclass
class Phase:
    label: str
    result: LoadResult
    server_main_cpu: float  # seconds, the event loop's thread
    server_other_cpu: float  # seconds, every other thread (the inbox writer, the thread pool)
    client_cpu: float  # seconds, this process
    machine_cpu: float  # seconds, every process on the box (to see what else ran meanwhile)

    def per_request_us(self, seconds: float) -> float:
        return seconds / max(1, self.result.count) * 1e6

    @property
    def others_cpu(self) -> float:
        return max(0.0, self.machine_cpu - self.server_main_cpu - self.server_other_cpu - self.client_cpu)

    @property
    def loop_bound_rate(self) -> float:
        """Requests/s if the event loop's thread had a core to itself: what its CPU allows."""
        return self.result.count / self.server_main_cpu if self.server_main_cpu else 0.0


def busy_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def measured(label: str, server: Server, requests: list[bytes], concurrency: int) -> Phase:
    main0, other0 = server.cpu()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    busy0 = busy_seconds()
    result = run_load(
        HOST, server.port, requests, concurrency=concurrency, prime=healthz_request(server.port)
    )
    busy1 = busy_seconds()
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    main1, other1 = server.cpu()
    client = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    return Phase(label, result, main1 - main0, other1 - other0, client, busy1 - busy0)


def healthz_request(port: int) -> bytes:
    return f"GET /healthz HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: bench\r\n\r\n".encode()


# ---------------------------------------------------------------- checks


@dataclass
class Stored:
    events: dict[str, bytes]  # event id -> body
    rows: int
    audit: dict[str, int]  # outcome -> rows
    accepted_twice: int  # event ids with more than one `accepted` audit row


def read_store(db: Path) -> Stored:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT event_id, body FROM webhook_events WHERE connector = 'stripe'").fetchall()
        audit = dict(
            con.execute(
                "SELECT outcome, COUNT(*) FROM webhook_audit WHERE connector = 'stripe' GROUP BY outcome"
            ).fetchall()
        )
        (twice,) = con.execute(
            "SELECT COUNT(*) FROM (SELECT event_id FROM webhook_audit WHERE connector = 'stripe'"
            " AND outcome = 'accepted' GROUP BY event_id HAVING COUNT(*) > 1)"
        ).fetchone()
    finally:
        con.close()
    return Stored({e: bytes(b) for e, b in rows}, len(rows), audit, int(twice))


def verdict(ok: bool, text: str) -> bool:
    print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return ok


def check_store(plan: Plan, stored: Stored, result: LoadResult) -> bool:
    unique, bad = plan.ids(UNIQUE), plan.ids(BAD)
    n_unique, n_dup, n_bad = len(unique), plan.count(DUPLICATE), plan.count(BAD)
    kept = set(stored.events)
    lost = unique - kept
    extra = kept - unique
    changed = sum(1 for e in unique & kept if stored.events[e] != plan.bodies[e])
    statuses = result.status_counts()
    accepted_replies = sum(
        1 for s, d in zip(result.statuses, result.duplicates, strict=True) if s == 200 and not d
    )
    duplicate_replies = sum(
        1 for s, d in zip(result.statuses, result.duplicates, strict=True) if s == 200 and d
    )
    wrong = [
        (kind, s)
        for kind, s in zip(plan.kinds, result.statuses, strict=True)
        if (kind == BAD and s != 401) or (kind != BAD and s != 200)
    ]
    audit = stored.audit
    checks = [
        verdict(
            not lost and changed == 0,
            f"zero lost: {len(kept & unique):,} of {n_unique:,} unique ids stored, {changed} bodies differ",
        ),
        verdict(
            stored.rows == len(kept) and not (extra - bad) and stored.accepted_twice == 0,
            f"zero duplicated: {stored.rows:,} rows for {len(kept):,} ids, {len(extra - bad)} unknown ids, "
            f"{stored.accepted_twice} ids accepted twice",
        ),
        verdict(not (kept & bad), f"bad signatures not stored: {len(kept & bad)} of {n_bad} bad ids stored"),
        verdict(
            (audit.get("accepted", 0), audit.get("duplicate", 0), audit.get("rejected", 0))
            == (n_unique, n_dup, n_bad)
            and set(audit) <= {"accepted", "duplicate", "rejected"},
            f"audit: accepted {audit.get('accepted', 0):,}/{n_unique:,}, duplicate {audit.get('duplicate', 0):,}"
            f"/{n_dup:,}, rejected {audit.get('rejected', 0):,}/{n_bad:,}, other "
            f"{sum(v for k, v in audit.items() if k not in ('accepted', 'duplicate', 'rejected'))}",
        ),
        verdict(
            not wrong and (accepted_replies, duplicate_replies) == (n_unique, n_dup),
            f"replies: {accepted_replies:,} stored + {duplicate_replies:,} duplicate (expected {n_unique:,} + "
            f"{n_dup:,}), {len(wrong)} unexpected statuses {dict(statuses)}",
        ),
    ]
    return all(checks)


# ---------------------------------------------------------------- output


def describe(phase: Phase) -> None:
    r = phase.result
    print(
        f"{phase.label}: {r.count:,} requests in {r.seconds:.2f} s = {r.rate:,.0f}/s; "
        f"latency p50 {r.percentile(0.5) * 1000:.1f} ms, p99 {r.percentile(0.99) * 1000:.1f} ms, "
        f"max {max(r.latencies) * 1000:.1f} ms; statuses {dict(sorted(r.status_counts().items()))}"
    )
    wall = r.seconds or 1.0
    print(
        f"  CPU per request: server event loop {phase.per_request_us(phase.server_main_cpu):.0f} us "
        f"({phase.server_main_cpu / wall:.0%} of a core), server other threads "
        f"{phase.per_request_us(phase.server_other_cpu):.0f} us ({phase.server_other_cpu / wall:.0%}), "
        f"client {phase.per_request_us(phase.client_cpu):.0f} us ({phase.client_cpu / wall:.0%}); "
        f"other processes {phase.others_cpu / wall:.0%} of a core"
    )
    print(f"  the event loop's CPU allows {phase.loop_bound_rate:,.0f}/s on a core of its own")


def print_profile(path: Path, top: int = 30) -> None:
    text = io.StringIO()
    stats = pstats.Stats(str(path), stream=text)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats("/engine/", top)
    print(
        "\ncProfile of the server, every thread, wall-clock (times inflated by profiling; the inbox "
        "writer's queue wait and SQLite calls count as time)"
    )
    print(text.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000, help="requests per phase")
    parser.add_argument("--concurrency", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--duplicates", type=float, default=0.2, help="share of deliveries that repeat an id")
    parser.add_argument("--bad", type=float, default=0.005, help="share of deliveries with a bad signature")
    parser.add_argument("--port", type=int, default=0, help="server port (0: a free one)")
    parser.add_argument("--dir", type=Path, default=None, help="where the temp dir goes (e.g. /dev/shm)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (control.db, server.log)")
    parser.add_argument("--profile", action="store_true", help="server under cProfile, every thread")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.requests < 10 or not 0 <= args.duplicates < 1 or not 0 <= args.bad < 1:
        parser.error("need --requests >= 10 and --duplicates, --bad in [0, 1)")

    folder = Path(tempfile.mkdtemp(prefix="manifold-webhook-load-", dir=args.dir))
    port = args.port or free_port()
    profile = folder / "server.prof" if args.profile else None
    ok = True
    try:
        print(
            f"Webhook receiver load: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
            f"{args.requests:,} requests per phase over {args.concurrency} connections, "
            f"control store {folder / 'control.db'}{' (server profiled)' if profile else ''}"
        )
        with manifold_serve(folder, port, profile=profile) as server:
            run_load(HOST, port, [healthz_request(port)] * 2000, concurrency=args.concurrency)  # warm-up
            trivial = measured(
                "GET /healthz", server, [healthz_request(port)] * args.requests, args.concurrency
            )
            plan = plan_deliveries(
                port,
                args.requests,
                duplicates=args.duplicates,
                bad=args.bad,
                concurrency=args.concurrency,
                seed=args.seed,
            )
            deliveries = measured("POST /webhooks/stripe", server, plan.requests, args.concurrency)
        n_unique, n_dup, n_bad = plan.count(UNIQUE), plan.count(DUPLICATE), plan.count(BAD)
        print(f"\ndeliveries: {n_unique:,} unique, {n_dup:,} duplicates, {n_bad:,} bad signatures")
        describe(trivial)
        describe(deliveries)
        r = deliveries.result
        stored_rate = (
            sum(1 for s, d in zip(r.statuses, r.duplicates, strict=True) if s == 200 and not d) / r.seconds
        )
        share = r.rate / trivial.result.rate if trivial.result.rate else 0.0
        print(
            f"stored (new events acknowledged) {stored_rate:,.0f}/s; all deliveries {r.rate:,.0f}/s = "
            f"{share:.1%} of /healthz's {trivial.result.rate:,.0f}/s"
        )
        loop_share = deliveries.loop_bound_rate / trivial.loop_bound_rate if trivial.loop_bound_rate else 0.0
        print(
            f"by event-loop CPU alone (less sensitive to other load on the box): stored "
            f"{deliveries.loop_bound_rate * n_unique / r.count:,.0f}/s, {loop_share:.1%} of the trivial\n"
        )
        verdict(
            stored_rate >= STORED_RATE_TARGET,
            f">= {STORED_RATE_TARGET:,.0f} stored deliveries/s: {stored_rate:,.0f}/s",
        )
        verdict(
            share >= TRIVIAL_SHARE_TARGET, f">= {TRIVIAL_SHARE_TARGET:.0%} of the trivial rate: {share:.1%}"
        )
        ok = check_store(plan, read_store(server.control_db), r)
        if not ok:
            print(f"server log (tail):\n{(folder / 'server.log').read_text(errors='replace')[-3000:]}")
        if profile is not None and profile.exists():
            print_profile(profile)
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
