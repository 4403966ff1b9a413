"""The `manifold` command: validate, sync, demo, schema, sandbox. Thin: it parses, calls, prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from . import runner
from .errors import ManifoldError, SpecError
from .report import Reporter, print_summary
from .spec.loader import connector_files, load_connector
from .spec.schema import render_schema

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Manifold: declarative connectors.")


@app.callback()
def _process_setup() -> None:
    """Process-wide settings of the command (the engine as a library leaves them alone)."""
    import pyarrow as pa

    # The system allocator hands freed batch memory back; mimalloc keeps ~30 MB more resident.
    pa.set_memory_pool(pa.system_memory_pool())


def _report(summary: str, errors: list[str], *, failed: bool) -> None:
    """A round's one-line summary, its first errors on stderr; exit 1 when something failed."""
    typer.echo(summary)
    for error in errors[:20]:
        typer.echo(f"  {error}", err=True)
    raise typer.Exit(1 if failed else 0)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Spec files or folders (default: connectors/)")
    ] = None,
    sandbox: Annotated[bool, typer.Option(help="Check env vars against the sandbox's values")] = False,
) -> None:
    """Check connector specs; every problem with file:line:column. Env vars a connector needs and
    does not have are listed, not failed: they matter when it syncs live, not for the spec."""
    import os

    files = connector_files(paths or [runner.connectors_dir()])
    problems = 0
    for file in files:
        try:
            if sandbox:
                loaded = runner.load_for_run(str(file), sandbox=True)
            else:
                loaded = load_connector(file, check_env=False)
            notes = []
            if not sandbox and not runner.is_enabled(loaded.spec):
                notes.append(f"disabled: {loaded.spec.flag} is not set")
            missing = [name for name in loaded.spec.env if not os.environ.get(name)]
            if not sandbox and missing:
                notes.append(f"to sync live, set {', '.join(missing)}")
            typer.echo(f"ok  {file}{' (' + '; '.join(notes) + ')' if notes else ''}")
        except SpecError as exc:
            problems += len(exc.problems)
            for problem in exc.problems:
                typer.echo(str(problem), err=True)
    if problems:
        typer.echo(f"{problems} problem(s) in {len(files)} file(s); see docs/spec-reference.md", err=True)
        raise typer.Exit(1)


@app.command()
def sync(
    connector: Annotated[str, typer.Argument(help="Connector name (connectors/NAME.yaml) or a spec path")],
    stream: Annotated[list[str] | None, typer.Option("--stream", "-s", help="Only these streams")] = None,
    connection: Annotated[str, typer.Option(help="Connection id")] = "default",
    config: Annotated[str | None, typer.Option(help="Connection config: JSON or @file.json")] = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Forget saved state, read everything")
    ] = False,
    sandbox: Annotated[bool, typer.Option(help="Run against the built-in offline sandbox")] = False,
    sandbox_url: Annotated[
        str | None, typer.Option(help="Run against a sandbox already serving here")
    ] = None,
    warehouse: Annotated[
        str | None, typer.Option(help="Warehouse URL (default MANIFOLD_WAREHOUSE_URL)")
    ] = None,
) -> None:
    """Sync one connector's streams into the warehouse."""
    try:
        loaded = runner.load_for_run(connector, sandbox=sandbox or bool(sandbox_url))
        parsed = runner.parse_config(config)
        reporter = Reporter(sys.stderr)
        destination = runner.open_destination(warehouse)
        try:
            if sandbox and not sandbox_url:
                with runner.running_sandbox([loaded]) as url:
                    results = runner.run_sync(
                        loaded,
                        streams=stream,
                        connection_id=connection,
                        config=parsed,
                        full_refresh=full_refresh,
                        sandbox_url=url,
                        destination=destination,
                        progress=reporter.update,
                    )
            else:
                results = runner.run_sync(
                    loaded,
                    streams=stream,
                    connection_id=connection,
                    config=parsed,
                    full_refresh=full_refresh,
                    sandbox_url=sandbox_url,
                    destination=destination,
                    progress=reporter.update,
                )
        finally:
            reporter.close()
            destination.close()
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    print_summary(results)
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        where = f"{first.connector}.{first.stream}"
        error = first.error or "failed"
        raise _fail(error if error.startswith(where) else f"{where}: {error}")


@app.command()
def demo(
    warehouse: Annotated[
        str | None, typer.Option(help="Warehouse URL (default MANIFOLD_WAREHOUSE_URL)")
    ] = None,
) -> None:
    """Start the sandbox and sync every connector into the warehouse; print what landed."""
    from .demo import run_demo

    try:
        code = run_demo(warehouse)
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    raise typer.Exit(code)


@app.command("connect")
def connect_command(
    connector: Annotated[str, typer.Argument(help="Connector name (connectors/NAME.yaml) or a spec path")],
    connection: Annotated[str, typer.Option(help="Connection id, e.g. the user's id")],
    port: Annotated[int, typer.Option(help="Local callback port on 127.0.0.1 (0 picks one)")] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the browser")] = 300,
    sandbox_url: Annotated[str | None, typer.Option(help="Connect against a running sandbox")] = None,
    approve: Annotated[
        bool, typer.Option(help="With --sandbox-url: open the URL yourself (the sandbox approves at once)")
    ] = False,
) -> None:
    """Connect a user's account: prints the authorize URL, waits for the redirect, stores the tokens."""
    from .connect import connect

    try:
        loaded = runner.load_for_run(connector, sandbox=bool(sandbox_url))
        if loaded.spec.connection_secrets and loaded.spec.auth.type != "oauth2":
            from .connect import store_secrets
            from .control import ConnectionStore, Vault, open_control

            values = {
                name: typer.prompt(f"{loaded.spec.title} {name}", hide_input=True)
                for name in loaded.spec.connection_secrets
            }
            record = store_secrets(loaded, connection, values, store=ConnectionStore(open_control(), Vault()))
            typer.echo(f"connected {record.connector}/{record.id}")
            return
        if approve:
            from .connect import connect_in_sandbox

            if not sandbox_url:
                raise _fail("--approve plays the browser against the sandbox only: add --sandbox-url")
            record = connect_in_sandbox(loaded, connection, sandbox_url)
        else:
            record = connect(
                loaded,
                connection,
                port=port,
                timeout=timeout,
                sandbox_url=sandbox_url,
                announce=lambda text: typer.echo(text, err=False),
            )
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"connected {record.connector}/{record.id} (account {record.account_id or 'unknown'})")


@app.command("configure")
def configure_command(
    connector: Annotated[str, typer.Argument(help="Connector name (connectors/NAME.yaml) or a spec path")],
    connection: Annotated[str, typer.Option(help="Connection id")],
    set_: Annotated[
        list[str], typer.Option("--set", help="KEY=VALUE (VALUE as JSON when it parses, else text)")
    ],
) -> None:
    """Set values of a connection's config, checked against the connector's config schema."""
    import json

    from .connect import configure
    from .control import ConnectionStore, Vault, open_control
    from .spec.loader import load_connector

    values: dict[str, object] = {}
    for pair in set_:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise _fail(f"--set takes KEY=VALUE, not {pair!r}")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    try:
        loaded = load_connector(runner.resolve_connector(connector), check_env=False)
        record = configure(loaded, connection, values, store=ConnectionStore(open_control(), Vault()))
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"{record.connector}/{record.id}: set {', '.join(sorted(values))}")


@app.command()
def connections(
    connector: Annotated[str | None, typer.Argument(help="Only this connector")] = None,
) -> None:
    """Stored connections and their health (never their credentials)."""
    from .connections_report import print_connections

    try:
        print_connections(connector)
    except ManifoldError as exc:
        raise _fail(str(exc)) from None


@app.command()
def disconnect(
    connector: Annotated[str, typer.Argument(help="Connector name")],
    connection: Annotated[str, typer.Option(help="Connection id")],
) -> None:
    """Forget a connection's credentials; syncs refuse it until it is connected again."""
    from .control import ConnectionStore, Vault, open_control

    try:
        done = ConnectionStore(open_control(), Vault()).disconnect(connector, connection)
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    if not done:
        raise _fail(f"no connection {connector}/{connection}")
    typer.echo(f"disconnected {connector}/{connection}")


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL to run, e.g. 'SELECT * FROM invoices LIMIT 5'")],
    warehouse: Annotated[
        str | None, typer.Option(help="Warehouse URL (default MANIFOLD_WAREHOUSE_URL)")
    ] = None,
) -> None:
    """Run a read-only SQL query on the warehouse and print the result as a table."""
    from .warehouse_query import run_query

    try:
        run_query(sql, warehouse)
    except ManifoldError as exc:
        raise _fail(str(exc)) from None


@app.command()
def schema() -> None:
    """Print the connector JSON Schema (make schema writes it to schemas/)."""
    typer.echo(render_schema(), nl=False)


@app.command()
def reference() -> None:
    """Print the spec reference in Markdown (make docs writes docs/spec-reference.md)."""
    from .spec.reference import render_reference

    typer.echo(render_reference(), nl=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    public_url: Annotated[
        str | None, typer.Option(help="Where browsers and providers reach this service (MANIFOLD_PUBLIC_URL)")
    ] = None,
    sandbox: Annotated[bool, typer.Option(help="Serve the sandbox providers too and talk to them")] = False,
) -> None:
    """Run the web service: OAuth connects, webhooks, diagnostics, /admin, read API, sync requests."""
    from .serve import serve as run_service

    try:
        run_service(host=host, port=port, public_url=public_url, sandbox=sandbox)
    except ManifoldError as exc:
        raise _fail(str(exc)) from None


@app.command("action")
def action_command(
    connector: Annotated[str, typer.Argument(help="Connector name (connectors/NAME.yaml) or a spec path")],
    action: Annotated[str, typer.Argument(help="Action name, from the spec's `actions:`")],
    input_: Annotated[str, typer.Option("--input", help="The input: JSON, or @file.json")] = "{}",
    connection: Annotated[str, typer.Option(help="Connection id")] = "default",
    sandbox_url: Annotated[str | None, typer.Option(help="Run against a running sandbox")] = None,
    warehouse: Annotated[
        str | None, typer.Option(help="Warehouse URL the result lands in (default MANIFOLD_WAREHOUSE_URL)")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Your own request id (default: derived from the input)")
    ] = None,
) -> None:
    """Run an outbound action (create an invoice, post to Slack...) and print its result as JSON."""
    import orjson

    from .actions.perform import perform
    from .actions.run import ActionError
    from .destinations import open_destination

    try:
        given = runner.parse_json_arg(input_, "--input")
        loaded = runner.load_for_run(connector, sandbox=bool(sandbox_url))
        lands = bool(loaded.spec.actions.get(action) and loaded.spec.actions[action].result.apply)
        destination = open_destination(warehouse) if lands else None
        try:
            outcome = perform(
                loaded,
                action,
                given,
                connection_id=connection,
                sandbox_url=sandbox_url,
                apply_now=destination,
                idempotency_key=idempotency_key,
            )
        finally:
            if destination is not None:
                destination.close()
    except ActionError as exc:
        typer.echo(orjson.dumps(exc.public(), option=orjson.OPT_INDENT_2).decode(), err=True)
        raise _fail(str(exc)) from None
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    typer.echo(orjson.dumps(outcome.public(), option=orjson.OPT_INDENT_2).decode())


@app.command("rules")
def rules_command(
    warehouse: Annotated[
        str | None, typer.Option(help="Warehouse URL (default MANIFOLD_WAREHOUSE_URL)")
    ] = None,
    sandbox_url: Annotated[str | None, typer.Option(help="Send the actions to a running sandbox")] = None,
) -> None:
    """Evaluate the notification rules (rules/*.yaml) and send what fired (Dagster does this too)."""
    from .rule_runner import run_rules_once
    from .rules.loader import rules_dir

    try:
        report = run_rules_once(
            runner.connectors_dir(), rules_dir(), warehouse_url=warehouse, sandbox_url=sandbox_url
        )
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    _report(report.summary(), report.errors, failed=bool(report.failed))


@app.command("push")
def push_command(
    connector: Annotated[str, typer.Argument(help="Connector name (connectors/NAME.yaml) or a spec path")],
    push: Annotated[
        list[str] | None, typer.Argument(help="Pushes to run (default: all of the connector's)")
    ] = None,
    connection: Annotated[str, typer.Option(help="Connection id")] = "default",
    sandbox_url: Annotated[str | None, typer.Option(help="Run against a running sandbox")] = None,
    warehouse: Annotated[
        str | None, typer.Option(help="Warehouse URL (default MANIFOLD_WAREHOUSE_URL)")
    ] = None,
) -> None:
    """Send warehouse rows through a connector's actions (`pushes:`): new rows are created, changed
    rows updated, unchanged rows left alone (Dagster runs these as assets too)."""
    from .push_runner import run_pushes

    try:
        loaded = runner.load_for_run(connector, sandbox=bool(sandbox_url))
        reports = run_pushes(
            loaded, push or None, connection_id=connection, warehouse_url=warehouse, sandbox_url=sandbox_url
        )
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    errors = [e for r in reports for e in r.errors]
    _report("\n".join(r.summary() for r in reports), errors, failed=any(r.failed for r in reports))


@app.command("load")
def load_command(
    connector: Annotated[str, typer.Argument(help="Connector name (connectors/NAME.yaml) or a spec path")],
    stream: Annotated[str, typer.Argument(help="The stream whose mapping the records go through")],
    file: Annotated[Path, typer.Option("--file", help="A CSV or JSON export of the records")],
    connection: Annotated[str, typer.Option(help="Connection id the rows belong to")] = "default",
    warehouse: Annotated[
        str | None, typer.Option(help="Warehouse URL (default MANIFOLD_WAREHOUSE_URL)")
    ] = None,
) -> None:
    """Load exported records (CSV/JSON) through a stream's mapping, as a sync would (CRM exports)."""
    from .destinations import open_destination
    from .file_load import load_file

    try:
        from .spec.loader import load_connector

        loaded = load_connector(runner.resolve_connector(connector), check_env=False)  # no API calls
        destination = open_destination(warehouse)
        try:
            counts = load_file(loaded, stream, file, destination, connection_id=connection)
        finally:
            destination.close()
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"{connector}.{stream}: {counts.inserted} inserted, {counts.updated} updated from {file}")


@app.command("derive")
def derive_command(
    table: Annotated[
        list[str] | None, typer.Argument(help="Derived tables to rebuild (default: all)")
    ] = None,
    warehouse: Annotated[
        str | None, typer.Option(help="Warehouse URL (default MANIFOLD_WAREHOUSE_URL)")
    ] = None,
) -> None:
    """Rebuild the derived tables (crm_links from links/*.yaml, calendar_conflicts); Dagster does it
    after the syncs they read."""
    from .derived.run import derive
    from .destinations import open_destination

    try:
        destination = open_destination(warehouse)
        try:
            counts = derive(table or None, destination)
        finally:
            destination.close()
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    for name, rows in counts.items():
        typer.echo(f"{name}: {rows} rows")


@app.command("explain")
def explain_command(
    connector: Annotated[str, typer.Argument(help="Connector name (connectors/NAME.yaml) or a spec path")],
    stream: Annotated[str | None, typer.Option("--stream", "-s", help="One stream (and its parents)")] = None,
) -> None:
    """Print what a sync will do: requests in order, paging and incremental plan, target columns.
    Nothing is sent; env values and secrets are never printed."""
    import os

    from .explain import explain
    from .spec.loader import load_connector

    try:
        loaded = load_connector(runner.resolve_connector(connector), check_env=False)
        typer.echo(explain(loaded, environ=os.environ, stream=stream))
    except KeyError as exc:
        raise _fail(str(exc.args[0])) from None
    except ManifoldError as exc:
        raise _fail(str(exc)) from None


@app.command("new")
def new_command(
    name: Annotated[str, typer.Argument(help="Connector name, snake_case, e.g. acme_crm")],
    auth: Annotated[
        str, typer.Option(help="api_key | bearer | basic | client_credentials | oauth2")
    ] = "bearer",
    paging: Annotated[
        str,
        typer.Option(
            help="page_number | offset | last_record_cursor | page_token | next_url | link_header | body_cursor"
        ),
    ] = "page_number",
    model: Annotated[str, typer.Option(help="Unified model the example stream loads into")] = "customers",
    force: Annotated[bool, typer.Option(help="Overwrite existing files")] = False,
) -> None:
    """Write a working connector skeleton: connectors/NAME.yaml, a fixture, and a test that syncs it
    against the sandbox. Then: manifold validate; manifold sync NAME --sandbox."""
    from .scaffold import scaffold

    root = runner.connectors_dir().resolve().parent
    try:
        files = scaffold(name, auth=auth, paging=paging, root=root, model=model, force=force)
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    for path in files:
        typer.echo(f"wrote {path}")
    typer.echo(
        f"next: manifold validate {files[0]} && manifold sync {name} --sandbox && manifold explain {name}"
    )


@app.command("record")
def record_command(
    connector: Annotated[str, typer.Argument(help="Connector name (connectors/NAME.yaml) or a spec path")],
    stream: Annotated[
        str, typer.Option("--stream", "-s", help="The stream to record (its parents come too)")
    ],
    connection: Annotated[str, typer.Option(help="Connection whose credentials are used")] = "default",
    pages: Annotated[int, typer.Option(help="At most this many pages per stream")] = 3,
    sandbox_url: Annotated[str | None, typer.Option(help="Record from a running sandbox instead")] = None,
) -> None:
    """Sync a stream against the live provider and save its responses as sandbox fixtures, with
    emails, phone numbers and secrets redacted (sandbox.redact) and at most --pages pages."""
    from .record import record

    try:
        loaded = runner.load_for_run(connector, sandbox=bool(sandbox_url))
        recording = record(loaded, stream, connection_id=connection, pages=pages, sandbox_url=sandbox_url)
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    _report(recording.summary(), recording.errors, failed=bool(recording.errors))


@app.command("test")
def test_command(
    connector: Annotated[str, typer.Argument(help="Connector name (connectors/NAME.yaml) or a spec path")],
) -> None:
    """Try one connector: its spec, a sandbox sync of every stream, its conformance check."""
    from .spec.loader import load_connector
    from .trial import trial

    try:
        loaded = load_connector(runner.resolve_connector(connector), check_env=False)
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    lines, ok = trial(loaded)
    for line in lines:
        typer.echo(line)
    raise typer.Exit(0 if ok else 1)


@app.command("apply-events")
def apply_events(
    warehouse: Annotated[
        str | None, typer.Option(help="Warehouse URL (default MANIFOLD_WAREHOUSE_URL)")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many events per connector")] = 500,
) -> None:
    """Apply the webhook events waiting in the inbox to the models (Dagster does this on its own)."""
    from .event_drain import drain_inbox

    try:
        report = drain_inbox(runner.connectors_dir(), warehouse_url=warehouse, limit=limit)
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    _report(report.summary(), report.errors, failed=bool(report.failed))


@app.command("conformance")
def conformance_command(
    connectors: Annotated[
        list[str] | None, typer.Argument(help="Connector names or spec paths (default: every connector)")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also list accepted unknowns")] = False,
) -> None:
    """Check connectors against the providers' official API specs (api_specs:, in ../shared/specs)."""
    from .conformance import render, run_conformance

    try:
        reports = run_conformance(connectors, runner.connectors_dir())
    except ManifoldError as exc:
        raise _fail(str(exc)) from None
    for line in render(reports, verbose=verbose):
        typer.echo(line)
    raise typer.Exit(0 if all(r.ok for r in reports) else 1)


@app.command("sandbox")
def sandbox_serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 picks one)")] = 0,
) -> None:
    """Serve every connector's sandbox until interrupted; prints the URL first."""
    from .sandbox.__main__ import main as sandbox_main

    sandbox_main(["--connectors", str(runner.connectors_dir()), "--port", str(port)])


if __name__ == "__main__":
    app()
