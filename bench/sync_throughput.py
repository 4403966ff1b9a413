"""Sync throughput, memory and fan-out figures for the engine. Prints figures; asserts no timings.

    .venv/bin/python bench/sync_throughput.py [--records 200000] [--scale] [--latency 0.05]
        [--skip-fanout] [--profile] [--spec-rate-limit] [--server threaded|asyncio]
        [--postgres postgresql://postgres@127.0.0.1:5432/test | --skip-postgres]

Takes about 4 minutes on 2 CPUs (about 12 with --scale). Nothing is asserted about timings;
only that every run loaded the expected number of rows.

1. Throughput: `manifold sync stripe --stream invoices --sandbox-url ...` in a subprocess
   against bench/bench_server.py (its own process, Stripe-shaped invoices), timed from spawn
   to exit, peak RSS from the kernel (wait4 ru_maxrss) and from psutil polls every 50 ms;
   into DuckDB, then the same records into Postgres (`--warehouse postgresql://...?schema=
   bench_<pid>`, the schema dropped afterwards), and the Postgres/DuckDB records/s ratio.
2. Ceiling: bench/ceiling_loop.py, a plain httpx -> orjson -> same columns -> pyarrow ->
   DuckDB loop on the same server, and the same loop fetching only (server + HTTP share).
3. Memory: engine peak RSS at 100,000 records, and at 1,000,000 with --scale.
4. Fan-out: bench/fanout.yaml, one child request per parent id, each answered after --latency,
   under http.concurrency, against the ideal children x latency / concurrency.

The engine runs use a temp copy of connectors/stripe.yaml without `http.rate_limit` (25 req/s,
meant for live Stripe, which would cap a sandbox run at 2,500 records/s and measure nothing
else); --spec-rate-limit keeps the spec as it is.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = ROOT / ".venv" / "bin" / "python"
MANIFOLD = ROOT / ".venv" / "bin" / "manifold"
MB = 1024 * 1024
POLL = 0.05
RUN_TIMEOUT = 3600.0


@dataclass
class Measured:
    label: str
    wall: float
    peak_rss: int  # bytes, the kernel's high-water mark for the child (ru_maxrss)
    polled_rss: int  # bytes, the largest psutil sample of the child and its children
    code: int
    stdout: str
    stderr: str


def measure(label: str, cmd: list[str], *, env: dict[str, str], tmp: Path) -> Measured:
    """Run cmd from the repo root; wall time from spawn to exit, peak RSS two ways."""
    out_path, err_path = tmp / "child.out", tmp / "child.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err)
        watched = psutil.Process(proc.pid)
        polled = 0
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                try:
                    rss = watched.memory_info().rss
                    rss += sum(c.memory_info().rss for c in watched.children(recursive=True))
                    polled = max(polled, rss)
                except psutil.Error:
                    pass
                if time.perf_counter() - started > RUN_TIMEOUT:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(POLL)
        except BaseException:
            proc.kill()
            os.waitpid(proc.pid, 0)
            proc.returncode = -9
            raise
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4; Popen must not wait
    return Measured(
        label,
        wall,
        usage.ru_maxrss * 1024,
        polled,
        proc.returncode,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
    )


def check(run: Measured) -> Measured:
    if run.code != 0:
        raise SystemExit(
            f"{run.label} failed with exit code {run.code}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        )
    return run


@contextmanager
def bench_server(tmp: Path, *, records: int, fanout_items: int, latency: float, impl: str) -> Iterator[str]:
    """bench/bench_server.py in its own process; yields its URL; terminated on the way out."""
    cmd = [str(PYTHON), str(BENCH / "bench_server.py"), "--records", str(records)]
    cmd += ["--fanout-items", str(fanout_items), "--latency", str(latency), "--impl", impl]
    with (tmp / "server.err").open("wb") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            raise SystemExit(f"bench server did not start: {(tmp / 'server.err').read_text()[-2000:]}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def write_connectors(tmp: Path, *, keep_rate_limit: bool, concurrency: int) -> Path:
    """A temp connectors dir: stripe.yaml (rate limit dropped unless asked) and fanout.yaml."""
    folder = tmp / "connectors"
    folder.mkdir()
    (folder / "fixtures").symlink_to(ROOT / "connectors" / "fixtures")  # the spec checks they exist
    stripe = (ROOT / "connectors" / "stripe.yaml").read_text()
    if not keep_rate_limit:
        stripe, count = re.subn(r"(?m)^  rate_limit: .*\n", "", stripe)
        if count != 1:
            raise SystemExit("connectors/stripe.yaml: expected one `  rate_limit:` line under http")
    (folder / "stripe.yaml").write_text(stripe)
    fanout, count = re.subn(
        r"(?m)^  concurrency: \d+$", f"  concurrency: {concurrency}", (BENCH / "fanout.yaml").read_text()
    )
    if count != 1:
        raise SystemExit("bench/fanout.yaml: expected one `  concurrency:` line under http")
    (folder / "fanout.yaml").write_text(fanout)
    return folder


def warehouse_figures(url: str, table: str) -> tuple[int, dict[str, Any]]:
    """Rows in the table and the last run's stats (seconds inside the stream, requests...)."""
    count = f'SELECT count(*) FROM "{table}"'
    last_stats = "SELECT stats FROM _manifold_runs ORDER BY started_at DESC LIMIT 1"
    if url.startswith("duckdb:///"):
        con = duckdb.connect(url.removeprefix("duckdb:///"), read_only=True)
        try:
            rows = con.execute(count).fetchone()
            stats = con.execute(last_stats).fetchone()
        finally:
            con.close()
        return (int(rows[0]) if rows else 0), (orjson.loads(stats[0]) if stats and stats[0] else {})
    base, schema = postgres_schema(url)
    with psycopg.connect(base, autocommit=True) as pg:
        pg.execute(f'SET search_path TO "{schema}"')
        rows = pg.execute(count).fetchone()
        stats = pg.execute(last_stats).fetchone()
    return (int(rows[0]) if rows else 0), (dict(stats[0]) if stats and stats[0] else {})


def postgres_schema(url: str) -> tuple[str, str]:
    """`postgresql://h/db?schema=s` -> (`postgresql://h/db`, `s`)."""
    base, _, schema = url.partition("?schema=")
    return base, schema


def drop_postgres_schema(url: str) -> None:
    base, schema = postgres_schema(url)
    with psycopg.connect(base, autocommit=True) as pg:
        pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def engine_sync(
    connector: str,
    stream: str | None,
    url: str,
    *,
    tmp: Path,
    env: dict[str, str],
    table: str,
    label: str,
    postgres: str | None = None,
) -> tuple[Measured, int, dict[str, Any]]:
    """One `manifold sync` into a fresh DuckDB file, or into a fresh schema of `postgres`."""
    warehouse = f"duckdb:///{tmp / f'{label}.duckdb'}"
    if postgres:
        warehouse = f"{postgres}?schema=bench_{os.getpid()}"
        drop_postgres_schema(warehouse)
    cmd = [str(MANIFOLD), "sync", connector, "--sandbox-url", url, "--warehouse", warehouse]
    if stream:
        cmd += ["--stream", stream]
    try:
        run = check(measure(label, cmd, env=env, tmp=tmp))
        rows, stats = warehouse_figures(warehouse, table)
    finally:
        if postgres:
            drop_postgres_schema(warehouse)
        for leftover in tmp.glob(f"{label}.duckdb*"):
            leftover.unlink()
    return run, rows, stats


def ceiling(url: str, mode: str, *, tmp: Path, env: dict[str, str]) -> tuple[Measured, int]:
    db = tmp / f"ceiling-{mode}.duckdb"
    cmd = [str(PYTHON), str(BENCH / "ceiling_loop.py"), "--url", url, "--mode", mode, "--db", str(db)]
    run = check(measure(f"ceiling {mode}", cmd, env=env, tmp=tmp))
    found = re.search(r"rows=(\d+)", run.stdout)
    for leftover in tmp.glob(f"ceiling-{mode}.duckdb*"):
        leftover.unlink()
    return run, int(found.group(1)) if found else 0


def profile_engine(url: str, *, tmp: Path, env: dict[str, str], top: int = 25) -> str:
    import io
    import pstats

    out = tmp / "engine.prof"
    db = tmp / "profile.duckdb"
    cmd = [str(PYTHON), str(BENCH / "profile_engine.py"), str(out), "sync", "stripe", "--stream", "invoices"]
    cmd += ["--sandbox-url", url, "--warehouse", f"duckdb:///{db}"]
    check(measure("profile", cmd, env=env, tmp=tmp))
    text = io.StringIO()
    stats = pstats.Stats(str(out), stream=text)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return text.getvalue()


# ---------------------------------------------------------------- output


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print(_row(header, widths))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(_row(r, widths))


def run_row(label: str, records: int, run: Measured, stream_seconds: float | None = None) -> list[str]:
    return [
        label,
        f"{records:,}",
        f"{run.wall:.2f}",
        "-" if stream_seconds is None else f"{stream_seconds:.2f}",
        f"{records / run.wall:,.0f}",
        f"{run.peak_rss / MB:,.0f}",
        f"{run.polled_rss / MB:,.0f}",
    ]


RUN_HEADER = ["run", "records", "wall s", "stream s", "records/s", "peak RSS MB", "polled MB"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000, help="records for the throughput runs")
    parser.add_argument("--scale", action="store_true", help="also an engine run at 1,000,000 records")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per fan-out child request")
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument("--fanout-items", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=10, help="http.concurrency of the fan-out spec")
    parser.add_argument(
        "--server",
        choices=["threaded", "asyncio"],
        default="threaded",
        help="bench server (equal within noise)",
    )
    parser.add_argument("--profile", action="store_true", help="also a cProfile'd engine run (all threads)")
    parser.add_argument("--profile-records", type=int, default=50_000)
    parser.add_argument(
        "--spec-rate-limit", action="store_true", help="keep stripe.yaml's http.rate_limit (25 req/s)"
    )
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="Postgres database for the Postgres throughput run (a bench_<pid> schema, dropped after)",
    )
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="manifold-bench-"))
    try:
        connectors = write_connectors(tmp, keep_rate_limit=args.spec_rate_limit, concurrency=args.concurrency)
        env = {**os.environ, "MANIFOLD_CONNECTORS": str(connectors), "PYTHONUNBUFFERED": "1"}
        env.pop("MANIFOLD_WAREHOUSE_URL", None)
        server = {"fanout_items": args.fanout_items, "latency": args.latency, "impl": args.server}
        print(
            f"Manifold sync benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
            f"server={args.server}, stripe http.rate_limit "
            f"{'as in the spec' if args.spec_rate_limit else 'removed (temp copy of the spec)'}"
        )

        # 1-2. throughput and its ceiling, same server
        n = args.records
        with bench_server(tmp, records=n, **server) as url:
            engine, rows, stats = engine_sync(
                "stripe", "invoices", url, tmp=tmp, env=env, table="invoices", label="engine"
            )
            if rows != n:
                raise SystemExit(f"engine loaded {rows:,} rows, expected {n:,}")
            postgres: Measured | None = None
            pg_stats: dict[str, Any] = {}
            if not args.skip_postgres:
                postgres, pg_rows, pg_stats = engine_sync(
                    "stripe",
                    "invoices",
                    url,
                    tmp=tmp,
                    env=env,
                    table="invoices",
                    label="postgres",
                    postgres=args.postgres,
                )
                if pg_rows != n:
                    raise SystemExit(f"engine loaded {pg_rows:,} rows into Postgres, expected {n:,}")
            full, full_rows = ceiling(url, "full", tmp=tmp, env=env)
            arrow, arrow_rows = ceiling(url, "arrow", tmp=tmp, env=env)
            parse, parse_rows = ceiling(url, "parse", tmp=tmp, env=env)
            fetch, fetch_rows = ceiling(url, "fetch", tmp=tmp, env=env)
            if {full_rows, arrow_rows, parse_rows, fetch_rows} != {n}:
                raise SystemExit(
                    f"ceiling loops read {full_rows}/{arrow_rows}/{parse_rows}/{fetch_rows} rows"
                )
        table(
            f"Throughput: Stripe invoices, {n:,} records, 100 per page",
            RUN_HEADER,
            [
                run_row("engine: manifold sync -> DuckDB", n, engine, stats.get("seconds")),
                *(
                    [run_row("engine: manifold sync -> Postgres", n, postgres, pg_stats.get("seconds"))]
                    if postgres
                    else []
                ),
                run_row("ceiling: httpx+orjson+columns+arrow+duckdb", n, full),
                run_row("ceiling, no DuckDB load: httpx+orjson+columns+arrow", n, arrow),
                run_row("ceiling, no columns/load: httpx+orjson", n, parse),
                run_row("ceiling, fetch only: server+httpx", n, fetch),
            ],
        )
        print(
            f"engine / ceiling: {(n / engine.wall) / (n / full.wall):.2f} of the ceiling's records/s "
            f"(engine takes {engine.wall / full.wall:.2f}x as long; "
            f"{engine.wall - stats.get('seconds', engine.wall):.2f} s of the engine's wall is outside the stream: "
            "start-up, imports, spec load)"
        )
        if postgres:
            print(
                f"Postgres / DuckDB: {n / postgres.wall:,.0f} / {n / engine.wall:,.0f} records/s "
                f"= {engine.wall / postgres.wall:.2f} (target >= 0.5)"
            )

        # 3. memory scaling
        sizes = [100_000, 1_000_000] if args.scale else [100_000]
        memory: list[tuple[int, Measured, float | None]] = []
        for size in sizes:
            with bench_server(tmp, records=size, **server) as url:
                run, rows, stats = engine_sync(
                    "stripe", "invoices", url, tmp=tmp, env=env, table="invoices", label=f"engine-{size}"
                )
                if rows != size:
                    raise SystemExit(f"engine loaded {rows:,} rows, expected {size:,}")
                memory.append((size, run, stats.get("seconds")))
        memory.append((n, engine, None))
        memory.sort(key=lambda m: (m[0], m[2] is None))
        table(
            "Memory: engine peak RSS by records synced",
            RUN_HEADER,
            [run_row(f"engine {size:,}", size, run, sec) for size, run, sec in memory],
        )
        base = next(run for size, run, _ in memory if size == 100_000)
        for size, run, _ in memory:
            if size > 100_000:
                print(f"peak RSS {size:,} / 100,000: {run.peak_rss / base.peak_rss:.2f}x")
        print(f"ceiling loop peak RSS at {n:,}: {full.peak_rss / MB:,.0f} MB")

        # 4. fan-out
        if not args.skip_fanout:
            m, lat, conc = args.fanout_items, args.latency, args.concurrency
            with bench_server(tmp, records=1, **server) as url:
                run, rows, stats = engine_sync(
                    "fanout", None, url, tmp=tmp, env=env, table="files", label="fanout"
                )
            if rows != m:
                raise SystemExit(f"fan-out loaded {rows:,} rows, expected {m:,}")
            ideal = m * lat / conc
            stream_s = float(stats.get("seconds") or 0.0)
            table(
                f"Fan-out: {m:,} child requests x {lat * 1000:.0f} ms, http.concurrency {conc}",
                [
                    "run",
                    "children",
                    "wall s",
                    "stream s",
                    "ideal s",
                    "stream/ideal",
                    "wall/ideal",
                    "requests",
                ],
                [
                    [
                        "engine: manifold sync fanout",
                        f"{m:,}",
                        f"{run.wall:.2f}",
                        f"{stream_s:.2f}",
                        f"{ideal:.2f}",
                        f"{stream_s / ideal:.2f}",
                        f"{run.wall / ideal:.2f}",
                        f"{stats.get('requests', 0):,}",
                    ]
                ],
            )

        if args.profile:
            size = args.profile_records
            with bench_server(tmp, records=size, **server) as url:
                profile = profile_engine(url, tmp=tmp, env=env)
            print(
                f"\ncProfile of an engine run ({size:,} records, every thread; times inflated by profiling)"
            )
            print(profile)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
